"""C gearmand on a free loopback port, ready when its log says so.

Readiness comes from gearmand's own stderr (``-l stderr --verbose INFO``
prints "Listening on 127.0.0.1:PORT"), never from a sleep; a thread then
keeps draining stderr so a chatty log cannot block the server.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import (
    GEARMAND,
    ServerProcess,
    drain_in_background,
    require_program,
    start_gear_process,
)


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(server: ServerProcess) -> None:
    """Stop a server process and close its pipes (``ServerProcess.stop`` leaves them open)."""
    server.stop()
    for pipe in (server.proc.stdout, server.proc.stderr):
        if pipe is not None:
            pipe.close()


@contextmanager
def gear_serve(*args: str) -> Iterator[ServerProcess]:
    """``gear serve`` as a subprocess on a free port, pipes closed afterwards."""
    server = start_gear_process(*args)
    try:
        yield server
    finally:
        stop(server)


def _start(port: int) -> subprocess.Popen[bytes] | None:
    proc = subprocess.Popen(
        [GEARMAND, "-L", "127.0.0.1", "-p", str(port), "-l", "stderr", "--verbose", "INFO"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for raw in proc.stderr:
        if f"Listening on 127.0.0.1:{port}".encode() in raw:
            drain_in_background(proc.stderr)
            return proc
    proc.wait(5)
    proc.stderr.close()
    return None


@contextmanager
def gearmand() -> Iterator[ServerProcess]:
    """C gearmand 1.1.x on 127.0.0.1 (skipped, or failed under GEAR_REQUIRE_PEERS=1)."""
    require_program(GEARMAND, "gearman-job-server")
    for _ in range(3):
        port = free_port()
        proc = _start(port)
        if proc is not None:
            server = ServerProcess(proc, port)
            try:
                yield server
            finally:
                stop(server)
            return
    raise RuntimeError("gearmand did not start on three free ports")
