"""Peers for CLI tests: gear serve and C gearmand as subprocesses, and a `gear` runner.

C gearmand comes from tests/conftest.py's ``running_c_gearmand``: ready when
its own "Listening on" line on stderr says so, stderr then drained in a
thread so gearmand never blocks on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import running_c_gearmand, start_gear_process

GEAR = [sys.executable, "-m", "gear"]


@dataclass
class Peer:
    """A job server subprocess."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(params=["gear", "gearmand"])
def job_server(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Each pipeline test runs against gear serve and against C gearmand."""
    if request.param == "gearmand":
        with running_c_gearmand() as gearmand:
            yield Peer("gearmand", gearmand.proc, gearmand.port)
    else:
        srv = start_gear_process()
        yield Peer("gear", srv.proc, srv.port)
        srv.stop()


@pytest.fixture
def gear_server() -> Iterator[Peer]:
    """gear serve only."""
    srv = start_gear_process()
    yield Peer("gear", srv.proc, srv.port)
    srv.stop()


def gear_env(server: Peer) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GEARMAN_SERVER", None)
    env["GEAR_SERVERS"] = server.address
    return env


def run_gear(
    server: Peer, *args: str, stdin: bytes = b"", timeout: float = 20
) -> subprocess.CompletedProcess[bytes]:
    """Run ``gear ARGS`` against ``server`` to completion."""
    return subprocess.run(
        [*GEAR, *args], input=stdin, capture_output=True, env=gear_env(server), timeout=timeout
    )


class Processes:
    """Background processes a test starts; all stopped at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: list[str], env: dict[str, str] | None = None, **kw: object
    ) -> subprocess.Popen[bytes]:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc  # type: ignore[no-any-return]

    def gear(self, server: Peer, *args: str, **kw: object) -> subprocess.Popen[bytes]:
        return self.start([*GEAR, *args], env=gear_env(server), **kw)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    processes = Processes()
    yield processes
    processes.close()
