"""Peers for CLI tests: gear serve and C gearmand as subprocesses, and a `gear` runner.

C gearmand cannot report a port it picked (``-p 0`` logs ":0"), so a free
port is chosen and gearmand's own "Listening on" line on stderr says when it
is ready; stderr is then drained in a thread so gearmand never blocks on it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.client.conftest import stop_process
from tests.conftest import GEARMAND, drain_in_background, require_program, start_gear_process

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gearmand(port: int | None = None) -> Peer:
    """C gearmand on loopback, returned once it logs that it listens."""
    path = require_program(GEARMAND, "gearman-job-server")
    for _ in range(5):
        chosen = port or free_port()
        proc = subprocess.Popen(
            [path, "-L", "127.0.0.1", "-p", str(chosen), "-l", "stderr", "--verbose", "INFO"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            if b"Listening on" in line:
                drain_in_background(proc.stderr)
                return Peer("gearmand", proc, chosen)
        proc.wait(5)
        proc.stderr.close()
    raise RuntimeError("gearmand did not start")


def stop_peer(peer: Peer) -> None:
    if peer.proc.poll() is None:
        peer.proc.terminate()
        try:
            peer.proc.wait(5)
        except subprocess.TimeoutExpired:
            peer.proc.kill()
            peer.proc.wait(5)
    for pipe in (peer.proc.stdout, peer.proc.stderr):
        if pipe is not None:
            pipe.close()


@pytest.fixture(params=["gear", "gearmand"])
def job_server(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Each pipeline test runs against gear serve and against C gearmand."""
    if request.param == "gearmand":
        peer = start_gearmand()
        yield peer
        stop_peer(peer)
    else:
        srv = start_gear_process()
        yield Peer("gear", srv.proc, srv.port)
        stop_process(srv)


@pytest.fixture
def gear_server() -> Iterator[Peer]:
    """gear serve only."""
    srv = start_gear_process()
    yield Peer("gear", srv.proc, srv.port)
    stop_process(srv)


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
