"""The asyncio pump between a TCP connection and a ``FlowConnection``.

Strategy (httpcore style): ``Transport`` owns the stream pair and one reader
task that only reads, feeds ``FlowConnection.receive_data`` and writes what
the flows queued.  Everything the protocol means lives in the flows; this
module only moves bytes and translates foreign exceptions (``OSError``,
timeouts, broken framing) into ``ConnectError`` at the boundary
(``map_exceptions``).  When the socket ends, every flow on it gets the
``ConnectError`` and ``on_closed`` is called once.

``Backoff`` is the reconnect schedule shared by clients and workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from gear.errors import ConnectError, RemoteProtocolError
from gear.protocol.packets import Packet

from ._connection import FlowConnection
from ._flows import Flow
from .servers import ServerAddress
from .tls import describe_error

log = logging.getLogger("gear.client")
T = TypeVar("T")


@contextlib.contextmanager
def map_exceptions(address: ServerAddress, doing: str) -> Iterator[None]:
    """Turn socket errors and timeouts into ``ConnectError``."""
    try:
        yield
    except ssl.SSLError as exc:
        raise ConnectError(f"{doing} {address}: {describe_error(exc)}") from exc
    except TimeoutError as exc:
        raise ConnectError(f"{doing} {address}: timed out") from exc
    except OSError as exc:
        errno = exc.errno or 0
        reason = os.strerror(errno) if errno > 0 else exc.strerror or str(exc)
        raise ConnectError(f"{doing} {address}: {reason}") from exc


class Backoff:
    """Exponential reconnect delays: ``initial``, doubled up to ``maximum``."""

    def __init__(self, initial: float = 0.05, maximum: float = 5.0) -> None:
        #: the first delay, in seconds
        self.initial = initial
        #: the largest delay, in seconds
        self.maximum = maximum
        #: consecutive failures so far
        self.failures = 0
        #: loop time before which a reconnect is not worth trying
        self.retry_at = 0.0

    def delay(self) -> float:
        """The wait after the current number of failures."""
        if self.failures == 0:
            return 0.0
        return float(min(self.maximum, self.initial * 2 ** (self.failures - 1)))

    def failed(self, now: float) -> float:
        """Record a failure at ``now``; return the delay before the next try."""
        self.failures += 1
        delay = self.delay()
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        """Record a working connection."""
        self.failures = 0
        self.retry_at = 0.0

    def ready(self, now: float) -> bool:
        """Whether a reconnect may be tried at ``now``."""
        return now >= self.retry_at


class _FutureSink:
    """A sink that resolves a future with the flow's result."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future

    def event(self, event: object) -> None:
        pass

    def done(self, result: Any) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def error(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Transport:
    """One open connection to one server."""

    def __init__(
        self,
        address: ServerAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: FlowConnection,
        on_closed: Callable[[Transport, ConnectError], None] | None,
    ) -> None:
        #: the server this connects to
        self.address = address
        #: the flow multiplexer
        self.conn = conn
        self._reader = reader
        self._writer = writer
        self._on_closed = on_closed
        self._closed = False
        self._pump_task: asyncio.Task[None] | None = None
        #: whether a flush is scheduled for the end of this loop iteration
        self._flush_due = False

    @classmethod
    async def open(
        cls,
        address: ServerAddress,
        *,
        timeout: float | None = 5.0,
        on_unsolicited: Callable[[Packet], None] | None = None,
        on_closed: Callable[[Transport, ConnectError], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Transport:
        """Connect to ``address`` (over TLS with a ``tls`` context) and start reading.

        Raises:
            ConnectError: the server cannot be reached within ``timeout``, or
                the TLS handshake failed.
        """
        with map_exceptions(address, "cannot connect to"):
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    address.host,
                    address.port,
                    ssl=tls,
                    server_hostname=address.host if tls is not None else None,
                ),
                timeout,
            )
        conn = FlowConnection(on_unsolicited=on_unsolicited)
        transport = cls(address, reader, writer, conn, on_closed)
        transport._pump_task = asyncio.create_task(transport._pump())
        return transport

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed

    def start(self, flow: Flow[Any], sink: Any) -> None:
        """Start ``flow`` on this connection, reporting to ``sink``.

        Raises:
            ConnectError: the connection has already ended.
        """
        if self._closed:
            flow.close()
            raise ConnectError(f"connection to {self.address} is closed")
        self.conn.start(flow, sink)
        self._flush_soon()

    async def request(self, flow: Flow[T]) -> T:
        """Run ``flow`` and return its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.start(flow, _FutureSink(future))
        result: T = await future
        return result

    def send(self, packet: Packet) -> bool:
        """Send a packet that expects no reply; False if the connection is gone."""
        if self._closed:
            return False
        self.conn.send(packet)
        self._flush_soon()
        return True

    async def drain(self) -> None:
        """Wait until the socket's write buffer is below its high-water mark."""
        if not self._closed:
            with contextlib.suppress(OSError):
                await self._writer.drain()

    async def close(self) -> None:
        """Send what is queued, close; flows still running get ConnectError."""
        self._flush()
        self._lost(ConnectError(f"connection to {self.address} closed"))
        task = self._pump_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def _flush_soon(self) -> None:
        """Write what the flows queued once this loop iteration is over.

        Everything started or sent in one iteration (a burst of submits, a
        worker's WORK_COMPLETE and its next GRAB_JOB) leaves in one write:
        one system call, not one per packet.
        """
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        data = self.conn.data_to_send()
        if data and not self._closed:
            self._writer.write(data)

    async def _pump(self) -> None:
        reason = "closed by the server"
        try:
            while True:
                data = await self._reader.read(262144)
                if not data:
                    break
                self.conn.receive_data(data)
                self._flush()
        except OSError as exc:
            reason = exc.strerror or str(exc)
        except RemoteProtocolError as exc:
            reason = f"protocol error: {exc}"
            log.warning("%s: %s", self.address, reason)
        self._lost(ConnectError(f"connection to {self.address} lost: {reason}"))

    def _lost(self, exc: ConnectError) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self.conn.close(exc)
        if self._on_closed is not None:
            self._on_closed(self, exc)
