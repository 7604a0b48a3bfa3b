"""Group commit shared by the durable stores: queue, batch, write, acknowledge.

Strategy: the broker's calls (``add``, ``started``, ``remove``) only append
an operation to a list in memory and set an event; they never wait.  One
commit task per store takes the whole list, hands it to the back-end's
``_write`` (one transaction) and, once that returned, calls every ``done``
of the batch with None, then the server's ``flush`` so the JOB_CREATED
replies go out.  Everything that arrives while a batch is being written
goes into the next one: the batch size grows with the load, one commit (one
fsync) per batch.  Before it takes a batch the task lets the loop turn
(once after waking up, a few times after acknowledging a batch), so
requests already on their way join it: fewer, fuller commits under load.

``compact`` turns a batch's operations into the rows to insert, the attempt
counts to update and the handles to delete, keeping the last word per job
handle (a job started and removed in one batch is only deleted), so a
back-end writes each table row at most once per transaction.

Attempt counts settle first: a job's new count is queued only once it has
been running for ``ATTEMPT_GRACE`` seconds (or at ``close``).  Most jobs end
sooner, and their row is then deleted without being updated first: one row
change per job instead of two (PostgreSQL's drain +50%).  The price is that
a run cut short by a crash within its first second is not counted: the job
comes back with one more try, never with fewer, and never lost.

Failure: when ``_write`` raises, the batch's adds are answered with the
reason (the broker sends ERROR QUEUE_ERROR; nothing was acknowledged), its
``started``/``remove`` operations are kept in front of the next batch, and
the commit task waits a growing pause (up to a second) before it tries
again; the log says when the store fails and when it recovered.  ``close``
writes what is pending, trying once more if the store is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gear.server.state import Histogram, Job
from gear.server.store import StoredJob

log = logging.getLogger("gear.server.store")

#: operation kinds, the first item of each queued operation
ADD = 0
STARTED = 1
REMOVE = 2

#: a stored row: handle, function, unique, priority, data, when, attempts, reducer, created
Row = tuple[bytes, bytes, bytes, int, bytes, float, int, bytes, float]
#: (kind, handle, the row for ADD / the attempt count for STARTED / None for REMOVE)
Op = tuple[int, bytes, Row | int | None]
Done = Callable[[str | None], None]

#: first pause after a failed batch, and the longest, in seconds
RETRY_FIRST = 0.05
RETRY_MAX = 1.0
#: loop turns to wait after acknowledging a batch (see ``_gather``)
GATHER_TURNS = 4
#: seconds a job runs before its attempt count is written (module docstring)
ATTEMPT_GRACE = 1.0
#: how often a store that stays down is logged again, in seconds
LOG_EVERY = 30.0
#: upper bounds of the batch size histogram (operations per commit)
BATCH_BOUNDS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0)


class StoreError(OSError):
    """A store that cannot be opened or read (the server cannot start with it)."""


def row_of(job: Job) -> Row:
    """The row that keeps ``job``."""
    return (
        job.handle,
        job.function.name,
        job.unique,
        job.priority,
        job.data,
        job.when,
        job.attempts,
        job.reducer,
        job.created,
    )


def stored_job(row: tuple[bytes, bytes, bytes, int, bytes, float, int, bytes, float]) -> StoredJob:
    """A row read back, as the broker's ``restore`` takes it."""
    handle, function, unique, priority, data, when, attempts, reducer, created = row
    return StoredJob(
        handle=bytes(handle),
        function=bytes(function),
        unique=bytes(unique),
        data=bytes(data),
        priority=int(priority),
        when=float(when),
        attempts=int(attempts),
        reducer=bytes(reducer),
        created=float(created),
    )


@dataclass(slots=True)
class Changes:
    """What one transaction writes: the net effect of a batch per job handle."""

    #: new rows (replacing any row with the same handle), in submission order
    inserts: list[Row] = field(default_factory=list)
    #: (attempts, handle) of rows already stored
    updates: list[tuple[int, bytes]] = field(default_factory=list)
    #: handles whose rows go
    deletes: list[bytes] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes)


