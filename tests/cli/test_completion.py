"""Shell completion: click's scripts for bash, zsh and fish, and what they complete (issue #15).

Runs the installed ``gear`` console script, as a shell would (click names
the variable after the program: ``_GEAR_COMPLETE``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def gear_script() -> str:
    beside = Path(sys.executable).parent / "gear"
    found = str(beside) if beside.exists() else shutil.which("gear")
    assert found, "the gear console script is not installed (pip install -e .)"
    return found


def complete(mode: str, **env: str) -> str:
    done = subprocess.run(
        [gear_script()],
        env={**os.environ, "_GEAR_COMPLETE": mode, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _gear_completion gear"),
        ("zsh", "#compdef gear"),
        ("fish", "complete --no-files --command gear"),
    ],
)
def test_completion_script_for_each_shell(shell: str, marker: str) -> None:
    script = complete(f"{shell}_source")
    assert marker in script and "_GEAR_COMPLETE" in script


def test_bash_completes_commands_options_and_choices() -> None:
    def words(line: str, cword: int) -> list[str]:
        out = complete("bash_complete", COMP_WORDS=line, COMP_CWORD=str(cword))
        return [item.split(",", 1)[1] for item in out.splitlines()]

    assert words("gear ser", 1) == ["serve"]
    assert words("gear serve --log-f", 2) == ["--log-file", "--log-format"]
    assert words("gear serve --log-format ", 3) == ["human", "json"]
