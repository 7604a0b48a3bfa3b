"""Admin clients: the text admin protocol over one TCP connection.

Strategy: all protocol knowledge is in ``gear.protocol.admin_replies``; this
module only moves lines.  ``AsyncAdminClient._exchange`` writes one command
line and feeds reply lines to a ``ReplyReader`` until it returns the whole
``Reply``, under a lock (one command in flight per connection) and a reply
timeout.  The connection is opened on first use and again after it broke, so
a client outlives server restarts; a read-only command that finds its reused
connection closed before any reply byte is retried once on a fresh one.
Socket errors and timeouts become ``ConnectError`` here, at the boundary.
The typed methods are one line each: ``_rows`` / ``_single`` run
``parse_reply`` and check the result's type.  ``AdminClient`` is the sync
facade: an ``asyncio.Runner`` of its own drives the same coroutines.

The typed replies (rows, results, ``AdminError``, ``parse_reply``) are
re-exported here: front ends use this module, never ``gear.protocol``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from typing import TypeVar

from gear._closing import Blocking
from gear.client.servers import ServerAddress
from gear.errors import ConnectError, LocalProtocolError, RemoteProtocolError
from gear.protocol.admin_replies import (
    ENCODING,
    ERRORS,
    AdminError,
    ClientJob,
    FunctionCounters,
    FunctionCreated,
    FunctionDropped,
    FunctionStatus,
    JobCancelled,
    JobInfo,
    MaxQueue,
    MaxQueueSet,
    PerlJob,
    PriorityStatus,
    QueuedJob,
    Reply,
    ReplyReader,
    Result,
    ServerKind,
    ServerPid,
    ServerVersion,
    ShutdownAccepted,
    Stat,
    UniqueJob,
    VerboseLevel,
    WorkerDetail,
    WorkerInfo,
    parse_reply,
)

from .tls import describe_error

__all__ = [
    "DEFAULT_PORT",
    "ENCODING",
    "ERRORS",
    "AdminClient",
    "AdminError",
    "AsyncAdminClient",
    "ClientJob",
    "FunctionCounters",
    "FunctionCreated",
    "FunctionDropped",
    "FunctionStatus",
    "JobCancelled",
    "JobInfo",
    "MaxQueue",
    "MaxQueueSet",
    "PerlJob",
    "PriorityStatus",
    "QueuedJob",
    "Reply",
    "Result",
    "ServerKind",
    "ServerPid",
    "ServerVersion",
    "ShutdownAccepted",
    "Stat",
    "UniqueJob",
    "VerboseLevel",
    "WorkerDetail",
    "WorkerInfo",
    "format_address",
    "parse_address",
    "parse_reply",
]

#: the IANA port of Gearman
DEFAULT_PORT = 4730
#: commands that change nothing, so a retry on a fresh connection is harmless
_READ_ONLY = frozenset(
    {"status", "workers", "prioritystatus", "show", "version", "getpid", "verbose", "stats"}
    | {"jobs", "clients", "gladiator"}
)
#: StreamReader line limit: long ``workers`` lines must not break the reader
_LINE_LIMIT = 16 * 1024 * 1024

T = TypeVar("T")


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``:port`` as ``(host, port)``.

    Raises:
        ValueError: the port is not a number in 1-65535.
    """
    address = ServerAddress.parse(text, default_port, default_host="localhost")
    return address.host, address.port


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_word(value: str, what: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise LocalProtocolError(f"{what} {value!r} cannot be sent on an admin line")
    return value


class AsyncAdminClient:
    """An admin connection to one server (gear, C gearmand or Perl).

    Args:
        host: server host name or IP literal.
        port: TCP port.
        timeout: seconds to wait for a connection and for each reply.

    Every command method raises ``ConnectError`` when the server cannot be
    reached or does not answer in time, ``AdminError`` when it answers
    ``ERR``, and ``RemoteProtocolError`` when the reply has the wrong shape.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = DEFAULT_PORT,
        *,
        timeout: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ):
        self.host = host
        self.port = port
        self.timeout = timeout
        #: the TLS context (None: plain TCP)
        self.tls = tls
        #: seconds the last reply took to arrive, None before the first
        self.latency: float | None = None
        #: the server's ``version`` reply, once ``detect()`` ran
        self.server_version: ServerVersion | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_address(
        cls, address: str, *, timeout: float = 5.0, tls: ssl.SSLContext | None = None
    ) -> AsyncAdminClient:
        """A client for ``host[:port]``."""
        host, port = parse_address(address)
        return cls(host, port, timeout=timeout, tls=tls)

    @property
    def address(self) -> str:
        """``host:port`` of the server."""
        return format_address(self.host, self.port)

    @property
    def connected(self) -> bool:
        """Whether a connection is open (it may still turn out broken)."""
        return self._writer is not None and not self._writer.is_closing()

    @property
    def kind(self) -> ServerKind:
        """The server implementation, UNKNOWN until ``detect()`` told it."""
        return self.server_version.kind if self.server_version else ServerKind.UNKNOWN

    # ------------------------------------------------------- connection --
    async def connect(self) -> None:
        """Open the connection now (commands also open it on demand)."""
        async with self._lock:
            await self._open()

    def _drop_connection(self) -> None:
        """Forget the connection at once (no await: usable while being cancelled)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        """Close the connection; the next command opens a new one."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def __aenter__(self) -> AsyncAdminClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        await self.close()

    async def _open(self) -> None:
        if self.connected:
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    limit=_LINE_LIMIT,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                ),
                self.timeout,
            )
        except ssl.SSLError as exc:
            raise ConnectError(f"{self.address}: {describe_error(exc)}") from None
        except TimeoutError:
            raise ConnectError(f"{self.address}: connect timed out") from None
        except OSError as exc:
            errno = exc.errno or 0
            reason = os.strerror(errno) if errno > 0 else exc.strerror or str(exc)
            raise ConnectError(f"{self.address}: {reason}") from None

    # --------------------------------------------------------- exchange --
    async def send(self, line: str) -> Reply:
        """Send one command line; its whole reply, ``ERR`` included, unparsed.

        Raises:
            ConnectError: unreachable, connection lost, or no reply in time.
            LocalProtocolError: the line holds a line break.
        """
        if "\n" in line or "\r" in line:
            raise LocalProtocolError("an admin command is one line")
        words = line.split()
        retry = bool(words) and words[0].lower() in _READ_ONLY
        async with self._lock:
            for attempt in (1, 2):
                reused = self.connected
                try:
                    return await self._exchange(line)
                except _ClosedEarly as exc:
                    await self.close()
                    if attempt == 2 or not (reused and retry):
                        raise ConnectError(f"{self.address}: {exc}") from None
        raise AssertionError("unreachable")

    async def _exchange(self, line: str) -> Reply:
        await self._open()
        assert self._reader is not None and self._writer is not None
        reader, writer = self._reader, self._writer
        collector = ReplyReader(line)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(line.encode(ENCODING, ERRORS) + b"\n")
                await writer.drain()
                reply = await self._collect(reader, collector)
        except TimeoutError:
            await self.close()
            raise ConnectError(
                f"{self.address}: no reply to {line!r} within {self.timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise _ClosedEarly(str(exc) or type(exc).__name__) from None
        except asyncio.CancelledError:
            # a reply cut off half-read would be read by the next command:
            # the connection cannot be reused
            self._drop_connection()
            raise
        self.latency = time.monotonic() - started
        return reply

    async def _collect(self, reader: asyncio.StreamReader, collector: ReplyReader) -> Reply:
        first = True
        while True:
            data = await reader.readline()
            if not data.endswith(b"\n"):
                if first:
                    raise _ClosedEarly("connection closed by the server")
                await self.close()
                raise ConnectError(f"{self.address}: connection closed in the middle of a reply")
            first = False
            reply = collector.feed(data)
            if reply is not None:
                return reply

    async def command(self, line: str) -> Result:
        """Send ``line`` and parse its reply into rows or a result dataclass.

        Raises:
            AdminError: the server answered ``ERR``.
        """
        reply = await self.send(line)
        return parse_reply(line.split(), reply)

    async def detect(self) -> ServerVersion:
        """Ask ``version`` and remember which server this is.

        A server that refuses ``version`` (or ignores it, as OpenStack's
        geard does) is recorded as ``ServerKind.UNKNOWN``.
        """
        try:
            found = await self.version()
        except AdminError:
            found = ServerVersion(version="", kind=ServerKind.UNKNOWN)
        self.server_version = found
        return found

    # ---------------------------------------------------- typed commands --
    async def _rows(self, line: str, row_type: type[T]) -> tuple[T, ...]:
        result = await self.command(line)
        if not isinstance(result, tuple) or not all(isinstance(r, row_type) for r in result):
            raise RemoteProtocolError(f"{line!r} did not give {row_type.__name__} rows")
        return result  # type: ignore[return-value]

    async def _single(self, line: str, result_type: type[T]) -> T:
        result = await self.command(line)
        if not isinstance(result, result_type):
            raise RemoteProtocolError(f"{line!r} did not give a {result_type.__name__}")
        return result

    async def status(self) -> tuple[FunctionStatus, ...]:
        """``status``: per function, queued/running jobs and workers."""
        return await self._rows("status", FunctionStatus)

    async def priority_status(self) -> tuple[PriorityStatus, ...]:
        """``prioritystatus``: queued jobs per priority (C gearmand, gear)."""
        return await self._rows("prioritystatus", PriorityStatus)

    async def workers(self) -> tuple[WorkerInfo, ...]:
        """``workers``: every connection and the functions it registered."""
        return await self._rows("workers", WorkerInfo)

    async def show_jobs(self) -> tuple[JobInfo, ...]:
        """``show jobs`` (C gearmand, gear)."""
        return await self._rows("show jobs", JobInfo)

    async def show_unique_jobs(self) -> tuple[UniqueJob, ...]:
        """``show unique jobs`` (C gearmand, gear)."""
        return await self._rows("show unique jobs", UniqueJob)

    async def show_queue(self, function: str | None = None) -> tuple[QueuedJob, ...]:
        """gear's ``show queue [FUNCTION]``: every job with its details."""
        tail = f" {_check_word(function, 'function')}" if function else ""
        return await self._rows("show queue" + tail, QueuedJob)

    async def show_workers(self) -> tuple[WorkerDetail, ...]:
        """gear's ``show workers``: workers with state and running handles."""
        return await self._rows("show workers", WorkerDetail)

    async def show_functions(self) -> tuple[FunctionCounters, ...]:
        """gear's ``show functions``: jobs in and out per function since it was created."""
        return await self._rows("show functions", FunctionCounters)

    async def show_maxqueue(self) -> tuple[MaxQueue, ...]:
        """gear's ``show maxqueue``: the queue limits set."""
        return await self._rows("show maxqueue", MaxQueue)

    async def stats(self) -> dict[str, str]:
        """gear's ``stats``: server counters by name."""
        return {row.name: row.value for row in await self._rows("stats", Stat)}

    async def jobs(self) -> tuple[PerlJob, ...]:
        """Perl Gearman::Server's ``jobs``."""
        return await self._rows("jobs", PerlJob)

    async def clients(self) -> tuple[ClientJob, ...]:
        """Perl Gearman::Server's ``clients``: one row per client and job."""
        return await self._rows("clients", ClientJob)

    async def version(self) -> ServerVersion:
        """``version``, with the server kind told from it."""
        return await self._single("version", ServerVersion)

    async def getpid(self) -> ServerPid:
        """``getpid`` (C gearmand, gear)."""
        return await self._single("getpid", ServerPid)

    async def verbose(self) -> VerboseLevel:
        """``verbose``: the server's log level (C gearmand, gear)."""
        return await self._single("verbose", VerboseLevel)

    async def cancel_job(self, handle: str) -> JobCancelled:
        """``cancel job HANDLE``; ``AdminError`` ``UNKNOWN_JOB`` if there is none."""
        return await self._single(f"cancel job {_check_word(handle, 'handle')}", JobCancelled)

    async def create_function(self, function: str) -> FunctionCreated:
        """``create function NAME`` (C gearmand, gear)."""
        line = f"create function {_check_word(function, 'function')}"
        return await self._single(line, FunctionCreated)

    async def drop_function(self, function: str) -> FunctionDropped:
        """``drop function NAME`` (C gearmand, gear)."""
        line = f"drop function {_check_word(function, 'function')}"
        return await self._single(line, FunctionDropped)

    async def maxqueue(self, function: str, *sizes: int) -> MaxQueueSet:
        """``maxqueue FUNCTION [N | HIGH NORMAL LOW]``; no size removes the limit.

        Raises:
            ValueError: ``sizes`` is not empty, one size, or three sizes.
        """
        if len(sizes) not in (0, 1, 3):
            raise ValueError("maxqueue takes no size, one size, or HIGH NORMAL LOW")
        line = " ".join(["maxqueue", _check_word(function, "function"), *map(str, sizes)])
        return await self._single(line, MaxQueueSet)

    async def shutdown(self, graceful: bool = False) -> ShutdownAccepted:
        """``shutdown [graceful]`` (gear with --allow-shutdown, Perl)."""
        line = "shutdown graceful" if graceful else "shutdown"
        return await self._single(line, ShutdownAccepted)


class _ClosedEarly(Exception):
    """The connection broke before any byte of the reply arrived."""


class AdminClient(Blocking):
    """The blocking twin of ``AsyncAdminClient``, for scripts.

    Each method runs the async method of the same name on a private event
    loop; use it from plain (non-async) code only.  ``with`` connects first.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = DEFAULT_PORT,
        *,
        timeout: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ):
        super().__init__()
        self._client = AsyncAdminClient(host, port, timeout=timeout, tls=tls)

    @classmethod
    def from_address(cls, address: str, *, timeout: float = 5.0) -> AdminClient:
        """A client for ``host[:port]``."""
        host, port = parse_address(address)
        return cls(host, port, timeout=timeout)

    @property
    def address(self) -> str:
        """``host:port`` of the server."""
        return self._client.address

    @property
    def latency(self) -> float | None:
        """Seconds the last reply took."""
        return self._client.latency

    def _open(self) -> None:
        self._run(self._client.connect())

    async def _aclose(self) -> None:
        await self._client.close()

    def send(self, line: str) -> Reply:
        """See ``AsyncAdminClient.send``."""
        return self._run(self._client.send(line))

    def command(self, line: str) -> Result:
        """See ``AsyncAdminClient.command``."""
        return self._run(self._client.command(line))

    def detect(self) -> ServerVersion:
        """See ``AsyncAdminClient.detect``."""
        return self._run(self._client.detect())

    def status(self) -> tuple[FunctionStatus, ...]:
        """See ``AsyncAdminClient.status``."""
        return self._run(self._client.status())

    def priority_status(self) -> tuple[PriorityStatus, ...]:
        """See ``AsyncAdminClient.priority_status``."""
        return self._run(self._client.priority_status())

    def workers(self) -> tuple[WorkerInfo, ...]:
        """See ``AsyncAdminClient.workers``."""
        return self._run(self._client.workers())

    def show_jobs(self) -> tuple[JobInfo, ...]:
        """See ``AsyncAdminClient.show_jobs``."""
        return self._run(self._client.show_jobs())

    def show_unique_jobs(self) -> tuple[UniqueJob, ...]:
        """See ``AsyncAdminClient.show_unique_jobs``."""
        return self._run(self._client.show_unique_jobs())

    def show_queue(self, function: str | None = None) -> tuple[QueuedJob, ...]:
        """See ``AsyncAdminClient.show_queue``."""
        return self._run(self._client.show_queue(function))

    def show_workers(self) -> tuple[WorkerDetail, ...]:
        """See ``AsyncAdminClient.show_workers``."""
        return self._run(self._client.show_workers())

    def show_functions(self) -> tuple[FunctionCounters, ...]:
        """See ``AsyncAdminClient.show_functions``."""
        return self._run(self._client.show_functions())

    def show_maxqueue(self) -> tuple[MaxQueue, ...]:
        """See ``AsyncAdminClient.show_maxqueue``."""
        return self._run(self._client.show_maxqueue())

    def stats(self) -> dict[str, str]:
        """See ``AsyncAdminClient.stats``."""
        return self._run(self._client.stats())

    def jobs(self) -> tuple[PerlJob, ...]:
        """See ``AsyncAdminClient.jobs``."""
        return self._run(self._client.jobs())

    def clients(self) -> tuple[ClientJob, ...]:
        """See ``AsyncAdminClient.clients``."""
        return self._run(self._client.clients())

    def version(self) -> ServerVersion:
        """See ``AsyncAdminClient.version``."""
        return self._run(self._client.version())

    def getpid(self) -> ServerPid:
        """See ``AsyncAdminClient.getpid``."""
        return self._run(self._client.getpid())

    def verbose(self) -> VerboseLevel:
        """See ``AsyncAdminClient.verbose``."""
        return self._run(self._client.verbose())

    def cancel_job(self, handle: str) -> JobCancelled:
        """See ``AsyncAdminClient.cancel_job``."""
        return self._run(self._client.cancel_job(handle))

    def create_function(self, function: str) -> FunctionCreated:
        """See ``AsyncAdminClient.create_function``."""
        return self._run(self._client.create_function(function))

    def drop_function(self, function: str) -> FunctionDropped:
        """See ``AsyncAdminClient.drop_function``."""
        return self._run(self._client.drop_function(function))

    def maxqueue(self, function: str, *sizes: int) -> MaxQueueSet:
        """See ``AsyncAdminClient.maxqueue``."""
        return self._run(self._client.maxqueue(function, *sizes))

    def shutdown(self, graceful: bool = False) -> ShutdownAccepted:
        """See ``AsyncAdminClient.shutdown``."""
        return self._run(self._client.shutdown(graceful))
