"""Blocking raw-socket helpers for the end-to-end tests.

Strategy: the end-to-end tests put load on real server processes with bare
sockets (background jobs, sleeping workers), so ``gear top --once`` reads a
known state.  Every request that changes state is followed by an admin
``status`` on the same connection and its reply is read: the server handles
one connection in order, so the reply is a barrier, and nothing sleeps.
The servers come from tests/conftest.py (the ``gear_process`` fixture and
``running_c_gearmand``).
"""

from __future__ import annotations

import socket
import struct

from gear.protocol.constants import PacketType

HEADER = struct.Struct(">4sII")


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
