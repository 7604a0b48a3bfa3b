"""Fixtures for interop tests: C gearmand and gear serve as real processes.

Strategy: both servers run as subprocesses on free loopback ports.  C
gearmand comes from ``start_c_gearmand`` (``-t 1 -l stderr --verbose INFO``,
ready when its stderr says ``Listening on``, read with a deadline, never by
sleeping); gear serve is ready when its first stdout line names its port
(``start_gear_process``).  A thread then drains each server's stderr so a
chatty log can never fill the pipe and stall the server; the last lines are
kept for failure messages.

Most tests share one server of each kind for the whole session and keep out
of each other's way with private function names; ``fresh_servers`` starts a
pair for one test when it must see a whole-server listing (``workers``,
``show jobs``).  A missing peer skips the test with the reason, or fails it
under GEAR_REQUIRE_PEERS=1 (``require_peer``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import (
    ServerProcess,
    require_program,
    start_c_gearmand,
    start_gear_process,
)


@dataclass
class Peer:
    """A running server process: its kind, port and pid, and its recent log."""

    kind: str
    process: ServerProcess

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    @property
    def log(self) -> list[str]:
        """The last lines of its stderr."""
        return list(self.process.log)

    def stop(self) -> None:
        """Stop the process, let the log drainer see EOF, close the pipes."""
        self.process.stop()


def start_gearmand(*extra: str) -> Peer:
    """C gearmand on a free loopback port, one I/O thread, logging to stderr."""
    return Peer("gearmand", start_c_gearmand(*extra))


def start_gear(*extra: str) -> Peer:
    """``gear serve --port 0`` as a subprocess, its stderr drained."""
    process = start_gear_process(*extra)
    process.drain_stderr()
    return Peer("gear", process)


@pytest.fixture(scope="session")
def gearmand() -> Iterator[Peer]:
    """C gearmand 1.1.20, shared by the session."""
    peer = start_gearmand()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def gear_server() -> Iterator[Peer]:
    """gear serve, shared by the session."""
    peer = start_gear()
    yield peer
    peer.stop()


@pytest.fixture
def fresh_servers() -> Iterator[dict[str, Peer]]:
    """A C gearmand and a gear serve for this test alone."""
    peers: dict[str, Peer] = {}
    try:
        peers["gearmand"] = start_gearmand()
        peers["gear"] = start_gear()
        yield peers
    finally:
        for peer in peers.values():
            peer.stop()


@pytest.fixture(scope="module")
def module_gear() -> Iterator[Peer]:
    """gear serve for one test module (CLI and Perl tests see only their own state)."""
    peer = start_gear()
    yield peer
    peer.stop()


Spawn = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start background processes (workers); any still running are killed at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)


@pytest.fixture(scope="session")
def gearman_cli() -> str:
    """The libgearman ``gearman`` command-line tool."""
    return require_program("gearman", "gearman-tools")


@pytest.fixture(scope="session")
def gearadmin_cli() -> str:
    """The libgearman ``gearadmin`` command-line tool."""
    return require_program("gearadmin", "gearman-tools")


def pytest_report_header(config: pytest.Config) -> str:
    """Say how many differential cases there are (also shown by test_enough_cases)."""
    from tests.interop.registry import summary

    return summary()
