"""Fixtures for interop tests: C gearmand and gear serve as real processes.

Strategy: both servers run as subprocesses on free loopback ports.  C
gearmand is started with ``-l stderr --verbose INFO`` and is ready when its
stderr says ``Listening on`` (read with a deadline, never by sleeping); gear
serve is ready when its first stdout line names its port
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

import collections
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

import pytest

from tests.conftest import (
    GEARMAND,
    ServerProcess,
    require_peer,
    require_program,
    start_gear_process,
)

#: how long gearmand may take to say it is listening
START_TIMEOUT = 10.0


@dataclass
class Peer:
    """A running server process: its kind, port and pid, and its recent log."""

    kind: str
    process: ServerProcess
    log: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=50))
    cleanup: Callable[[], None] | None = None
    drainer: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def stop(self) -> None:
        """Stop the process, let the log drainer see EOF, close the pipes."""
        self.process.stop()
        if self.drainer is not None:
            self.drainer.join(5)
        proc = self.process.proc
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if self.cleanup is not None:
            self.cleanup()


def free_port() -> int:
    """A port that was free a moment ago (bind 127.0.0.1:0, then release it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _drain(stream: IO[bytes], log: collections.deque[str]) -> None:
    try:
        for raw in iter(stream.readline, b""):
            log.append(raw.decode(errors="replace").rstrip())
    except (ValueError, OSError):
        return  # the stream was closed under us at clean-up


def _start_draining(stream: IO[bytes] | None, log: collections.deque[str]) -> threading.Thread:
    thread = threading.Thread(target=_drain, args=(stream, log), daemon=True)
    if stream is not None:
        thread.start()
    return thread


def _wait_listening(proc: subprocess.Popen[bytes], log: collections.deque[str]) -> bool:
    """Read gearmand's stderr until ``Listening on``; False if it exits or stalls."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + START_TIMEOUT
    pending = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(deadline - time.monotonic()):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                log.append(line.decode(errors="replace"))
                if b"Listening on" in line:
                    if pending:
                        log.append(pending.decode(errors="replace"))
                    return True
    return False


def start_gearmand(*extra: str) -> Peer:
    """C gearmand on a free loopback port, one I/O thread, logging to stderr."""
    require_peer("gearmand", os.path.exists(GEARMAND), "apt-get install gearman-job-server")
    tmp = tempfile.mkdtemp(prefix="gearmand-")
    for _attempt in range(3):
        port = free_port()
        proc = subprocess.Popen(
            [
                *(GEARMAND, "-L", "127.0.0.1", "-p", str(port), "-t", "1", "-l", "stderr"),
                *("--verbose", "INFO", "-P", os.path.join(tmp, "gearmand.pid"), *extra),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        log: collections.deque[str] = collections.deque(maxlen=50)
        peer = Peer("gearmand", ServerProcess(proc, port), log)
        if _wait_listening(proc, log):
            peer.drainer = _start_draining(proc.stderr, log)
            peer.cleanup = lambda: shutil.rmtree(tmp, ignore_errors=True)
            return peer
        peer.stop()  # e.g. the port was taken meanwhile: try another
    shutil.rmtree(tmp, ignore_errors=True)
    raise RuntimeError("gearmand did not start: " + " / ".join(log))


def start_gear(*extra: str) -> Peer:
    """``gear serve --port 0`` as a subprocess."""
    process = start_gear_process(*extra)
    peer = Peer("gear", process)
    peer.drainer = _start_draining(process.proc.stderr, peer.log)
    return peer


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
