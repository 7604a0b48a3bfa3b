"""gear.build: what it reports matches where the hot modules were imported from."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from gear import build

ROOT = Path(__file__).resolve().parent.parent


def test_every_hot_module_has_a_source_file_for_setup_py() -> None:
    for module in build.HOT_MODULES:
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module


def test_compiled_modules_are_those_loaded_from_an_extension() -> None:
    for module in build.HOT_MODULES:
        origin = importlib.import_module(module).__spec__.origin  # type: ignore[union-attr]
        assert origin is not None
        assert (module in build.compiled_modules()) == (not origin.endswith(".py"))


def test_describe_names_the_build() -> None:
    done = len(build.compiled_modules())
    text = build.describe()
    if done == 0:
        assert text == "pure Python"
    elif done == len(build.HOT_MODULES):
        assert text == "mypyc-compiled"
    else:
        assert text == f"partly compiled ({done} of {len(build.HOT_MODULES)})"


def test_a_source_newer_than_its_extension_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files in tmp_path stand in for an installed package: no repo file is touched."""
    binaries = {}
    for name, source_age in (("fresh", -10), ("edited", +10)):
        binary = tmp_path / f"{name}.cpython-311-x86_64-linux-gnu.so"
        binary.write_bytes(b"")
        source = tmp_path / f"{name}.py"
        source.write_text("")
        mtime = binary.stat().st_mtime + source_age
        os.utime(source, (mtime, mtime))
        binaries[f"pkg.{name}"] = str(binary)
    monkeypatch.setattr(build, "HOT_MODULES", (*binaries, "pkg.plain"))
    monkeypatch.setattr(build, "_origin", lambda m: binaries.get(m, str(tmp_path / "plain.py")))
    assert build.compiled_modules() == ["pkg.fresh", "pkg.edited"]
    assert build.stale_modules() == ["pkg.edited"]
    assert build.describe() == "partly compiled (2 of 3)"
