"""``AsyncWorker``: take jobs from every server and run registered functions.

Strategy: one loop task per server.  A loop connects (with ``Backoff`` on
failure, forever — a worker outlives server restarts), announces its
functions (SET_CLIENT_ID, CAN_DO / CAN_DO_TIMEOUT), then repeats: reserve a
slot of ``concurrency``, GRAB_JOB_UNIQ, and either start the job as its own
task or — on NO_JOB — give the slot back, send PRE_SLEEP and wait for the
server's NOOP.  There is no polling.

Stopping is graceful: ``stop()`` ends the loops (a loop waiting for a grab
reply still gets it and runs what it was given), ``run`` waits for running
jobs to send their results, then closes the connections.  Burst mode
(``run(until_idle=True)``) stops once every server's last grab said NO_JOB
and nothing runs; ``max_jobs`` stops after that many jobs (grabs are
reserved so concurrency never overshoots it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from gear.errors import ConnectError, JobException, JobFailed, ServerError, ServerUnavailable
from gear.protocol.constants import PacketType
from gear.protocol.packets import Packet

from ._flows import grab_flow
from ._transport import Backoff, Transport
from .client import as_bytes
from .servers import ServerAddress, ServerSpec, resolve_servers
from .worker_job import WorkerJob

log = logging.getLogger("gear.worker")
P = PacketType

#: what a function returns: the WORK_COMPLETE payload
Result: TypeAlias = bytes | str | None
#: a registered function: sync (run in a thread) or async
Handler: TypeAlias = Callable[[WorkerJob], Awaitable[Result] | Result]


@dataclass(frozen=True)
class _Function:
    name: str
    handler: Handler
    timeout: float | None
    is_async: bool


class _Slot:
    """One server's connection state."""

    def __init__(self, address: ServerAddress, backoff: Backoff) -> None:
        self.address = address
        self.backoff = backoff
        self.transport: Transport | None = None
        self.wake = asyncio.Event()
        #: the last grab said NO_JOB and no NOOP came since (or disconnected)
        self.idle = False
        #: a GRAB is in flight: the loop must not be cancelled
        self.grabbing = False
        self.task: asyncio.Task[None] | None = None


