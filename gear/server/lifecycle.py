"""A job's life after its submit: admitted, stored, requeued, timed out, ended.

Strategy: ``Lifecycle`` composes the job table, the dispatcher, the timer
heap, the durable store and the counters into the steps every packet
handler shares: queue a job and wake a worker, acknowledge a durable
submit once its row is committed, queue a job again when its worker is
lost, tell a job's clients how it ended and drop it everywhere, cancel,
and fire due timers.  Pure, no I/O: time comes from the injected clock.

A job taken from a worker (timed out, or ended by its WORK_EXCEPTION) is
remembered in ``Session.abandoned``: the worker's late WORK_* packets for
it reach no one and get no error (Perl's worker dies on an ERROR reply).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from gear.protocol.constants import PT, ErrorCode
from gear.protocol.packets import response
from gear.server.dispatch import Dispatch, Outbox
from gear.server.jobs import TIMER_DUE, JobTable, Timers
from gear.server.state import Job, Session
from gear.server.stats import Stats
from gear.server.store import Store, StoredJob

#: abandoned handles remembered per worker (a worker that never answers cannot grow it)
ABANDONED_KEPT: Final = 64


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The routing rules a server can tune."""

    #: handles are ``<prefix><n>``; the server builds ``H:<host>:``
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
    #: queue limit of a function no admin ``maxqueue`` set (0 = none)
    max_queue: int = 0


