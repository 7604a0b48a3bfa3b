"""``AsyncClient``: submit jobs to one or several Gearman servers.

Strategy: one lazily opened ``Transport`` per server.  A job picks its
server by the CRC32 of its unique key (so submits with the same unique meet
on the same server and still coalesce) or round-robin without one, then
tries the others in order.  Servers whose connection failed recently (their
``Backoff`` has not expired) go to the back of the line: they are still
tried when nothing else works, so one server coming back is noticed by the
next submit.  A connection lost before JOB_CREATED always moves the job to
the next server; a foreground job lost after it is re-submitted too
(``failover=True``), so its worker may run it twice — the usual Gearman
at-least-once contract.  ``losses`` counts, per server, the connections
that broke and the jobs that were in flight on them: re-submitted or failed.

The usual path costs no task and no list: a job whose first-choice server
is connected starts on it at once (``_start_now``); only a job that must
open a connection, or move on, runs ``_launch`` as a task.  Its packet
leaves in the transport's next write, with everything else submitted in the
same loop iteration.

Sinks are called from inside a connection's read loop, so anything that
needs awaiting (re-submits) is scheduled as a task, never run inline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
import uuid
import zlib
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from gear.errors import ConnectError, JobTimeout, ServerUnavailable
from gear.protocol.constants import Priority

from ._flows import echo_flow, option_flow, status_flow, status_unique_flow, submit_flow
from ._transport import Backoff, Transport, _FutureSink
from .events import JobCreated, JobInfo, JobOutcome, ServerLoss
from .job import DataCallback, Job, StatusCallback
from .servers import ServerAddress, ServerSpec, resolve_servers

log = logging.getLogger("gear.client")


def as_bytes(value: bytes | str | None) -> bytes:
    """``value`` as bytes: str is UTF-8 encoded, None is empty."""
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


class _Slot:
    """One server of the client's list."""

    def __init__(self, address: ServerAddress, backoff: Backoff) -> None:
        self.address = address
        self.backoff = backoff
        self.transport: Transport | None = None
        self.lock = asyncio.Lock()


class _JobSink:
    """Connects one submit flow on one server to its ``Job``."""

    __slots__ = ("client", "index", "job", "transport")

    def __init__(self, client: AsyncClient, job: Job, index: int, transport: Transport) -> None:
        self.client = client
        self.job = job
        self.index = index
        self.transport = transport

    def event(self, event: object) -> None:
        if isinstance(event, JobCreated):
            self.job._created(event, self.transport.address)
        else:
            self.job._update(event)  # type: ignore[arg-type]

    def done(self, result: Any) -> None:
        assert isinstance(result, JobOutcome)
        self.job._finished(result)

    def error(self, exc: BaseException) -> None:
        self.client._job_lost(self.job, self.index, exc)