def compact(ops: list[Op]) -> Changes:
    """The net changes of ``ops``, applied in order, at most one per handle."""
    inserts: dict[bytes, Row] = {}
    updates: dict[bytes, int] = {}
    deletes: dict[bytes, None] = {}
    for kind, handle, arg in ops:
        if kind == ADD:
            assert isinstance(arg, tuple)
            inserts[handle] = arg
            updates.pop(handle, None)
            deletes.pop(handle, None)
        elif kind == STARTED:
            assert isinstance(arg, int)
            row = inserts.get(handle)
            if row is not None:
                inserts[handle] = (*row[:6], arg, *row[7:])
            elif handle not in deletes:
                updates[handle] = arg
        else:
            inserts.pop(handle, None)
            updates.pop(handle, None)
            deletes[handle] = None
    return Changes(
        list(inserts.values()),
        [(attempts, handle) for handle, attempts in updates.items()],
        list(deletes),
    )


def describe(exc: BaseException) -> str:
    """A one-line reason for a client or the log."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:200]


def _no_flush() -> None:
    return None


class BatchingStore:
    """A durable ``Store`` that writes in batches; back-ends add the I/O.

    A back-end implements ``_connect`` (open, create the table), ``_read``
    (every row, oldest first), ``_write(ops)`` (one transaction; raise on
    failure) and ``_disconnect``.
    """

    durable = True

    def __init__(self) -> None:
        #: operations waiting for the next batch
        self._ops: list[Op] = []
        #: the ``done`` callbacks of the adds in ``_ops``, in order
        self._dones: list[Done] = []
        #: job handle -> (attempt count, when it started): counts not yet
        #: queued, oldest start first (``ATTEMPT_GRACE``)
        self._settling: dict[bytes, tuple[int, float]] = {}
        self.attempt_grace = ATTEMPT_GRACE
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush: Callable[[], None] = _no_flush
        self._closing = False
        #: batches written, and batches that failed (read by tests and logs)
        self.batches = 0
        self.failed_batches = 0
        #: adds refused because the store failed
        self.refused = 0
        self._down_since: float | None = None
        self._logged_at = 0.0
        #: seconds each successful commit took, and operations per commit (metrics)
        self.commit_seconds = Histogram()
        self.batch_sizes = Histogram(BATCH_BOUNDS)

    @property
    def failing(self) -> bool:
        """True from a failed commit until the next one succeeds."""
        return self._down_since is not None

    # ------------------------------------------------------ Store protocol --
    async def open(self, flush: Callable[[], None]) -> None:
        """Open the back-end and start the commit task."""
        self._flush = flush
        await self._connect()
        self._task = asyncio.create_task(self._commit_loop(), name=f"{self!r} commits")

    async def load(self) -> list[StoredJob]:
        """Every stored job, oldest first."""
        return await self._read()

    def add(self, job: Job, done: Done) -> None:
        """Queue ``job`` for the next batch; ``done`` is called after its commit."""
        if self._closing:
            done("the server is shutting down")
            return
        self._ops.append((ADD, job.handle, row_of(job)))
        self._dones.append(done)
        self._wakeup.set()

    def started(self, job: Job) -> None:
        """Note the job's new attempt count; it is queued once it settles."""
        settling = self._settling
        settling.pop(job.handle, None)  # a run again: its count starts over, last
        settling[job.handle] = (job.attempts, time.monotonic())
        if len(settling) == 1:
            self._wakeup.set()  # the commit task may wait with no deadline: give it one

    def remove(self, job: Job) -> None:
        """Queue the removal of the job's row."""
        self._settling.pop(job.handle, None)
        self._ops.append((REMOVE, job.handle, None))
        self._wakeup.set()

    async def close(self) -> None:
        """Write what is pending (one last try if the store is down), then disconnect."""
        self._closing = True
        self._wakeup.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            self._task = None
            await self._disconnect()

    # ---------------------------------------------------------- back-end --
    async def _connect(self) -> None:
        raise NotImplementedError

    async def _read(self) -> list[StoredJob]:
        raise NotImplementedError

    async def _write(self, ops: list[Op]) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------- commit loop --
    async def _commit_loop(self) -> None:
        pause = RETRY_FIRST
        while True:
            self._settle(float("inf") if self._closing else time.monotonic())
            if not self._ops:
                if self._closing:
                    return
                await self._idle()
                continue
            ops, dones = self._ops, self._dones
            self._ops, self._dones = [], []
            began = time.monotonic()
            try:
                await self._write(ops)
            except Exception as exc:  # any back-end failure: refuse, keep the rest, retry
                self._failed(ops, dones, exc)
                if self._closing:
                    self._give_up()
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    # a pause before the next try; close() cuts it short
                    await asyncio.wait_for(self._closing_soon(), pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            pause = RETRY_FIRST
            self.batches += 1
            self.commit_seconds.observe(time.monotonic() - began)
            self.batch_sizes.observe(float(len(ops)))
            if self._down_since is not None:
                self._recovered()
            self._answer(dones, None)
            if dones:
                await self._gather()

    def _settle(self, now: float) -> None:
        """Queue the attempt counts of the jobs running for ``attempt_grace``."""
        settling = self._settling
        grace = self.attempt_grace
        while settling:
            handle = next(iter(settling))
            attempts, since = settling[handle]
            if now - since < grace:
                return
            del settling[handle]
            self._ops.append((STARTED, handle, attempts))

    async def _idle(self) -> None:
        """Wait for operations, or for the oldest running job's count to settle."""
        if self._settling:
            _, since = next(iter(self._settling.values()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(since + self.attempt_grace - time.monotonic()):
                    await self._wakeup.wait()
        else:
            await self._wakeup.wait()
        self._wakeup.clear()
        # one more turn of the loop (a poll) before taking the batch, so
        # requests that arrived meanwhile join it: fewer, larger commits
        # under load, one loop turn of latency when idle
        await asyncio.sleep(0)

    async def _gather(self) -> None:
        """A few loop turns after acknowledgements, before the next batch.

        Clients answered just now send their next submits within moments;
        waiting for them (a few polls, no timer) turns two half-full
        batches per round trip into one full one: ~20% more durable
        submits per second under load, nothing noticeable when idle.
        """
        for _ in range(GATHER_TURNS):
            await asyncio.sleep(0)

    async def _closing_soon(self) -> None:
        while not self._closing:
            await self._wakeup.wait()
            self._wakeup.clear()
        self._wakeup.set()

    def _answer(self, dones: list[Done], reason: str | None) -> None:
        for done in dones:
            try:
                done(reason)
            except Exception:  # a broker bug must not stop the commits
                log.exception("store acknowledgement failed")
        self._flush()

    def _failed(self, ops: list[Op], dones: list[Done], exc: Exception) -> None:
        reason = describe(exc)
        self.failed_batches += 1
        self.refused += len(dones)
        kept = [op for op in ops if op[0] != ADD]
        self._ops[:0] = kept
        now = time.monotonic()
        if self._down_since is None or now - self._logged_at >= LOG_EVERY:
            log.error(
                "%s failed (%s): %d submits refused with QUEUE_ERROR so far, "
                "%d updates kept for retry; retrying",
                self,
                reason,
                self.refused,
                len(self._ops),
            )
            self._logged_at = now
        if self._down_since is None:
            self._down_since = now
        self._answer(dones, reason)

    def _recovered(self) -> None:
        assert self._down_since is not None
        log.warning(
            "%s works again after %.1f s (%d submits were refused)",
            self,
            time.monotonic() - self._down_since,
            self.refused,
        )
        self._down_since = None

    def _give_up(self) -> None:
        """Shutting down with the store failing: refuse what is left, drop the rest."""
        ops, dones = self._ops, self._dones
        self._ops, self._dones = [], []
        updates = sum(1 for op in ops if op[0] != ADD)
        if updates:
            log.error(
                "%s: %d job updates could not be written before shutdown; "
                "those jobs may run again after a restart",
                self,
                updates,
            )
        self._answer(dones, "the server is shutting down and its store is failing")