class Lifecycle:
    """The steps of a job's life that more than one packet handler takes."""

    def __init__(
        self,
        config: BrokerConfig,
        clock: Callable[[], float],
        table: JobTable,
        dispatch: Dispatch,
        store: Store,
        stats: Stats,
        sessions: dict[int, Session],
    ) -> None:
        self.config = config
        #: connected sessions by id (the broker's; an acknowledgement skips the gone)
        self.sessions = sessions
        self.clock = clock
        self.table = table
        self.dispatch = dispatch
        self.outbox: Outbox = dispatch.outbox
        self.timers = Timers()
        self.store = store
        self.stats = stats

    # --------------------------------------------------------------- queue --
    def queue(self, job: Job, head: bool) -> None:
        """Put a job in its function's queue and wake a sleeping worker for it."""
        self.table.enqueue(job, head)
        f = job.function
        if f.sleepers:
            self.dispatch.wake(f)

    def admit(self, job: Job) -> None:
        """Queue a new job now, or schedule it when it is due later."""
        job.admitted = True
        if job.when > self.clock():
            job.function.scheduled += 1
            self.timers.push(job.when, TIMER_DUE, job)
        else:
            self.queue(job, head=False)

    # ---------------------------------------------------------- durability --
    def pin_durably(self, s: Session, job: Job) -> None:
        """A background submit joined a job the store does not hold yet."""
        if job.acks is not None:
            job.acks.append(s)  # a store write is already under way
            return
        job.acks = [s]
        job.background = True
        self.store.add(job, lambda error: self.stored(job, error))

    def stored(self, job: Job, error: str | None) -> None:
        """The store's answer for a background job: acknowledge its submitters."""
        acks = job.acks or []
        job.acks = None
        live = self.table.jobs.get(job.handle) is job
        sessions_left = [s for s in acks if s.id in self.sessions]
        if error is None:
            job.stored = True
            for s in sessions_left:
                self.outbox.send(s, response(PT.JOB_CREATED, job.handle))
            if live and not job.admitted:
                self.admit(job)
            return
        self.stats.store_errors += 1
        for s in sessions_left:
            self.outbox.error(s, ErrorCode.QUEUE_ERROR, f"Could not store the job: {error}")
        if not live:
            return
        if job.admitted:
            job.background = False  # keep running it for its foreground clients
            if not job.clients and job.queued:
                self.table.unqueue(job)
                self.table.forget(job)
        else:
            self.table.forget(job)

    def restore(self, record: StoredJob) -> Job:
        """Re-create a job read back from the store at start-up (before serving)."""
        table = self.table
        f = table.function(record.function)
        key = record.data if record.unique == b"-" else record.unique
        job = Job(
            record.handle, f, record.unique, key, record.data, record.priority, True, record.created
        )
        job.when = record.when
        job.reducer = record.reducer
        job.attempts = record.attempts
        job.stored = True
        table.claim_handle(record.handle)
        limit = self.config.job_retries
        if limit >= 0 and record.attempts >= max(limit, 1):
            # it died with its worker as often as allowed before the restart
            self.stats.jobs_failed += 1
            f.tallies[job.priority].failed += 1
            self.store.remove(job)
            return job
        table.jobs[job.handle] = job
        if key:
            f.uniques.setdefault(key, job)
        self.admit(job)
        return job

    # ------------------------------------------------------------- endings --
    def requeue(self, job: Job) -> None:
        """The worker running ``job`` is gone: queue it again, or fail it."""
        f = job.function
        f.running -= 1
        job.worker = None
        job.timer_seq += 1
        job.numerator = job.denominator = 0
        if not job.clients and not job.background:
            self.table.forget(job)  # nobody waits for it any more: do not run it again
            return
        limit = self.config.job_retries
        if limit >= 0 and job.attempts >= max(limit, 1):
            self.stats.jobs_failed += 1
            f.tallies[job.priority].failed += 1
            self.end(job, response(PT.WORK_FAIL, job.handle), None)
            return
        self.stats.jobs_requeued += 1
        self.queue(job, head=True)

    def end(self, job: Job, plain: bytes, with_exceptions: bytes | None) -> None:
        """Finish a job: tell its clients and drop it everywhere."""
        send = self.outbox.send
        for client in job.clients:
            if with_exceptions is not None and client.exceptions:
                send(client, with_exceptions)
            else:
                send(client, plain)
        self.drop(job)

    def drop(self, job: Job) -> None:
        """Drop an ended job from the store (if it is there) and every index."""
        if job.stored or job.acks is not None:
            self.store.remove(job)
        self.table.forget(job)

    @staticmethod
    def abandon(w: Session, handle: bytes) -> None:
        """Remember a job taken from ``w``: its late WORK_* packets are not errors."""
        abandoned = w.abandoned
        if abandoned is None:
            abandoned = w.abandoned = {}
        abandoned[handle] = None
        if len(abandoned) > ABANDONED_KEPT:
            del abandoned[next(iter(abandoned))]

    def cancel(self, handle: bytes) -> bool:
        """Cancel a job: its clients get WORK_FAIL and it leaves every index.

        A running job cannot be stopped (the protocol has no way to tell the
        worker), so, as C gearmand does, its clients are failed and
        released at once and the worker's eventual result is accepted
        quietly, reaching no one.
        """
        job = self.table.jobs.get(handle)
        if job is None:
            return False
        self.stats.jobs_cancelled += 1
        job.function.tallies[job.priority].cancelled += 1
        fail = response(PT.WORK_FAIL, job.handle)
        if job.worker is not None:
            for client in job.clients:
                self.outbox.send(client, fail)
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
            self.table.unqueue(job)
        else:
            job.function.scheduled -= 1
        self.end(job, fail, None)
        return True

    # -------------------------------------------------------------- timers --
    def on_timer(self) -> None:
        """Run every timer that is due: release epoch jobs, time out jobs."""
        now = self.clock()
        table = self.table
        while (entry := self.timers.pop_due(now)) is not None:
            kind, job, seq = entry
            if table.jobs.get(job.handle) is not job or job.timer_seq != seq:
                continue
            if kind == TIMER_DUE:
                job.function.scheduled -= 1
                self.queue(job, head=False)
            elif job.worker is not None:
                self.time_out(job)

    def time_out(self, job: Job) -> None:
        """A job ran past its CAN_DO_TIMEOUT: it fails, and its worker's late result is dropped."""
        worker = job.worker
        assert worker is not None
        worker.running.pop(job.handle, None)
        self.abandon(worker, job.handle)
        job.function.running -= 1
        job.worker = None
        job.timer_seq += 1
        self.stats.jobs_timed_out += 1
        self.stats.jobs_failed += 1
        tally = job.function.tallies[job.priority]
        tally.timed_out += 1
        tally.failed += 1
        self.end(job, response(PT.WORK_FAIL, job.handle), None)