class AsyncClient:
    """A Gearman client over one or several servers.

    Args:
        servers: ``host[:port]`` strings (comma lists allowed), addresses,
            or None for ``$GEAR_SERVERS``/``$GEARMAN_SERVER``/localhost.
        exceptions: ask servers to forward WORK_EXCEPTION (else the server
            turns it into WORK_FAIL).
        timeout: default seconds for ``submit`` to wait for a result.
        connect_timeout: seconds to wait for a TCP connection.
        failover: re-submit a foreground job elsewhere when its server is lost.
        backoff_max: longest wait, in seconds, before a failed server is
            preferred again.
        tls: connect over TLS with this context (``gear.client.tls.client_context``).

    Raises:
        ValueError: a server spec cannot be parsed.
    """

    def __init__(
        self,
        servers: ServerSpec | Iterable[ServerSpec] | None = None,
        *,
        exceptions: bool = False,
        timeout: float | None = None,
        connect_timeout: float = 5.0,
        failover: bool = True,
        backoff_max: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        #: the TLS context of every connection (None: plain TCP)
        self.tls = tls
        #: the servers, in the order given
        self.servers = resolve_servers(servers)
        #: whether WORK_EXCEPTION is asked for
        self.exceptions = exceptions
        #: default result timeout of ``submit``
        self.timeout = timeout
        #: TCP connect timeout
        self.connect_timeout = connect_timeout
        #: re-submit lost foreground jobs on another server
        self.failover = failover
        self._slots = [_Slot(a, Backoff(maximum=backoff_max)) for a in self.servers]
        #: servers lost while in use (``host:port``), and what was lost with each
        self.losses: dict[str, ServerLoss] = {}
        self._rr = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection; jobs still running end with ConnectError."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for slot in self._slots:
            if slot.transport is not None:
                await slot.transport.close()
                slot.transport = None

    # ------------------------------------------------------------ submit --
    async def submit(
        self,
        function: str,
        data: bytes | str = b"",
        *,
        unique: bytes | str | None = None,
        priority: Priority = Priority.NORMAL,
        timeout: float | None = None,
        on_data: DataCallback | None = None,
        on_warning: DataCallback | None = None,
        on_status: StatusCallback | None = None,
    ) -> bytes:
        """Run a foreground job and return its WORK_COMPLETE payload.

        Args:
            function: the function name.
            data: the workload.
            unique: coalescing key (``"-"`` means "the data itself").
            priority: HIGH, NORMAL or LOW.
            timeout: seconds to wait (default: the client's ``timeout``).
            on_data, on_warning, on_status: callbacks for streamed updates.

        Raises:
            JobFailed: WORK_FAIL.
            JobException: WORK_EXCEPTION (with ``exceptions=True``).
            JobTimeout: no result within ``timeout``.
            ServerUnavailable: no server could take the job.
            ServerError: the server refused the job.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        job = await self.submit_job(
            function,
            data,
            unique=unique,
            priority=priority,
            on_data=on_data,
            on_warning=on_warning,
            on_status=on_status,
            timeout=timeout,
        )
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return await job.wait(remaining)

    async def submit_background(
        self,
        function: str,
        data: bytes | str = b"",
        *,
        unique: bytes | str | None = None,
        priority: Priority = Priority.NORMAL,
        at: float | None = None,
        delay: float | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Queue a background job; return it once the server accepted it.

        A job without ``unique`` gets a random one (as libgearman does), so
        persistent queues can key it.  ``at`` (epoch seconds) or ``delay``
        (seconds from now) schedule it with SUBMIT_JOB_EPOCH, which has no
        priority: ``priority`` must then stay NORMAL.

        Raises:
            ServerUnavailable, ServerError, JobTimeout: as for ``submit``.
        """
        return await self.submit_job(
            function,
            data,
            unique=uuid.uuid4().hex if unique is None else unique,
            priority=priority,
            background=True,
            at=at,
            delay=delay,
            timeout=timeout,
        )

    async def submit_job(
        self,
        function: str,
        data: bytes | str = b"",
        *,
        unique: bytes | str | None = None,
        priority: Priority = Priority.NORMAL,
        background: bool = False,
        at: float | None = None,
        delay: float | None = None,
        on_data: DataCallback | None = None,
        on_warning: DataCallback | None = None,
        on_status: StatusCallback | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Submit a job and return it once created (JOB_CREATED).

        The returned ``Job`` can be awaited for its result or iterated for
        its updates.  Arguments are those of ``submit`` and
        ``submit_background``; ``timeout`` bounds the wait for creation.

        Raises:
            ValueError: ``at``/``delay`` on a foreground or non-NORMAL job.
            ServerUnavailable, ServerError, JobTimeout: as for ``submit``.
        """
        job = Job(
            function,
            as_bytes(data),
            unique=as_bytes(unique),
            priority=priority,
            background=background,
            when=_epoch(at, delay, background, priority),
            on_data=on_data,
            on_warning=on_warning,
            on_status=on_status,
        )
        key = job.unique if job.unique not in (b"", b"-") else b""
        first = self._first_choice(key)
        if not self._start_now(job, first):
            self._spawn(self._launch(job, first))
        try:
            await asyncio.wait_for(job.created(), timeout)
        except TimeoutError:
            job._failed(JobTimeout(f"job {function} not created within {timeout} s"))
            raise JobTimeout(f"job {function} not created within {timeout} s") from None
        return job

    # ------------------------------------------------------------ status --
    async def get_status(self, handle: bytes | str, *, server: ServerSpec | None = None) -> JobInfo:
        """Ask about a job by handle (GET_STATUS).

        Without ``server`` every server is asked and the first that knows the
        job answers (handles are only unique per server).

        Raises:
            ServerUnavailable: no server could be asked.
        """
        return await self._ask_all(lambda: status_flow(as_bytes(handle)), server)

    async def get_status_unique(
        self, unique: bytes | str, *, server: ServerSpec | None = None
    ) -> JobInfo:
        """Ask about a job by unique key (GET_STATUS_UNIQUE; C gearmand, gear).

        The server the unique would be submitted to is asked first.

        Raises:
            ServerUnavailable: no server could be asked.
        """
        key = as_bytes(unique)
        return await self._ask_all(lambda: status_unique_flow(key), server, key)

    async def echo(self, data: bytes | str = b"", *, server: ServerSpec | None = None) -> bytes:
        """Send ECHO_REQ to a server (the first reachable one) and return the echo.

        Raises:
            ServerUnavailable: no server could be reached.
        """
        payload = as_bytes(data)
        last: ConnectError | None = None
        for index in self._order(b"", server):
            try:
                transport = await self._connect(index)
                return await transport.request(echo_flow(payload))
            except ConnectError as exc:
                last = exc
        raise ServerUnavailable(f"no server answered: {last}") from last

    # ---------------------------------------------------------- internals --
    async def _ask_all(self, make: Any, server: ServerSpec | None, key: bytes = b"") -> JobInfo:
        first: JobInfo | None = None
        errors: list[str] = []
        for index in self._order(key, server):
            try:
                transport = await self._connect(index)
                info: JobInfo = await transport.request(make())
            except ConnectError as exc:
                errors.append(str(exc))
                continue
            info = dataclasses.replace(info, server=str(transport.address))
            if info.known:
                return info
            first = first or info
        if first is None:
            raise ServerUnavailable("no server answered: " + "; ".join(errors))
        return first

    def _order(self, key: bytes, server: ServerSpec | None = None) -> list[int]:
        """Server indexes to try: preferred first, recently failed last."""
        if server is not None:
            wanted = resolve_servers(server)[0]
            return [i for i, s in enumerate(self._slots) if s.address == wanted] or [
                self._add_slot(wanted)
            ]
        return self._order_from(self._first_choice(key))

    def _first_choice(self, key: bytes) -> int:
        """The server a job with unique ``key`` goes to: CRC32 of it, or round-robin."""
        n = len(self._slots)
        if n == 1:
            return 0
        if key:
            return zlib.crc32(key) % n
        self._rr += 1
        return (self._rr - 1) % n

    def _order_from(self, start: int) -> list[int]:
        """Every server from ``start`` on, those that failed recently last."""
        n = len(self._slots)
        order = [(start + i) % n for i in range(n)]
        now = asyncio.get_running_loop().time()
        return sorted(order, key=lambda i: not self._slots[i].backoff.ready(now))

    def _add_slot(self, address: ServerAddress) -> int:
        self._slots.append(_Slot(address, Backoff(maximum=self._slots[0].backoff.maximum)))
        return len(self._slots) - 1

    async def _connect(self, index: int) -> Transport:
        slot = self._slots[index]
        if slot.transport is not None and not slot.transport.closed:
            return slot.transport
        async with slot.lock:
            if slot.transport is not None and not slot.transport.closed:
                return slot.transport
            if self._closed:
                raise ConnectError("client is closed")
            try:
                transport = await Transport.open(
                    slot.address,
                    timeout=self.connect_timeout,
                    on_closed=self._on_closed,
                    tls=self.tls,
                )
            except ConnectError:
                slot.backoff.failed(asyncio.get_running_loop().time())
                raise
            slot.backoff.succeeded()
            slot.transport = transport
            if self.exceptions:
                future = asyncio.get_running_loop().create_future()
                transport.start(option_flow(b"exceptions"), _FutureSink(future))
                future.add_done_callback(lambda f: f.cancelled() or f.exception())
            return transport

    def _on_closed(self, transport: Transport, exc: ConnectError) -> None:
        for slot in self._slots:
            if slot.transport is transport:
                slot.transport = None
                if not self._closed:
                    slot.backoff.failed(asyncio.get_running_loop().time())
                    self._loss(slot.address).connections += 1
                    log.info("%s", exc)

    def _loss(self, address: ServerAddress) -> ServerLoss:
        name = str(address)
        loss = self.losses.get(name)
        if loss is None:
            loss = self.losses[name] = ServerLoss(name)
        return loss

    def _start_now(self, job: Job, index: int) -> bool:
        """Start ``job`` on server ``index`` if it is connected; whether it was."""
        transport = self._slots[index].transport
        if transport is None or transport.closed or self._closed:
            return False
        job.attempts += 1
        transport.start(
            submit_flow(job.packet(), job.background), _JobSink(self, job, index, transport)
        )
        return True

    async def _launch(
        self, job: Job, first: int, lost_on: int | None = None, cause: str = ""
    ) -> None:
        """Submit ``job`` to the first server from ``first`` on that takes it.

        ``lost_on``: the server the job was lost with (it is not tried again).
        """
        errors: list[str] = [cause] if cause else []
        for index in self._order_from(first):
            if index == lost_on:
                continue
            try:
                await self._connect(index)
                if not self._start_now(job, index):
                    raise ConnectError(f"connection to {self._slots[index].address} is closed")
            except ConnectError as exc:
                errors.append(str(exc))
                continue
            if lost_on is not None:
                self._loss(self._slots[lost_on].address).resubmitted += 1
            return
        if lost_on is not None:
            self._loss(self._slots[lost_on].address).failed += 1
        reason = "; ".join(errors)
        job._failed(ServerUnavailable(f"no server could take job {job.function}: {reason}"))

    def _job_lost(self, job: Job, index: int, exc: BaseException) -> None:
        created = job.handle is not None
        if not isinstance(exc, ConnectError) or self._closed:
            job._failed(exc)
            return
        loss = self._loss(self._slots[index].address)
        loss.jobs += 1
        if created and (job.background or not self.failover):
            loss.failed += 1
            job._failed(exc)
        else:
            log.info("job %s lost on %s, trying another server", job.function, exc)
            job._reset()
            self._spawn(self._launch(job, (index + 1) % len(self._slots), index, str(exc)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _epoch(
    at: float | None, delay: float | None, background: bool, priority: Priority
) -> int | None:
    if at is None and delay is None:
        return None
    if at is not None and delay is not None:
        raise ValueError("give at or delay, not both")
    if not background:
        raise ValueError("only background jobs can be scheduled (at/delay)")
    if priority is not Priority.NORMAL:
        raise ValueError("scheduled jobs (SUBMIT_JOB_EPOCH) have no priority")
    return int(at if at is not None else time.time() + (delay or 0.0))
