"""The state of the routing core and the operations its handlers share.

Strategy: ``BrokerCore`` owns the indexes (functions, jobs, sessions), the
queues, the wake-up bookkeeping, job endings, durability acknowledgements,
timers and the admin operations.  ``gear.server.broker.Broker`` adds the
packet handlers on top.  Like the broker, this module is pure: no I/O, no
asyncio; time comes from the injected clock.

Wake-ups are bounded: a queued job NOOPs a sleeping worker only while the
function has more runnable jobs than woken-but-not-yet-grabbing workers
(``Function.promised``), so one job costs at most one NOOP however many
workers sleep.  A promise that is not kept within a tick of the shell's
wake-up clock (``expire_wakeups``) is taken back and another sleeper is
woken, so one hung worker cannot starve the others.

A job taken from a worker (timed out, or ended by its WORK_EXCEPTION) is
remembered in ``Session.abandoned``: the worker's late WORK_* packets for
it reach no one and get no error (Perl's worker dies on an ERROR reply).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from gear.protocol.constants import PT, ErrorCode, PacketType
from gear.protocol.packets import response
from gear.server.state import Function, Job, Session
from gear.server.stats import Stats
from gear.server.store import MemoryStore, Store, StoredJob

P = PacketType
TIMER_DUE: Final = 0
TIMER_TIMEOUT: Final = 1
#: abandoned handles remembered per worker (a worker that never answers cannot grow it)
ABANDONED_KEPT: Final = 64
_NOOP: Final = response(P.NOOP)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The routing rules a server can tune."""

    #: handles are ``<prefix><n>``; the server builds ``H:<host>.<token>:``
    handle_prefix: bytes = b"H:localhost:"
    #: runs a job may have before it fails to its clients (-1 = no limit)
    job_retries: int = -1
    #: most NOOPs one queued job sends (0 = as many as there are runnable jobs)
    worker_wakeup: int = 0
    #: honour OPTION_REQ "exceptions"
    exceptions: bool = True
    #: the first job gets ``<prefix><first_handle_id + 1>``
    first_handle_id: int = 0
    #: unit of CAN_DO_TIMEOUT values: ``ms``, ``s`` or ``auto`` (see ``can_do_timeout``)
    timeout_unit: str = "auto"


def can_do_timeout(raw: bytes, unit: str) -> float:
    """The seconds a CAN_DO_TIMEOUT value allows a job to run (0 = no limit).

    The protocol names no unit.  libgearman passes the caller's number
    through and C gearmand reads milliseconds with a floor of 1000;
    Perl's Gearman::Worker, PHP's documented ``addFunction`` and
    gearman-go send seconds.  ``auto`` reads values below 1000 as seconds
    (as milliseconds C would round them all up to one second, which no
    caller can have meant) and larger ones as milliseconds.
    """
    n = c_atoi(raw)
    if n <= 0:
        return 0.0
    if unit == "s" or (unit == "auto" and n < 1000):
        return float(n)
    return max(n, 1000) / 1000.0


def c_u32(raw: bytes) -> int:
    """C's ``(uint32_t)atoi(raw)``: how gearmand stores WORK_STATUS numbers."""
    return c_atoi(raw) & 0xFFFFFFFF


def c_atoi(raw: bytes) -> int:
    """C's atoi: the leading decimal digits (after an optional sign), else 0."""
    digits = raw.strip()
    n = 0
    sign = 1
    if digits[:1] in (b"-", b"+"):
        sign = -1 if digits[:1] == b"-" else 1
        digits = digits[1:]
    for ch in digits:
        if not 48 <= ch <= 57:
            break
        n = n * 10 + ch - 48
    return sign * n


