"""One server, read once per refresh over its admin connection.

Strategy: a ``ServerPoller`` owns one ``AsyncAdminClient`` and turns a
refresh into a ``ServerReading``: the typed rows of the commands that this
server kind understands (``CAPABILITIES``), nothing else, so C gearmand and
the Perl server are never sent gear's extensions.  A command the server
refuses or answers oddly leaves its field ``None`` (shown as n/a).  When the
server cannot be reached the reading says ``up=False`` with the reason; the
client reconnects on its own at the next refresh, and the server kind is
asked again then, since another server may have taken the port.  A refresh
that is cancelled (the user asked for a new one) closes the connection, so
no half-read reply is left for the next command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from gear.client.admin import (
    AdminError,
    AsyncAdminClient,
    FunctionCounters,
    FunctionStatus,
    JobInfo,
    PerlJob,
    PriorityStatus,
    QueuedJob,
    ServerKind,
    WorkerDetail,
    WorkerInfo,
)
from gear.errors import ConnectError, ProtocolError
from gear.tui.model import CAPABILITIES, Capabilities

__all__ = ["TRACK_LIMIT", "ServerPoller", "ServerReading"]

#: list the whole queue (for per-function rates) only up to this many jobs
TRACK_LIMIT = 20_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerReading:
    """The raw answers of one server to one refresh."""

    address: str
    up: bool
    #: monotonic seconds when the refresh started
    taken: float
    kind: ServerKind = ServerKind.UNKNOWN
    version: str | None = None
    latency: float | None = None
    #: why the server is down
    error: str = ""
    status: tuple[FunctionStatus, ...] = ()
    priority: tuple[PriorityStatus, ...] | None = None
    workers: tuple[WorkerInfo, ...] | None = None
    worker_details: tuple[WorkerDetail, ...] | None = None
    stats: dict[str, str] | None = None
    #: gear's ``show functions``: per-function jobs in and out (exact rates)
    function_counters: tuple[FunctionCounters, ...] | None = None
    #: gear's ``show queue``: all jobs (``queue_complete``) or the selected function's
    queue: tuple[QueuedJob, ...] | None = None
    queue_complete: bool = False
    #: C gearmand's ``show jobs``
    show_jobs: tuple[JobInfo, ...] | None = None
    #: the Perl server's ``jobs``
    perl_jobs: tuple[PerlJob, ...] | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What this server kind can tell."""
        return CAPABILITIES[self.kind]


class ServerPoller:
    """Reads one server; keeps its connection and kind between refreshes.

    Args:
        client: the admin client of the server (it reconnects by itself).
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self, client: AsyncAdminClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.clock = clock
        #: the server's kind and version, known after the first good refresh
        self.kind: ServerKind | None = None
        self.version: str | None = None

    @property
    def address(self) -> str:
        """``host:port``."""
        return self.client.address

    @property
    def capabilities(self) -> Capabilities:
        """What the server can tell (the common core until its kind is known)."""
        return CAPABILITIES[self.kind or ServerKind.UNKNOWN]

    async def read(self, function: str | None) -> ServerReading:
        """One refresh; never raises for an unreachable or misbehaving server."""
        taken = self.clock()
        try:
            return await self._read(function, taken)
        except asyncio.CancelledError:
            await self.client.close()
            raise
        except (ConnectError, ProtocolError, AdminError) as exc:
            await self.client.close()
            self.kind = self.version = None
            return ServerReading(address=self.address, up=False, taken=taken, error=str(exc))

    async def _read(self, function: str | None, taken: float) -> ServerReading:
        if self.kind is None:
            found = await self.client.detect()
            self.kind, self.version = found.kind, found.version
        client, caps = self.client, CAPABILITIES[self.kind]
        status = await client.status()
        latency = client.latency
        workers = await self._optional(client.workers())
        queue, complete = await self._queue(caps, status, function)
        return ServerReading(
            address=self.address,
            up=True,
            taken=taken,
            kind=self.kind,
            version=self.version,
            latency=latency,
            status=status,
            workers=workers,
            priority=await self._optional(client.priority_status()) if caps.priority else None,
            worker_details=await self._optional(client.show_workers())
            if caps.show_workers
            else None,
            stats=await self._optional(client.stats()) if caps.stats else None,
            function_counters=await self._optional(client.show_functions()) if caps.stats else None,
            queue=queue,
            queue_complete=complete,
            show_jobs=await self._optional(client.show_jobs()) if caps.show_jobs else None,
            perl_jobs=await self._optional(client.jobs()) if caps.perl_jobs else None,
        )

    async def _queue(
        self, caps: Capabilities, status: tuple[FunctionStatus, ...], function: str | None
    ) -> tuple[tuple[QueuedJob, ...] | None, bool]:
        if not caps.show_queue:
            return None, False
        if sum(row.total for row in status) <= TRACK_LIMIT:
            return await self._optional(self.client.show_queue()), True
        if function is None:
            return None, False
        return await self._optional(self.client.show_queue(function)), False

    @staticmethod
    async def _optional(call: Awaitable[T]) -> T | None:
        """The command's rows, or None when the server refuses or garbles it."""
        try:
            return await call
        except (AdminError, ProtocolError):
            return None

    async def close(self) -> None:
        """Close the admin connection."""
        await self.client.close()
