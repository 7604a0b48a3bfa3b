"""Editable installs starting pure: fresh pure → compiled → edited → pure again.

One tree and one venv; ``steps`` runs the sequence once (one compile) and
each test checks one step (see conftest.py).
"""

from __future__ import annotations

import pytest

from tests.install.conftest import (
    Sequence,
    Step,
    expected_compiled,
    mypyc_pin,
    run,
    started,
)

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]

#: the hot module edited without a rebuild
EDITED = "gear/protocol/framing.py"


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Step]:
    seq = Sequence(tmp_path_factory.mktemp("from-pure"))
    seq.step("fresh pure", "GEAR_PURE=1 pip install -e .", seq.install_editable(GEAR_PURE="1"))
    compiled = seq.step("pure → compiled", "pip install -e .", seq.install_editable())
    source = seq.tree / EDITED
    source.write_text(source.read_text() + "# edited without a rebuild\n")
    seq.step("edit without a rebuild", f"echo '# edited' >> {EDITED}", compiled.install)
    command = "GEAR_PURE=1 pip install -e ."
    last = seq.step("compiled → pure", command, seq.install_editable(GEAR_PURE="1"))
    last.served["in the tree"] = seq.venv.serve(cwd=seq.tree, module=True)  # python -m gear
    last.ran["help"] = run([str(seq.venv.bin / "gear"), "serve", "--help"], cwd=seq.base)
    return seq.steps


def test_fresh_pure_needs_no_mypy_and_serves_pure_python(steps: dict[str, Step]) -> None:
    step = steps["fresh pure"]
    assert step.install.code == 0, step.install.out
    assert "Collecting mypy" not in step.install.out  # the build env had no mypy
    assert step.files == []
    assert "started (pure Python)" in started(step)
    assert step.served["serve"].line("STALE") == ""
    assert "started (pure Python)" in started(step, "fresh")


def test_pure_to_compiled_compiles_all_with_the_pinned_mypy(steps: dict[str, Step]) -> None:
    step = steps["pure → compiled"]
    assert step.install.code == 0, step.install.out[-3000:]
    assert f"Collecting {mypyc_pin()}" in step.install.out
    assert step.files == expected_compiled()
    assert "started (mypyc-compiled)" in started(step)
    assert step.served["serve"].line("STALE") == ""
    assert "started (mypyc-compiled)" in started(step, "fresh")


def test_an_edit_without_a_rebuild_warns_and_can_refuse(steps: dict[str, Step]) -> None:
    step = steps["edit without a rebuild"]
    assert "started (mypyc-compiled)" in started(step)
    warning = step.served["serve"].line("STALE")
    assert "WARNING" in warning and "gear.protocol.framing" in warning
    refused = step.served["fresh"]
    assert refused.code == 2 and refused.first_line == ""
    assert refused.log.count("\n") == 1  # one line
    assert refused.log.startswith("Error: compiled modules do not match their source: ")
    assert "gear.protocol.framing" in refused.log


def test_compiled_to_pure_removes_the_compiled_files(steps: dict[str, Step]) -> None:
    step = steps["compiled → pure"]
    assert step.install.code == 0, step.install.out
    assert "Collecting mypy" not in step.install.out
    assert step.install.out.count("gear: removed ") == len(expected_compiled()) + 1  # + record
    assert step.files == []
    assert step.ran["help"].code == 0, step.ran["help"].out  # outside the tree
    assert "started (pure Python)" in started(step)
    # python -m gear from the tree's root (the tree first on sys.path): no old compiled code
    assert "started (pure Python)" in started(step, "in the tree")
