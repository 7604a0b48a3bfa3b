"""Shared fixtures: a real server on a free port, and peers that may be absent.

A test that needs a reference peer (C gearmand, the gearman CLI, Perl's
Gearman modules, PostgreSQL, tmux) asks ``require_peer``: the test is
skipped with the reason when the peer is missing, and fails instead when
GEAR_REQUIRE_PEERS=1 (as .ci/run sets), so CI never passes by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import IO

import pytest

from gear import build
from gear.server import Server, ServerConfig
from gear.testing import running_server

GEARMAND = "/usr/sbin/gearmand"


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
        pytest.exit(
            f"compiled modules older than their source: {', '.join(stale)}; "
            "rebuild them (pip install -e .) or remove the .so files",
            returncode=4,
        )


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
    """A server running as a real subprocess."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate (then kill) the server, and close its pipes."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
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


def drain_in_background(stream: IO[bytes]) -> None:
    """Read a child's pipe to EOF in a daemon thread so the child never blocks on it.

    Clean-up may close the pipe while the thread is still reading; that ends
    the thread quietly instead of raising in it.
    """

    def drain() -> None:
        try:
            while stream.read(65536):
                pass
        except (ValueError, OSError):
            return

    threading.Thread(target=drain, daemon=True).start()
