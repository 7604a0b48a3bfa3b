"""Shared fixtures: a real server on a free port, and peers that may be absent.

Servers run as subprocesses too: ``start_gear_process`` (``gear serve``,
ready when its first stdout line names its port) and ``start_c_gearmand`` /
``running_c_gearmand`` (C gearmand, ready when its stderr says "Listening
on", read with a deadline and never by sleeping; another free port is tried
when the chosen one was taken).  ``ServerProcess.drain_stderr`` then reads
gearmand's stderr in a thread so it never blocks on a full pipe, keeping the
last lines in ``ServerProcess.log`` for failure messages.

``pg_cluster`` is one throw-away PostgreSQL server per test session
(tests/store/pgcluster.py), shared by the store tests and the SQL
functions' tests.

A test that needs a reference peer (C gearmand, the gearman CLI, Perl's
Gearman modules, PostgreSQL, tmux) asks ``require_peer``: the test is
skipped with the reason when the peer is missing, and fails instead when
GEAR_REQUIRE_PEERS=1 (as .ci/run sets), so CI never passes by skipping.
"""

from __future__ import annotations

import collections
import importlib.util
import itertools
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import pytest

from gear import build
from gear.server import Server, ServerConfig
from gear.testing import running_server

if TYPE_CHECKING:
    from tests.store.pgcluster import PgCluster

GEARMAND = "/usr/sbin/gearmand"
#: how long C gearmand may take to log that it listens, per port tried
GEARMAND_START_TIMEOUT = 10.0
#: free ports tried before giving up on C gearmand
GEARMAND_START_ATTEMPTS = 3
#: lines of a server's stderr kept for failure messages
LOG_TAIL = 50
#: the database of the store tests in ``pg_cluster``
TEST_DB = "gear_test"
_schemas = itertools.count(1)


def pytest_report_header() -> str:
    return f"gear server hot path: {build.describe()}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test stale compiled modules, or another build than GEAR_EXPECT_BUILD."""
    expected = os.environ.get("GEAR_EXPECT_BUILD")
    if expected and build.describe() != expected:
        found = build.describe()
        pytest.exit(f"GEAR_EXPECT_BUILD={expected!r} but this is {found!r}", returncode=4)
    stale = build.stale_modules()
    if stale:
        pytest.exit(build.stale_message(stale), returncode=4)


def require_peer(name: str, available: bool, hint: str) -> None:
    """Skip (or, under GEAR_REQUIRE_PEERS=1, fail) when a peer is missing."""
    if available:
        return
    reason = f"{name} is not installed ({hint})"
    if os.environ.get("GEAR_REQUIRE_PEERS") == "1":
        pytest.fail(f"GEAR_REQUIRE_PEERS=1 but {reason}")
    pytest.skip(reason)


def require_program(program: str, package: str) -> str:
    """The path of ``program``, or skip/fail naming the Debian package."""
    path = shutil.which(program) or (program if os.path.exists(program) else None)
    require_peer(program, path is not None, f"apt-get install {package}")
    assert path is not None
    return path


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A gear server in this test's event loop, on a free loopback port."""
    async with running_server(ServerConfig(job_handle_prefix="H:test")) as srv:
        yield srv


