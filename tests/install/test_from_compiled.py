"""Editable installs starting compiled: fresh compiled, then no compiler (CC=false).

The second install cannot compile: it must remove the first one's compiled
files from the tree, say so once, and install plain Python, not fail.
"""

from __future__ import annotations

import pytest

from tests.install.conftest import FALLBACK, Sequence, Step, expected_compiled, started

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Step]:
    seq = Sequence(tmp_path_factory.mktemp("from-compiled"))
    seq.step("fresh compiled", "pip install -e .", seq.install_editable())
    command = "CC=false pip install -e ."
    seq.step("no compiler, over a compiled install", command, seq.install_editable(CC="false"))
    return seq.steps


def test_fresh_compiled(steps: dict[str, Step]) -> None:
    step = steps["fresh compiled"]
    assert step.install.code == 0, step.install.out[-3000:]
    assert FALLBACK not in step.install.out
    assert step.files == expected_compiled()
    assert "started (mypyc-compiled)" in started(step)
    assert step.served["serve"].line("STALE") == ""
    assert "started (mypyc-compiled)" in started(step, "fresh")


def test_no_compiler_falls_back_to_pure_python_as_a_whole(steps: dict[str, Step]) -> None:
    step = steps["no compiler, over a compiled install"]
    assert step.install.code == 0, step.install.out[-3000:]
    assert step.install.out.count(FALLBACK) == 1  # said once, not once per extension
    assert step.files == []  # the earlier build's files went too: nothing half compiled
    assert "started (pure Python)" in started(step)
    assert step.served["serve"].line("STALE") == ""
