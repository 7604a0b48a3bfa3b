"""``WorkerJob``: a job as the worker running it sees it.

Strategy: the progress methods (``send_data``, ``send_warning``,
``send_status``) are plain methods, not coroutines, so one ``WorkerJob``
serves both async handlers (called in the loop) and threaded ones: from
another thread the packet is handed to the loop with
``call_soon_threadsafe``.  Packets are buffered by the transport; a handler
that streams a lot can ``await job.drain()``.
"""

from __future__ import annotations

import asyncio
import threading

from gear.protocol.constants import PacketType
from gear.protocol.packets import Packet

from ._transport import Transport
from .servers import ServerAddress

P = PacketType


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class WorkerJob:
    """A job assigned to this worker (JOB_ASSIGN_UNIQ)."""

    def __init__(
        self,
        handle: bytes,
        function: str,
        unique: bytes,
        data: bytes,
        server: ServerAddress,
        transport: Transport,
    ) -> None:
        #: the server's name for the job
        self.handle = handle
        #: the function name
        self.function = function
        #: the client's unique key (b"" if none)
        self.unique = unique
        #: the workload
        self.data = data
        #: the server the job came from
        self.server = server
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def __repr__(self) -> str:
        return f"<WorkerJob {self.function} {self.handle.decode(errors='replace')}>"

    def send_data(self, data: bytes | str) -> None:
        """Stream a chunk of output to the client (WORK_DATA)."""
        self._send(Packet.build(P.WORK_DATA, self.handle, _as_bytes(data)))

    def send_warning(self, data: bytes | str) -> None:
        """Send a warning to the client (WORK_WARNING)."""
        self._send(Packet.build(P.WORK_WARNING, self.handle, _as_bytes(data)))

    def send_status(self, numerator: int, denominator: int) -> None:
        """Report progress: ``numerator`` of ``denominator`` done (WORK_STATUS)."""
        self._send(Packet.build(P.WORK_STATUS, self.handle, numerator, denominator))

    async def drain(self) -> None:
        """Wait until buffered packets have been handed to the socket."""
        await self._transport.drain()

    def _send(self, packet: Packet) -> None:
        if threading.get_ident() == self._thread:
            self._transport.send(packet)
        else:
            self._loop.call_soon_threadsafe(self._transport.send, packet)
