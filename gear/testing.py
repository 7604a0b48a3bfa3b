"""Test helpers that ship with gear: a real server on a free loopback port.

Strategy: ``running_server`` starts a ``gear.server.Server`` inside the
caller's event loop, bound to 127.0.0.1 port 0, and yields it once it is
listening (``server.port``); nothing sleeps to wait for readiness.
``RawConnection`` is a minimal asyncio client that speaks packets and admin
lines, for tests that must put exact bytes on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from gear.protocol.constants import RES, PacketType
from gear.protocol.framing import NEED_DATA, Decoder
from gear.protocol.packets import Packet, request
from gear.server import Server, ServerConfig


@asynccontextmanager
async def running_server(config: ServerConfig | None = None) -> AsyncIterator[Server]:
    """A server on 127.0.0.1 with a free port, stopped on exit."""
    base = config or ServerConfig()
    server = Server(replace(base, listen=["127.0.0.1"], port=0))
    await server.start()
    task = asyncio.create_task(server.serve_forever())
    try:
        yield server
    finally:
        server.request_shutdown(False)
        await asyncio.wait_for(task, 5)


class RawConnection:
    """A bare connection to a server: send packets or admin lines, read replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = Decoder(expect=RES, allow_text=False)

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> RawConnection:
        """Connect to ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, ptype: PacketType, *args: bytes) -> None:
        """Send one request packet."""
        self.writer.write(request(ptype, *args))
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        """Send raw bytes."""
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = 5.0) -> Packet:
        """The next packet from the server."""
        while True:
            event = self.decoder.next_event()
            if event is not NEED_DATA:
                assert isinstance(event, Packet)
                return event
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("server closed the connection")
            self.decoder.feed(data)

    async def expect(self, ptype: PacketType, timeout: float = 5.0) -> Packet:
        """The next packet, which must be of type ``ptype``."""
        packet = await self.recv(timeout)
        assert packet.type == ptype, f"expected {ptype.name}, got {packet.name} {packet.args!r}"
        return packet

    async def admin(self, line: str, timeout: float = 5.0) -> bytes:
        """Send an admin line and return the whole reply (one line, or a block)."""
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        first = await asyncio.wait_for(self.reader.readline(), timeout)
        if first.startswith((b"OK", b"ERR")) or first == b".\n":
            return first
        reply = first
        while not reply.endswith(b"\n.\n"):
            reply += await asyncio.wait_for(self.reader.readline(), timeout)
        return reply

    async def close(self) -> None:
        """Close the connection."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
