"""Blocking raw-socket helpers and a C gearmand starter for the end-to-end tests.

Strategy: the end-to-end tests put load on real server processes with bare
sockets (background jobs, sleeping workers), so ``gear top --once`` reads a
known state.  Every request that changes state is followed by an admin
``status`` on the same connection and its reply is read: the server handles
one connection in order, so the reply is a barrier, and nothing sleeps.
gearmand is ready when its stderr says ``Listening on``; the rest of its log
is drained by a thread so it never blocks on a full pipe.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from gear.protocol.constants import PacketType

from ..conftest import GEARMAND, ServerProcess, require_peer

HEADER = struct.Struct(">4sII")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Wire:
    """One blocking connection speaking packets and admin lines."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")

    def send(self, ptype: PacketType, *args: bytes) -> None:
        body = b"\0".join(args)
        self.sock.sendall(HEADER.pack(b"\0REQ", ptype, len(body)) + body)

    def recv(self) -> tuple[int, list[bytes]]:
        _, ptype, size = HEADER.unpack(self.file.read(HEADER.size))
        return ptype, self.file.read(size).split(b"\0")

    def admin(self, line: str) -> str:
        """Send an admin line; its block reply (the barrier)."""
        self.sock.sendall(line.encode() + b"\n")
        lines = []
        while (got := self.file.readline()) != b".\n":
            assert got, "connection closed"
            lines.append(got.decode())
        return "".join(lines)

    def submit_background(self, function: str, unique: str, data: bytes = b"x") -> str:
        self.send(PacketType.SUBMIT_JOB_BG, function.encode(), unique.encode(), data)
        ptype, args = self.recv()
        assert ptype == PacketType.JOB_CREATED
        return args[0].decode()

    def sleep_for(self, function: str) -> None:
        """Register ``function`` and go to sleep (no job of it may be queued)."""
        self.send(PacketType.SET_CLIENT_ID, b"sleeper")
        self.send(PacketType.CAN_DO, function.encode())
        self.send(PacketType.PRE_SLEEP)
        self.admin("status")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        return  # the pipe was closed at clean-up


@contextmanager
def gearmand() -> Iterator[ServerProcess]:
    """C gearmand on a free loopback port (skipped when not installed)."""
    require_peer("gearmand", os.path.exists(GEARMAND), "apt-get install gearman-job-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(GEARMAND, "-L", "127.0.0.1", "-p", str(port), "-t", "1", "-l", "stderr"),
            *("--verbose", "INFO", "-P", f"/tmp/gear-top-test-{port}.pid"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = ServerProcess(proc, port)
    try:
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        seen = b""
        deadline = time.monotonic() + 10
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"Listening on" not in seen:
                assert time.monotonic() < deadline, f"gearmand did not start: {seen!r}"
                if sel.select(deadline - time.monotonic()):
                    chunk = os.read(fd, 65536)
                    assert chunk, f"gearmand exited: {seen!r}"
                    seen += chunk
        threading.Thread(target=_drain, args=(fd,), daemon=True).start()
        yield server
    finally:
        server.stop()
