"""The job table: functions, jobs by handle, their queues, and the timer heap.

Strategy: ``JobTable`` is plain state with the operations that keep its
indexes consistent: handles, one FIFO deque per function and priority, the
coalescing index, queue limits.  It sends nothing and wakes no one; the
broker's ``Lifecycle`` and packet handlers compose it with the dispatcher
(``gear.server.dispatch``).  ``Timers`` is the one heap of deadlines (epoch
jobs coming due, job timeouts).  Pure, no I/O: time is passed in.

Scheduling follows gearmand 2.0: priority is global across a worker's
functions (HIGH, then NORMAL, then LOW), FIFO within a priority, and a
worker's functions are scanned round-robin so no function starves.
"""

from __future__ import annotations

import heapq
from typing import Final

from gear.server.state import Function, Job, Session

TIMER_DUE: Final = 0
TIMER_TIMEOUT: Final = 1
#: dead deque entries of one priority swept once they pass this and outnumber the live ones
_SWEEP_AFTER: Final = 32


class JobTable:
    """Every function and live job, and the queues of runnable jobs."""

    def __init__(self, handle_prefix: bytes, first_handle_id: int, max_queue: int = 0) -> None:
        #: functions by name, in the order they were first seen
        self.functions: dict[bytes, Function] = {}
        #: every live job by handle
        self.jobs: dict[bytes, Job] = {}
        #: queue limits by function name, kept for functions not yet created
        self.max_queue: dict[bytes, tuple[int, int, int]] = {}
        #: the limit of a function no admin ``maxqueue`` set (``--max-queue``; 0 = none)
        self.default_max_queue = max_queue
        #: handles are ``<handle_prefix><n>``
        self.handle_prefix = handle_prefix
        #: the number in the last handle made
        self.last_id = first_handle_id

    # ------------------------------------------------------------ functions --
    def function(self, name: bytes) -> Function:
        """The function called ``name``, created when first seen."""
        f = self.functions.get(name)
        if f is not None:
            return f
        f = Function(name)
        default = self.default_max_queue
        f.max_queue = self.max_queue.get(name, (default, default, default))
        self.functions[name] = f
        return f

    def set_max_queue(self, name: bytes, limits: tuple[int, int, int]) -> None:
        """Limit a function's queue, whether or not it exists yet."""
        if any(limits) or self.default_max_queue:
            self.max_queue[name] = limits  # zeros override a --max-queue default
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

    def running_count(self) -> int:
        """Jobs a worker is running right now."""
        return sum(f.running for f in self.functions.values())

    # -------------------------------------------------------------- handles --
    def new_handle(self) -> bytes:
        """A handle never handed out before."""
        self.last_id += 1
        return b"%s%d" % (self.handle_prefix, self.last_id)

    def claim_handle(self, handle: bytes) -> None:
        """New handles must not repeat a restored one (a fixed --job-handle-prefix)."""
        prefix = self.handle_prefix
        tail = handle[len(prefix) :]
        if handle.startswith(prefix) and tail.isdigit():
            self.last_id = max(self.last_id, int(tail))

    def by_unique(self, unique: bytes) -> Job | None:
        """The live job of any function coalesced under ``unique``."""
        for f in self.functions.values():
            job = f.uniques.get(unique)
            if job is not None:
                return job
        return None

    # --------------------------------------------------------------- queues --
    @staticmethod
    def enqueue(job: Job, head: bool) -> None:
        """Put a job in its function's queue (the caller wakes a sleeper)."""
        f = job.function
        job.queued = True
        if head:
            f.queues[job.priority].appendleft(job)
        else:
            f.queues[job.priority].append(job)
        f.queued[job.priority] += 1

    @staticmethod
    def unqueue(job: Job) -> None:
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
        if f.dead[priority] > _SWEEP_AFTER and f.dead[priority] > f.queued[priority]:
            live = [j for j in f.queues[priority] if j.queued]
            f.queues[priority].clear()
            f.queues[priority].extend(live)
            f.dead[priority] = 0

    def forget(self, job: Job) -> None:
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

    def next_job(self, s: Session) -> Job | None:
        """The job ``s`` should run next: best priority first, its functions in turn."""
        funcs = s.funcs
        n = len(funcs)
        if n == 1:  # the common case, without the rotation arithmetic
            f = funcs[0]
            high, normal, low = f.queued
            if normal and not high:
                return self.pop(f, 1)
            if high:
                return self.pop(f, 0)
            return self.pop(f, 2) if low else None
        start = s.rr
        for priority in range(3):  # not a tuple literal: compiled, that is a new tuple per call
            for i in range(n):
                idx = (start + i) % n
                f = funcs[idx]
                if f.queued[priority]:
                    s.rr = (idx + 1) % n
                    return self.pop(f, priority)
        return None

    @staticmethod
    def pop(f: Function, priority: int) -> Job:
        """The head live job of a queue known to hold one."""
        queue = f.queues[priority]
        job = queue.popleft()
        while not job.queued:
            f.dead[priority] -= 1
            job = queue.popleft()
        job.queued = False
        f.queued[priority] -= 1
        return job


class Timers:
    """One heap of (deadline, kind, job) entries; stale ones are skipped when due.

    A job's ``timer_seq`` is bumped whenever its current run ends, so an
    entry made for an earlier run no longer matches and is dropped.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Job, int]] = []
        self._seq = 0

    def push(self, when: float, kind: int, job: Job) -> None:
        """Call back for ``job`` at ``when`` (clock seconds)."""
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, job, job.timer_seq))

    @property
    def pending(self) -> bool:
        """Whether any entry (possibly stale) is pending."""
        return bool(self._heap)

    def next_deadline(self) -> float | None:
        """The earliest deadline, if any."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[int, Job, int] | None:
        """The earliest entry due by ``now`` as (kind, job, the job's timer_seq then)."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return None
        _, _, kind, job, seq = heapq.heappop(heap)
        return kind, job, seq