class ServerProcess:
    """A server running as a real subprocess, and the tail of its stderr once drained."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        #: its last stderr lines (kept once ``drain_stderr`` runs), for failure messages
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
        self._drainer: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def drain_stderr(self) -> None:
        """Keep reading its stderr into ``log`` so it never blocks on a full pipe."""
        if self.proc.stderr is not None:
            self._drainer = drain_in_background(self.proc.stderr, self.log)

    def stop(self) -> None:
        """Terminate (then kill) the server, let the drainer reach EOF, close its pipes."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._drainer is not None:
            self._drainer.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def start_gear_process(*args: str) -> ServerProcess:
    """``gear serve --port 0 ARGS``; the port is read from its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gear", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    match = re.search(r":(\d+) ", first)
    if not match:
        proc.kill()
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"gear serve did not start: {first!r} {err!r}")
    return ServerProcess(proc, int(match.group(1)))


@pytest.fixture
def gear_process() -> Iterator[ServerProcess]:
    """``gear serve`` as a subprocess on a free port."""
    srv = start_gear_process()
    yield srv
    srv.stop()


def drain_in_background(
    stream: IO[bytes], log: collections.deque[str] | None = None
) -> threading.Thread:
    """Read a child's pipe to EOF in a daemon thread so the child never blocks on it.

    Each line read is appended to ``log`` when one is given (a bounded deque
    keeps the tail).  Clean-up may close the pipe while the thread is still
    reading; that ends the thread quietly instead of raising in it.
    """

    def drain() -> None:
        try:
            for raw in iter(stream.readline, b""):
                if log is not None:
                    log.append(raw.decode(errors="replace").rstrip())
        except (ValueError, OSError):
            return

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return thread


def free_port() -> int:
    """A loopback port that was free a moment ago (bind 127.0.0.1:0, then release it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GearmandProcess(ServerProcess):
    """C gearmand as a subprocess; its pid file's temporary directory goes at ``stop``."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, tmp: str) -> None:
        super().__init__(proc, port)
        self.tmp = tmp

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _wait_listening(proc: subprocess.Popen[bytes], log: collections.deque[str]) -> bool:
    """Read gearmand's stderr into ``log`` until ``Listening on``; False if it exits or stalls.

    gearmand does not exit when its port is taken: it retries bind() for about
    20 seconds, so a stall past the deadline means "try another port".
    """
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + GEARMAND_START_TIMEOUT
    pending = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)  # unbuffered: nothing is left in proc.stderr's buffer
            if not chunk:
                return False
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                log.append(line.decode(errors="replace").rstrip())
            if any(b"Listening on" in line for line in lines):
                if pending:
                    log.append(pending.decode(errors="replace"))
                return True
    return False


def start_c_gearmand(*extra_args: str) -> GearmandProcess:
    """C gearmand on a free loopback port, one I/O thread, logging INFO to stderr.

    Skipped (failed under GEAR_REQUIRE_PEERS=1) when gearmand is not installed.
    C gearmand cannot report a port it picked (``-p 0`` logs ":0"), so a free
    port is chosen and gearmand's own "Listening on" line says it is ready;
    when that port was taken meanwhile another is tried.  Its stderr is then
    drained into ``log``; its pid file lives in a temporary directory.
    """
    path = require_program(GEARMAND, "gearman-job-server")
    for _attempt in range(GEARMAND_START_ATTEMPTS):
        port = free_port()
        tmp = tempfile.mkdtemp(prefix="gearmand-")
        proc = subprocess.Popen(
            [
                *(path, "-L", "127.0.0.1", "-p", str(port), "-t", "1", "-l", "stderr"),
                *("--verbose", "INFO", "-P", os.path.join(tmp, "gearmand.pid"), *extra_args),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = GearmandProcess(proc, port, tmp)
        if _wait_listening(proc, server.log):
            server.drain_stderr()
            return server
        proc.kill()  # stuck retrying bind(), it would ignore SIGTERM
        server.stop()
    raise RuntimeError(
        f"gearmand did not start on {GEARMAND_START_ATTEMPTS} free ports: " + " / ".join(server.log)
    )


@contextmanager
def running_c_gearmand(*extra_args: str) -> Iterator[GearmandProcess]:
    """``start_c_gearmand`` for a ``with`` block; stopped (pipes closed, pid dir gone) after."""
    server = start_c_gearmand(*extra_args)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Postgres:
    """The session's PostgreSQL server and an admin connection to it."""

    cluster: PgCluster
    admin: Any  # psycopg.Connection, autocommit, to the "postgres" database

    def sql(self, query: str) -> None:
        self.admin.execute(query)

    def new_schema(self) -> str:
        """A fresh schema in the store tests' database; its URL selects it."""
        name = f"s{next(_schemas)}"
        import psycopg

        with psycopg.connect(self.cluster.url(TEST_DB), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return self.cluster.url(TEST_DB, options=f"-csearch_path%3D{name}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Postgres]:
    """A PostgreSQL server on a free loopback port for this test session."""
    from tests.store.pgcluster import PgCluster, find_bindir  # it imports this module

    bindir = find_bindir()
    require_peer("PostgreSQL", bindir is not None, "apt-get install postgresql")
    require_peer(
        "psycopg",
        importlib.util.find_spec("psycopg") is not None,
        "pip install 'gearkit[postgres]'",
    )
    assert bindir is not None
    import psycopg

    cluster = PgCluster.start(bindir)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEST_DB}")
            yield Postgres(cluster, admin)
    finally:
        cluster.stop()