class BrokerCore:
    """The broker's state and the operations every packet handler shares."""

    def __init__(
        self,
        config: BrokerConfig,
        clock: Callable[[], float],
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store: Store = store or MemoryStore()
        #: the store's ``durable`` and the config's handle prefix, read on every submit
        self._durable = self.store.durable
        self._handle_prefix = config.handle_prefix
        #: functions by name, in the order they were first seen
        self.functions: dict[bytes, Function] = {}
        #: every live job by handle
        self.jobs: dict[bytes, Job] = {}
        #: connected sessions by id
        self.sessions: dict[int, Session] = {}
        #: sessions with output waiting; the I/O shell drains it
        self.dirty: list[Session] = []
        #: queue limits by function name, kept for functions not yet created
        self.max_queue: dict[bytes, tuple[int, int, int]] = {}
        self.stats = Stats(clock())
        #: NOOPs sent to sleeping workers (a native int: no allocation per wake-up)
        self.wakeups_sent = 0
        self._timers: list[tuple[float, int, int, Job, int]] = []
        self._timer_seq = 0
        self._next_id = config.first_handle_id
        #: the wake-up clock: bumped by ``expire_wakeups``, stamped on each NOOP
        self._wake_tick = 0
        self._next_session = 0

    # ------------------------------------------------------------ sessions --
    def connect(self, peer: str, fd: int) -> Session:
        """Register a new connection."""
        self._next_session += 1
        s = Session(self._next_session, peer, fd, self.clock())
        self.sessions[s.id] = s
        self.stats.connections_total += 1
        return s

    def send(self, s: Session, data: bytes) -> None:
        """Queue bytes for a session."""
        if not s.out:
            self.dirty.append(s)
        s.out.append(data)

    def error(self, s: Session, code: str, text: str) -> None:
        """Send an ERROR packet."""
        self.send(s, response(PT.ERROR, code.encode(), text.encode()))

    def function(self, name: bytes) -> Function:
        """The function called ``name``, created when first seen."""
        f = self.functions.get(name)
        if f is not None:
            return f
        f = Function(name)
        f.max_queue = self.max_queue.get(name, (0, 0, 0))
        self.functions[name] = f
        return f

    # ---------------------------------------------------------- durability --
    def _pin_durably(self, s: Session, job: Job) -> None:
        """A background submit joined a job the store does not hold yet."""
        if job.acks is not None:
            job.acks.append(s)  # a store write is already under way
            return
        job.acks = [s]
        job.background = True
        self.store.add(job, lambda error: self._stored(job, error))

    def _stored(self, job: Job, error: str | None) -> None:
        """The store's answer for a background job: acknowledge its submitters."""
        acks = job.acks or []
        job.acks = None
        live = self.jobs.get(job.handle) is job
        if error is None:
            job.stored = True
            for s in acks:
                if s.id in self.sessions:
                    self.send(s, response(PT.JOB_CREATED, job.handle))
            if live and not job.admitted:
                self._admit(job)
            return
        self.stats.store_errors += 1
        for s in acks:
            if s.id in self.sessions:
                self.error(s, ErrorCode.QUEUE_ERROR, f"Could not store the job: {error}")
        if not live:
            return
        if job.admitted:
            job.background = False  # keep running it for its foreground clients
            if not job.clients and job.queued:
                self._unqueue(job)
                self._forget(job)
        else:
            self._forget(job)

    def _admit(self, job: Job) -> None:
        """Queue a new job now, or schedule it when it is due later."""
        job.admitted = True
        if job.when > self.clock():
            job.function.scheduled += 1
            self._push_timer(job.when, TIMER_DUE, job)
        else:
            self._enqueue(job, head=False)

    def restore(self, record: StoredJob) -> Job:
        """Re-create a job read back from the store at start-up (before serving)."""
        f = self.function(record.function)
        key = record.data if record.unique == b"-" else record.unique
        job = Job(
            record.handle, f, record.unique, key, record.data, record.priority, True, record.created
        )
        job.when = record.when
        job.reducer = record.reducer
        job.attempts = record.attempts
        job.stored = True
        self._claim_handle(record.handle)
        limit = self.config.job_retries
        if limit >= 0 and record.attempts >= max(limit, 1):
            # it died with its worker as often as allowed before the restart
            self.stats.jobs_failed += 1
            f.tallies[job.priority].failed += 1
            self.store.remove(job)
            return job
        self.jobs[job.handle] = job
        if key:
            f.uniques.setdefault(key, job)
        self._admit(job)
        return job

    def _claim_handle(self, handle: bytes) -> None:
        """New handles must not repeat a restored one (a fixed --job-handle-prefix)."""
        prefix = self.config.handle_prefix
        tail = handle[len(prefix) :]
        if handle.startswith(prefix) and tail.isdigit():
            self._next_id = max(self._next_id, int(tail))

    # --------------------------------------------------------------- queues --
    def _enqueue(self, job: Job, head: bool) -> None:
        f = job.function
        job.queued = True
        if head:
            f.queues[job.priority].appendleft(job)
        else:
            f.queues[job.priority].append(job)
        f.queued[job.priority] += 1
        if f.sleepers:
            self._wake(f)

    def _unqueue(self, job: Job) -> None:
        """Take a queued job out of the counts; its deque entry is skipped later.

        Dead entries are swept out of the deque once they outnumber the live
        ones (and are more than a few), so they cannot pile up when no
        worker comes by: amortised O(1) per job.
        """
        job.queued = False
        f = job.function
        priority = job.priority
        f.queued[priority] -= 1
        f.dead[priority] += 1
        if f.dead[priority] > 32 and f.dead[priority] > f.queued[priority]:
            live = [j for j in f.queues[priority] if j.queued]
            f.queues[priority].clear()
            f.queues[priority].extend(live)
            f.dead[priority] = 0

    def _forget(self, job: Job) -> None:
        """Drop every index of a job that has ended.

        A dict never shrinks its table on deletion, so once the last job is
        gone the emptied dicts are replaced by new ones: after a burst of a
        million jobs drains, their memory goes back (gearmand #284).
        """
        f = job.function
        f.finished += 1
        jobs = self.jobs
        del jobs[job.handle]
        if job.key and f.uniques.get(job.key) is job:
            del f.uniques[job.key]
            if not f.uniques:
                f.uniques = {}
        if job.clients:
            for client in job.clients:
                client.waiting.pop(job.handle, None)
            job.clients = []
        if not jobs:
            self.jobs = {}

    def _next_job(self, s: Session) -> Job | None:
        """The job ``s`` should run next: best priority first, its functions in turn."""
        funcs = s.funcs
        n = len(funcs)
        if n == 1:  # the common case, without the rotation arithmetic
            f = funcs[0]
            high, normal, low = f.queued
            if normal and not high:
                return self._pop(f, 1)
            if high:
                return self._pop(f, 0)
            return self._pop(f, 2) if low else None
        start = s.rr
        for priority in range(3):  # not a tuple literal: compiled, that is a new tuple per call
            for i in range(n):
                idx = (start + i) % n
                f = funcs[idx]
                if f.queued[priority]:
                    s.rr = (idx + 1) % n
                    return self._pop(f, priority)
        return None

    @staticmethod
    def _pop(f: Function, priority: int) -> Job:
        """The head live job of a queue known to hold one."""
        queue = f.queues[priority]
        job = queue.popleft()
        while not job.queued:
            f.dead[priority] -= 1
            job = queue.popleft()
        job.queued = False
        f.queued[priority] -= 1
        return job

    # ------------------------------------------------------------ wake-ups --
    def _stop_sleeping(self, s: Session) -> None:
        if s.sleeping:
            s.sleeping = False
            for f in s.funcs:
                f.sleepers.pop(s, None)

    def _wake(self, f: Function) -> None:
        cap = self.config.worker_wakeup
        woken = 0
        sleepers = f.sleepers
        while sleepers and f.runnable > f.promised:
            self._noop(next(iter(sleepers)))
            woken += 1
            if woken == cap:
                break

    def _noop(self, w: Session) -> None:
        self._stop_sleeping(w)
        w.woken = True
        w.woken_tick = self._wake_tick
        for f in w.funcs:
            f.promised += 1
        self.wakeups_sent += 1
        self.send(w, _NOOP)

    def _release(self, w: Session, rewake: bool) -> None:
        """The woken worker ``w`` is no longer a promise to its functions."""
        if not w.woken:
            return
        w.woken = False
        for f in w.funcs:
            f.promised -= 1
        if rewake:
            for f in w.funcs:
                if f.sleepers and f.runnable > f.promised:
                    self._wake(f)

    def expire_wakeups(self) -> None:
        """Take back NOOPs unanswered for a whole tick; wake other sleepers instead.

        The I/O shell calls this every ``WAKEUP_TICK`` seconds.  A woken
        worker that never grabs (a hung process, or a forked Perl worker
        that died while its parent keeps the socket open) would otherwise
        hold its promise forever, and the function's other sleeping
        workers would never hear of the job.  Released workers are not
        sleepers, so a dead one is not woken again.
        """
        self._wake_tick += 1
        cutoff = self._wake_tick - 1
        for f in self.functions.values():
            if f.promised and f.runnable:
                for w in [w for w in f.workers if w.woken and w.woken_tick < cutoff]:
                    self._release(w, rewake=True)

    # ------------------------------------------------------------- endings --
    @staticmethod
    def _abandon(w: Session, handle: bytes) -> None:
        """Remember a job taken from ``w``: its late WORK_* packets are not errors."""
        abandoned = w.abandoned
        if abandoned is None:
            abandoned = w.abandoned = {}
        abandoned[handle] = None
        if len(abandoned) > ABANDONED_KEPT:
            del abandoned[next(iter(abandoned))]

    def _requeue(self, job: Job) -> None:
        """The worker running ``job`` is gone: queue it again, or fail it."""
        f = job.function
        f.running -= 1
        job.worker = None
        job.timer_seq += 1
        job.numerator = job.denominator = 0
        if not job.clients and not job.background:
            self._forget(job)  # nobody waits for it any more: do not run it again
            return
        limit = self.config.job_retries
        if limit >= 0 and job.attempts >= max(limit, 1):
            self.stats.jobs_failed += 1
            f.tallies[job.priority].failed += 1
            self._end(job, response(PT.WORK_FAIL, job.handle), None)
            return
        self.stats.jobs_requeued += 1
        self._enqueue(job, head=True)

    def _end(self, job: Job, plain: bytes, with_exceptions: bytes | None) -> None:
        """Finish a job: tell its clients and drop it everywhere."""
        for client in job.clients:
            if with_exceptions is not None and client.exceptions:
                self.send(client, with_exceptions)
            else:
                self.send(client, plain)
        if job.stored or job.acks is not None:
            self.store.remove(job)
        self._forget(job)

    # --------------------------------------------------------------- admin --
    def cancel(self, handle: bytes) -> bool:
        """Cancel a job: its clients get WORK_FAIL and it leaves every index.

        A running job cannot be stopped (the protocol has no way to tell the
        worker), so, as C gearmand does, its clients are failed and
        released at once and the worker's eventual result is accepted
        quietly, reaching no one.
        """
        job = self.jobs.get(handle)
        if job is None:
            return False
        self.stats.jobs_cancelled += 1
        job.function.tallies[job.priority].cancelled += 1
        fail = response(PT.WORK_FAIL, job.handle)
        if job.worker is not None:
            for client in job.clients:
                self.send(client, fail)
                client.waiting.pop(job.handle, None)
            job.clients = []
            if job.stored or job.acks is not None:
                self.store.remove(job)
                job.stored = False
            job.background = False
            f = job.function
            if job.key and f.uniques.get(job.key) is job:
                del f.uniques[job.key]
            return True
        if job.queued:
            self._unqueue(job)
        else:
            job.function.scheduled -= 1
        self._end(job, fail, None)
        return True

    def set_max_queue(self, name: bytes, limits: tuple[int, int, int]) -> None:
        """Limit a function's queue, whether or not it exists yet."""
        if any(limits):
            self.max_queue[name] = limits
        else:
            self.max_queue.pop(name, None)
        f = self.functions.get(name)
        if f is not None:
            f.max_queue = limits

    def drop_function(self, name: bytes) -> str | None:
        """Forget a function; the reason it cannot be dropped, or None."""
        f = self.functions.get(name)
        if f is None:
            return "function not found"
        if f.workers or f.running:
            return "there are still connected workers or executing clients"
        if f.runnable or f.scheduled:
            return "there are still queued jobs"
        del self.functions[name]
        return None

    # -------------------------------------------------------------- timers --
    def _push_timer(self, when: float, kind: int, job: Job) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, kind, job, job.timer_seq))

    @property
    def has_timers(self) -> bool:
        """Whether any timer (possibly stale) is pending."""
        return bool(self._timers)

    def next_deadline(self) -> float | None:
        """When ``on_timer`` should next be called (clock seconds), if ever."""
        return self._timers[0][0] if self._timers else None

    def on_timer(self) -> None:
        """Run every timer that is due: release epoch jobs, time out jobs."""
        now = self.clock()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, kind, job, seq = heapq.heappop(timers)
            if self.jobs.get(job.handle) is not job or job.timer_seq != seq:
                continue
            if kind == TIMER_DUE:
                job.function.scheduled -= 1
                self._enqueue(job, head=False)
            elif job.worker is not None:
                self._time_out(job)

    def _time_out(self, job: Job) -> None:
        worker = job.worker
        assert worker is not None
        worker.running.pop(job.handle, None)
        self._abandon(worker, job.handle)
        job.function.running -= 1
        job.worker = None
        job.timer_seq += 1
        self.stats.jobs_timed_out += 1
        self.stats.jobs_failed += 1
        tally = job.function.tallies[job.priority]
        tally.timed_out += 1
        tally.failed += 1
        self._end(job, response(PT.WORK_FAIL, job.handle), None)

    # ---------------------------------------------------------------- misc --
    def running_count(self) -> int:
        """Jobs a worker is running right now."""
        return sum(f.running for f in self.functions.values())
