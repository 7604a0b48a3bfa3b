"""gear.build: what it reports matches the files beside the sources, and what is imported.

The unit tests lay out a fake installed package in tmp_path (empty files
named like extensions): gear.build only looks at names and hashes, so no
repo file is touched and nothing is compiled.  tests/install/ builds and
installs for real.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from gear import build

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = EXTENSION_SUFFIXES[0]


def test_every_hot_module_has_a_source_file_for_setup_py() -> None:
    for module in build.HOT_MODULES:
        assert build.source_of(module, ROOT).is_file(), module


def test_compiled_modules_are_those_imported_from_an_extension() -> None:
    compiled = build.compiled_modules()
    for module in build.HOT_MODULES:
        origin = importlib.import_module(module).__spec__.origin  # type: ignore[union-attr]
        assert origin is not None
        assert (module in compiled) == (not origin.endswith(".py")), module


def test_describe_names_the_running_build() -> None:
    done = len(build.compiled_modules())
    assert build.describe() == ("pure Python" if done == 0 else "mypyc-compiled")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A package layout with every hot module's source and nothing compiled."""
    for module in build.HOT_MODULES:
        source = build.source_of(module, tmp_path)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"# {module}\n")
    return tmp_path


def compile_fake(root: Path, modules: tuple[str, ...] = build.HOT_MODULES) -> None:
    """What a compiled build leaves: a shim per module, the library, the record."""
    for module in modules:
        stem = build.source_of(module, root).with_suffix("")
        stem.with_name(stem.name + SUFFIX).write_bytes(b"")
    (root / (build.SHARED_LIBRARY + SUFFIX)).write_bytes(b"")
    build.write_record(root, root)


def test_a_plain_tree_is_pure_python(tree: Path) -> None:
    assert build.compiled_modules(tree) == []
    assert build.stale_modules(tree) == []
    assert build.describe(tree) == "pure Python"


def test_a_fresh_compiled_tree(tree: Path) -> None:
    compile_fake(tree)
    assert build.compiled_modules(tree) == list(build.HOT_MODULES)
    assert build.stale_modules(tree) == []
    assert build.describe(tree) == "mypyc-compiled"


def test_an_edited_source_makes_its_module_stale(tree: Path) -> None:
    compile_fake(tree)
    source = build.source_of("gear.server.state", tree)
    source.write_text(source.read_text() + "# edited\n")
    assert build.stale_modules(tree) == ["gear.server.state"]
    assert "gear.server.state" in build.stale_message(build.stale_modules(tree))
    assert "\n" not in build.stale_message(["a", "b"])


def test_touching_a_source_without_changing_it_is_not_stale(tree: Path) -> None:
    compile_fake(tree)
    source = build.source_of("gear.server.state", tree)
    source.write_text(source.read_text())  # a new mtime, the same bytes
    assert build.stale_modules(tree) == []


def test_compiled_modules_without_a_record_are_stale(tree: Path) -> None:
    compile_fake(tree)
    (tree / "gear" / build.RECORD).unlink()
    assert build.stale_modules(tree) == list(build.HOT_MODULES)


def test_shims_without_their_library_are_broken(tree: Path) -> None:
    compile_fake(tree)
    (tree / (build.SHARED_LIBRARY + SUFFIX)).unlink()
    n = len(build.HOT_MODULES)
    expected = f"broken: {n} compiled modules without their library {build.SHARED_LIBRARY}"
    assert build.describe(tree) == expected


def test_partly_compiled(tree: Path) -> None:
    compile_fake(tree, build.HOT_MODULES[:2])
    assert build.describe(tree) == f"partly compiled (2 of {len(build.HOT_MODULES)})"


def test_the_record_reads_like_sha256sum(tree: Path) -> None:
    compile_fake(tree)
    record = tree / "gear" / build.RECORD
    first = record.read_text().splitlines()[0]
    digest, name = first.split("  ")
    assert len(digest) == 64 and name == "gear/protocol/constants.py"


def test_remove_built_leaves_only_sources(tree: Path) -> None:
    compile_fake(tree)
    other = tree / "gear" / "server" / ("server" + ".cpython-312-x86_64-linux-gnu.so")
    other.write_bytes(b"")  # another interpreter's build: stale here too
    legacy = tree / ("202e722ef3d8bf79ca1b__mypyc" + SUFFIX)
    legacy.write_bytes(b"")  # the library's name before it had a fixed one
    unrelated = tree / "gear" / "server" / ("memory" + SUFFIX)
    unrelated.write_bytes(b"")  # not a hot module: not ours to remove
    removed = build.remove_built(tree)
    assert other in removed and legacy in removed
    assert len(removed) == len(build.HOT_MODULES) + 4  # shims, other, library, legacy, record
    assert build.describe(tree) == "pure Python"
    assert unrelated.exists()
    assert all(build.source_of(m, tree).exists() for m in build.HOT_MODULES)


def test_describe_imports_nothing() -> None:
    # `gear serve` logs describe(): it must not load gear.bench (or anything) to say it
    code = (
        "import sys, gear; before = set(sys.modules); from gear import build; "
        "build.describe(); build.stale_modules(); "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('gear')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "['gear.build']"
