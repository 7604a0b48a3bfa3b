"""The blocking API is typed like the asyncio one: strict mypy checks its callers.

``Client``'s methods take ``AsyncClient``'s parameters through a ParamSpec
and the constructors spell theirs out, so a misspelt keyword or a wrong
type is a type error, not a ``**kwargs: Any`` that passes.  mypy runs on a
small caller; the constructors' parameters are compared with the asyncio
classes' so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import gear

ROOT = Path(__file__).resolve().parents[2]

CALLER = """\
import gear


def use(client: gear.Client) -> None:
    reveal_type(client.submit("f"))
    reveal_type(client.submit_job("f"))
    client.submit_background("f", b"", priorty=gear.Priority.HIGH)
    client.echo(b"x", server=3.5)
    gear.Client("localhost", timout=3)
    gear.Worker("localhost", concurency=2)
    with gear.Client() as c:
        reveal_type(c)
"""


def test_strict_mypy_checks_calls_into_the_blocking_api(tmp_path: Path) -> None:
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(caller)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    lines = [line.split(":", 1)[1] for line in done.stdout.splitlines() if ": " in line]
    bytes_type = {'5: note: Revealed type is "bytes"', '5: note: Revealed type is "builtins.bytes"'}
    assert bytes_type & set(lines), done.stdout  # mypy 2 drops "builtins."
    assert '6: note: Revealed type is "gear.client.sync.BlockingJob"' in lines
    assert any(x.startswith('7: error: Unexpected keyword argument "priorty"') for x in lines)
    assert any(x.startswith('8: error: Argument "server" has incompatible type') for x in lines)
    assert any(x.startswith('9: error: Unexpected keyword argument "timout"') for x in lines)
    assert any(x.startswith('10: error: Unexpected keyword argument "concurency"') for x in lines)
    assert '12: note: Revealed type is "gear.client.sync.Client"' in lines


@pytest.mark.parametrize(
    ("blocking", "asyncio_twin"),
    [(gear.Client, gear.AsyncClient), (gear.Worker, gear.AsyncWorker)],
)
def test_constructors_take_the_asyncio_classes_parameters(
    blocking: type, asyncio_twin: type
) -> None:
    assert inspect.signature(blocking).parameters == inspect.signature(asyncio_twin).parameters


@pytest.mark.parametrize(
    "name", ["submit", "submit_background", "submit_job", "get_status", "get_status_unique", "echo"]
)
def test_methods_take_the_asyncio_methods_parameters(name: str) -> None:
    blocking = inspect.signature(getattr(gear.Client, name)).parameters
    asynchronous = inspect.signature(getattr(gear.AsyncClient, name)).parameters
    assert list(blocking)[1:] == list(asynchronous)[1:]  # all but self
    assert getattr(gear.Client, name).__doc__ == getattr(gear.AsyncClient, name).__doc__