class AsyncWorker:
    """A Gearman worker over one or several servers.

    Args:
        servers: as for ``AsyncClient``.
        client_id: sent with SET_CLIENT_ID (shown by the admin ``workers``).
        concurrency: jobs run at once, over all servers.
        connect_timeout: seconds to wait for a TCP connection.
        backoff_max: longest wait, in seconds, between reconnect attempts.
        tls: connect over TLS with this context (``gear.client.tls.client_context``).

    Raises:
        ValueError: a server spec cannot be parsed, or concurrency < 1.
    """

    def __init__(
        self,
        servers: ServerSpec | Iterable[ServerSpec] | None = None,
        *,
        client_id: str | None = None,
        concurrency: int = 1,
        connect_timeout: float = 5.0,
        backoff_max: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        #: the servers, in the order given
        self.servers = resolve_servers(servers)
        #: the TLS context of every connection (None: plain TCP)
        self.tls = tls
        #: sent as SET_CLIENT_ID
        self.client_id = client_id
        #: jobs run at once
        self.concurrency = concurrency
        #: TCP connect timeout
        self.connect_timeout = connect_timeout
        #: jobs finished since ``run`` started
        self.jobs_done = 0
        self._backoff_max = backoff_max
        self._functions: dict[str, _Function] = {}
        self._slots: list[_Slot] = []
        self._busy = 0
        self._capacity = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._until_idle = False
        self._max_jobs: int | None = None
        self._taken = 0
        self._jobs: set[asyncio.Task[None]] = set()

    # -------------------------------------------------------- registering --
    def function(self, name: str, *, timeout: float | None = None) -> Callable[[Handler], Handler]:
        """Decorator form of ``register``."""

        def decorate(handler: Handler) -> Handler:
            self.register(name, handler, timeout=timeout)
            return handler

        return decorate

    def register(self, name: str, handler: Handler, *, timeout: float | None = None) -> None:
        """Run ``handler(job)`` for jobs of function ``name``.

        The handler's return value (bytes, str or None) is the WORK_COMPLETE
        payload; raising ``JobFailed`` sends WORK_FAIL; raising
        ``JobException(data)`` or any other exception sends WORK_EXCEPTION.
        A plain function runs in a thread; a coroutine function in the loop.

        Args:
            timeout: seconds a job may run: registered with CAN_DO_TIMEOUT and
                enforced here (the job is cancelled and fails).  A threaded
                handler cannot be interrupted; its late result is dropped.

        Raises:
            ValueError: an empty name or a non-positive timeout.
        """
        if not name:
            raise ValueError("function name must not be empty")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        call = handler.__call__ if not inspect.isfunction(handler) else handler  # type: ignore[operator]
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)
        self._functions[name] = _Function(name, handler, timeout, is_async)

    # ------------------------------------------------------------- running --
    async def run(self, *, until_idle: bool = False, max_jobs: int | None = None) -> int:
        """Take and run jobs until ``stop()``; return the number of jobs run.

        Args:
            until_idle: return once no server has a job left (burst mode).
            max_jobs: return after this many jobs.

        Raises:
            ServerUnavailable: no server could be reached at start.
            ValueError: no function is registered.
        """
        if not self._functions:
            raise ValueError("register at least one function before run()")
        self._reset(until_idle, max_jobs)
        loop = asyncio.get_running_loop()
        self._slots = [_Slot(a, Backoff(maximum=self._backoff_max)) for a in self.servers]
        opened = await asyncio.gather(*(self._open(s) for s in self._slots), return_exceptions=True)
        if all(isinstance(t, BaseException) for t in opened):
            raise ServerUnavailable("; ".join(str(e) for e in opened))
        for slot, transport in zip(self._slots, opened, strict=True):
            if isinstance(transport, Transport):
                slot.backoff.succeeded()
            else:
                slot.backoff.failed(loop.time())
                slot.idle = True
            pre = transport if isinstance(transport, Transport) else None
            slot.task = asyncio.create_task(self._serve(slot, pre))
        try:
            self._check_done()
            await self._stop.wait()
        except asyncio.CancelledError:
            for task in self._jobs:
                task.cancel()
            raise
        finally:
            await self._shutdown()
        return self.jobs_done

    def stop(self) -> None:
        """Stop taking jobs; ``run`` returns once running jobs have finished."""
        self._stopping = True
        self._stop.set()
        self._capacity.set()
        for slot in self._slots:
            slot.wake.set()

    def _reset(self, until_idle: bool, max_jobs: int | None) -> None:
        self._stop = asyncio.Event()
        self._capacity = asyncio.Event()
        self._stopping = False
        self._until_idle = until_idle
        self._max_jobs = max_jobs
        self._taken = 0
        self._busy = 0
        self.jobs_done = 0

    async def _shutdown(self) -> None:
        self.stop()
        loops = [s.task for s in self._slots if s.task is not None]
        for slot in self._slots:
            if slot.task is not None and not slot.grabbing:
                slot.task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        if self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)
        for slot in self._slots:
            if slot.transport is not None:
                await slot.transport.close()
                slot.transport = None

    async def _open(self, slot: _Slot) -> Transport:
        def closed(transport: Transport, exc: ConnectError) -> None:
            slot.wake.set()

        def unsolicited(packet: Packet) -> None:
            if packet.type == P.NOOP:
                slot.wake.set()
            elif packet.args[:1] == (b"PERMISSION_DENIED",):
                reason = b" ".join(packet.args).decode("utf-8", "replace")
                log.warning("%s refused: %s", slot.address, reason)
            else:
                log.debug("%s: %s %r", slot.address, packet.name, packet.args)

        transport = await Transport.open(
            slot.address,
            timeout=self.connect_timeout,
            on_unsolicited=unsolicited,
            on_closed=closed,
            tls=self.tls,
        )
        if self.client_id:
            transport.send(Packet.build(P.SET_CLIENT_ID, self.client_id))
        for fn in self._functions.values():
            if fn.timeout is None:
                transport.send(Packet.build(P.CAN_DO, fn.name))
            else:
                # milliseconds, at least 1000: below that gear reads seconds
                # (Perl and Go workers send seconds) and C gearmand rounds up
                ms = max(1000, round(fn.timeout * 1000))
                transport.send(Packet.build(P.CAN_DO_TIMEOUT, fn.name, ms))
        return transport

    async def _serve(self, slot: _Slot, transport: Transport | None) -> None:
        """One server's loop: (re)connect, then grab and sleep until stopped."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if transport is None:
                delay = slot.backoff.delay()
                if delay and await self._sleep(delay):
                    return
                try:
                    transport = await self._open(slot)
                except ConnectError as exc:
                    slot.backoff.failed(loop.time())
                    log.info("%s (retrying)", exc)
                    continue
                log.info("connected to %s", slot.address)
                slot.backoff.succeeded()
            slot.transport = transport
            slot.idle = False
            try:
                await self._grab_loop(slot, transport)
                return  # stopping: the connection stays open for running jobs
            except ConnectError as exc:
                log.warning("%s", exc)
            await transport.close()
            slot.transport = transport = None
            slot.idle = True
            slot.backoff.failed(loop.time())
            self._check_done()

    async def _sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless stopped first; True when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)
        return self._stopping

    async def _grab_loop(self, slot: _Slot, transport: Transport) -> None:
        while not self._stopping:
            if not await self._reserve():
                return
            slot.grabbing = True
            try:
                assigned = await transport.request(grab_flow())
            except ServerError as exc:
                log.warning("%s refused a grab: %s", slot.address, exc)
                assigned = None
            except ConnectError:
                self._release()
                raise
            finally:
                slot.grabbing = False
            if assigned is not None:
                slot.idle = False
                self._start_job(slot, transport, assigned)
                continue
            self._release()
            slot.wake.clear()
            slot.idle = True
            self._check_done()
            if transport.closed:
                raise ConnectError(f"connection to {slot.address} lost")
            transport.send(Packet.build(P.PRE_SLEEP))
            await slot.wake.wait()
            if transport.closed:
                raise ConnectError(f"connection to {slot.address} lost")
            slot.idle = False

    async def _reserve(self) -> bool:
        """Wait for a free slot and take it; False when stopping."""
        while True:
            if self._stopping:
                return False
            limit = self._max_jobs
            if limit is not None and self._taken >= limit:
                return False
            if self._busy < self.concurrency:
                self._busy += 1
                self._taken += 1
                return True
            self._capacity.clear()
            await self._capacity.wait()

    def _release(self) -> None:
        self._busy -= 1
        self._taken -= 1
        self._capacity.set()

    def _check_done(self) -> None:
        limit = self._max_jobs
        if limit is not None and self.jobs_done >= limit:
            self.stop()
        elif self._until_idle and self._busy == 0 and all(s.idle for s in self._slots):
            self.stop()

    # ---------------------------------------------------------------- jobs --
    def _start_job(self, slot: _Slot, transport: Transport, assigned: Packet) -> None:
        if assigned.type == P.JOB_ASSIGN:
            handle, function, data = assigned.args
            unique = b""
        else:
            handle, function, unique, data = assigned.args
        job = WorkerJob(handle, function.decode(), unique, data, slot.address, transport)
        task = asyncio.create_task(self._run_job(job))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_job(self, job: WorkerJob) -> None:
        try:
            packet = await self._call(job)
            if not job._transport.send(packet):
                log.warning("result of %s lost: connection to %s closed", job, job.server)
        finally:
            self._busy -= 1
            self.jobs_done += 1
            self._capacity.set()
            self._check_done()

    async def _call(self, job: WorkerJob) -> Packet:
        """Run the job's handler; the packet that reports how it ended."""
        fn = self._functions.get(job.function)
        handle = job.handle
        if fn is None:
            log.error("%s: no function %r registered", job.server, job.function)
            return Packet.build(P.WORK_FAIL, handle)
        try:
            result = await asyncio.wait_for(self._invoke(fn, job), fn.timeout)
        except JobFailed:
            return Packet.build(P.WORK_FAIL, handle)
        except TimeoutError:
            log.warning("%s timed out after %s s", job, fn.timeout)
            return Packet.build(P.WORK_FAIL, handle)
        except JobException as exc:
            return Packet.build(
                P.WORK_EXCEPTION, handle, as_bytes(exc.args[0] if exc.args else b"")
            )
        except Exception as exc:
            log.info("%s raised %s", job, exc, exc_info=True)
            text = f"{type(exc).__name__}: {exc}"
            return Packet.build(P.WORK_EXCEPTION, handle, text)
        return Packet.build(P.WORK_COMPLETE, handle, as_bytes(result))

    async def _invoke(self, fn: _Function, job: WorkerJob) -> Result:
        if fn.is_async:
            result: Any = await fn.handler(job)  # type: ignore[misc]
        else:
            result = await asyncio.to_thread(fn.handler, job)
        if isinstance(result, bytearray | memoryview):
            result = bytes(result)
        if result is not None and not isinstance(result, bytes | str):
            raise TypeError(f"function {fn.name} returned {type(result).__name__}, not bytes/str")
        return result
