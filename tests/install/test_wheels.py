"""Wheels: ``python -m build`` makes one that installs and runs without a compiler.

``GEAR_PURE=1 python -m build`` gives a pure wheel (py3-none-any), plain
``python -m build`` a platform wheel (cp311-…-linux_x86_64) with the
compiled modules; each is installed with ``CC=false`` into a venv and
serves.  A wheel's files get new mtimes on install in no useful order, so
the installed compiled build must not look stale (gear.build compares
hashes).  Last, a compiler that fails on one module after building the
others: the wheel must come out pure, with none of their files in it.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from tests.install.conftest import (
    FALLBACK,
    PARTIAL_CC,
    Done,
    Step,
    Venv,
    clean_env,
    compiled_files,
    copy_tree,
    expected_compiled,
    mypyc_pin,
    record,
    run,
)

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]


def only_wheel(directory: Path) -> Path:
    wheels = sorted(directory.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def compiled_in(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return sorted(n for n in zf.namelist() if n.endswith(".so"))


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Step]:
    base = tmp_path_factory.mktemp("wheels")
    tree = copy_tree(base / "tree")
    venv = Venv(base / "venv")
    done: dict[str, Step] = {}

    def step(path: str, command: str, out: Path, **env: str) -> None:
        args = [sys.executable, "-m", "build", "--outdir", str(out), str(tree)]
        now = Step(path, command, run(args, cwd=base, env=clean_env(**env)))
        if now.install.code == 0:
            now.wheel = only_wheel(out)
            now.files = compiled_in(now.wheel)
            install = ("install", "--no-deps", "--force-reinstall", str(now.wheel))
            now.ran["install"] = venv.pip(*install, CC="false")
            now.served["serve"] = venv.serve(cwd=base)
            now.served["fresh"] = venv.serve("--require-fresh-build", cwd=base)
        done[path] = record(now)

    step("pure wheel", "GEAR_PURE=1 python -m build", base / "pure", GEAR_PURE="1")
    step("platform wheel", "python -m build", base / "platform")

    wrapper = base / "partial-cc"
    wrapper.write_text(PARTIAL_CC)
    wrapper.chmod(0o755)
    args = ("wheel", "-v", "--no-deps", "-w", str(base / "partial"), str(tree))
    now = Step(
        "compiler fails on one module",
        "CC=<fails on state.c> pip wheel .",
        venv.pip(*args, CC=str(wrapper)),
    )
    if now.install.code == 0:
        now.wheel = only_wheel(base / "partial")
        now.files = compiled_in(now.wheel)
    now.ran["tree"] = Done(0, "\n".join(compiled_files(tree)))
    done[now.path] = record(now)
    return done


def test_pure_wheel_installs_and_serves_without_a_compiler(steps: dict[str, Step]) -> None:
    step = steps["pure wheel"]
    assert step.install.code == 0, step.install.out[-3000:]
    assert "- mypy" not in step.install.out  # not among the build env's packages
    assert step.wheel is not None and step.wheel.name.endswith("-py3-none-any.whl")
    assert step.files == []
    assert step.ran["install"].code == 0, step.ran["install"].out
    served = step.served["serve"]
    assert "listening on" in served.first_line, served.log
    assert "started (pure Python)" in served.line("started (")


def test_platform_wheel_carries_the_compiled_build_and_is_fresh_once_installed(
    steps: dict[str, Step],
) -> None:
    step = steps["platform wheel"]
    assert step.install.code == 0, step.install.out[-3000:]
    assert f"- {mypyc_pin()}" in step.install.out  # among the build env's packages
    assert step.wheel is not None and "-cp311-cp311-linux_" in step.wheel.name
    assert step.files == expected_compiled()
    assert step.ran["install"].code == 0, step.ran["install"].out
    served = step.served["serve"]
    assert "listening on" in served.first_line, served.log
    assert "started (mypyc-compiled)" in served.line("started (")
    assert served.line("STALE") == ""  # installed mtimes do not make it stale
    assert "listening on" in step.served["fresh"].first_line


def test_a_partial_compile_gives_a_pure_wheel_with_no_compiled_file(
    steps: dict[str, Step],
) -> None:
    step = steps["compiler fails on one module"]
    assert step.install.code == 0, step.install.out[-3000:]
    assert "not building state.c (test)" in step.install.out  # the wrapper did fail
    assert "building 'gear.server.server' extension" in step.install.out  # after others built
    assert step.install.out.count(FALLBACK) == 1
    assert step.wheel is not None and step.wheel.name.endswith("-py3-none-any.whl")
    assert step.files == []
    assert step.ran["tree"].out == ""  # nor in the tree's build directory
