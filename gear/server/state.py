"""The objects the routing core keeps: jobs, functions and sessions.

Strategy: plain slotted classes with no behaviour beyond small helpers, so
the broker (the only writer) reads as the protocol's rules.  A function owns
three FIFO deques (HIGH, NORMAL, LOW).  Removing a job from the middle of a
deque would be O(n), so a cancelled or abandoned job is only marked
(``job.queued = False``) and skipped when it reaches the head; the per
priority counters are kept exact at every step, so ``status`` never counts
a dead job (C gearmand does, until a worker reaches it).
"""

from __future__ import annotations

from collections import deque
from typing import Any

#: upper bounds (seconds) of the queue-wait and run-time histogram buckets;
#: a last bucket (+Inf) holds what is above them all.  Twelve: each is two
#: samples per function in every scrape.  (Not ``Final``: mypyc
#: would inline the name into ``Histogram``'s default and fail to set it.)
LATENCY_BOUNDS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    60.0,
    300.0,
)


class Job:
    """One job, queued, scheduled or running."""

    __slots__ = (
        "acks",
        "admitted",
        "attempts",
        "background",
        "clients",
        "created",
        "data",
        "denominator",
        "function",
        "handle",
        "key",
        "numerator",
        "priority",
        "queued",
        "reducer",
        "started",
        "stored",
        "timer_seq",
        "unique",
        "when",
        "worker",
    )

    def __init__(
        self,
        handle: bytes,
        function: Function,
        unique: bytes,
        key: bytes,
        data: bytes,
        priority: int,
        background: bool,
        created: float,
    ) -> None:
        #: the job handle, ``H:<host>:<n>``
        self.handle = handle
        #: the function the job belongs to
        self.function = function
        #: the unique id as submitted (may be empty, or ``-``)
        self.unique = unique
        #: the coalescing key: the unique, or the data when the unique is ``-``
        self.key = key
        #: the workload
        self.data = data
        #: Priority.HIGH (0), NORMAL (1) or LOW (2), as a plain int
        self.priority = priority
        #: True once any submit of it was a background one (it then outlives clients)
        self.background = background
        #: sessions waiting for its results (foreground submitters)
        self.clients: list[Session] = []
        #: when it was submitted (clock seconds)
        self.created = created
        #: when it may run (epoch seconds) for epoch and scheduled jobs, else 0
        self.when = 0.0
        #: True while it sits in its function's queue
        self.queued = False
        #: the worker session running it, or None
        self.worker: Session | None = None
        #: when its current run started
        self.started = 0.0
        #: how many runs were started
        self.attempts = 0
        #: last WORK_STATUS numerator and denominator
        self.numerator = 0
        self.denominator = 0
        #: the reducer of a map/reduce job (empty for plain jobs)
        self.reducer = b""
        #: bumped on every assignment, so a stale timeout timer is recognised
        self.timer_seq = 0
        #: True once a durable store holds it
        self.stored = False
        #: background submitters waiting for the store before JOB_CREATED
        self.acks: list[Session] | None = None
        #: True once it entered the queue (or the schedule)
        self.admitted = False


class Tally:
    """Job counts of one function at one priority, since the function was created.

    Plain int attributes of a compiled class: bumping one on the hot path
    is a machine add, no allocation.  ``gear.server.metrics`` reads them
    when ``/metrics`` is scraped.
    """

    __slots__ = (
        "cancelled",
        "coalesced",
        "completed",
        "exceptions",
        "failed",
        "submitted",
        "timed_out",
    )

    def __init__(self) -> None:
        #: new jobs created (a coalesced submit is not one)
        self.submitted = 0
        #: submits that joined a queued or running job with the same unique
        self.coalesced = 0
        #: jobs ended by WORK_COMPLETE
        self.completed = 0
        #: jobs ended by WORK_FAIL, the retry limit or a timeout
        self.failed = 0
        #: jobs ended by WORK_EXCEPTION
        self.exceptions = 0
        #: jobs failed because their worker ran past its CAN_DO_TIMEOUT
        self.timed_out = 0
        #: jobs cancelled by the admin
        self.cancelled = 0


class Histogram:
    """Observations counted in fixed buckets (``LATENCY_BOUNDS`` unless told).

    ``observe`` is a scan of the bounds (most waits and runs are short, so
    it stops early) and one list increment; the bucket counts are not
    cumulative, the exposition sums them.
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS) -> None:
        #: upper bounds of the buckets, ascending
        self.bounds = bounds
        #: observations per bucket; the last one is above every bound
        self.counts = [0] * (len(bounds) + 1)
        #: the sum of all observed values
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one value."""
        i = 0
        for bound in self.bounds:
            if value <= bound:
                break
            i += 1
        self.counts[i] += 1
        self.total += value


class Function:
    """A function name with its queues, workers and limits."""

    __slots__ = (
        "dead",
        "finished",
        "max_queue",
        "name",
        "promised",
        "queue_wait",
        "queued",
        "queues",
        "run_time",
        "running",
        "scheduled",
        "sleepers",
        "submitted",
        "tallies",
        "uniques",
        "workers",
    )

    def __init__(self, name: bytes) -> None:
        #: the function name
        self.name = name
        #: one FIFO per priority; may hold dead entries (see module strategy).
        #: ``tuple[X, ...]``, not ``tuple[X, X, X]``: mypyc keeps a fixed-length
        #: tuple attribute unboxed and builds a new tuple object each time it is
        #: indexed by a variable (three allocations per job, found in its ops)
        self.queues: tuple[deque[Job], ...] = (deque(), deque(), deque())
        #: live queued jobs per priority (runnable now)
        self.queued = [0, 0, 0]
        #: jobs created for it, and jobs of it that ended, since it was created
        self.submitted = 0
        self.finished = 0
        #: entries per priority deque that are no longer queued (skipped, swept)
        self.dead = [0, 0, 0]
        #: jobs waiting for their time (epoch / scheduled)
        self.scheduled = 0
        #: jobs being run by a worker
        self.running = 0
        #: coalescing index: key -> job, for jobs with a non-empty unique
        self.uniques: dict[bytes, Job] = {}
        #: worker sessions that registered it (insertion-ordered set)
        self.workers: dict[Session, None] = {}
        #: sleeping workers that can be woken for it, oldest sleeper first
        self.sleepers: dict[Session, None] = {}
        #: workers woken (NOOP sent) that have not grabbed yet
        self.promised = 0
        #: per-priority queue limits (0 = none), copied from the broker's table
        self.max_queue: tuple[int, ...] = (0, 0, 0)
        #: job counts per priority (HIGH, NORMAL, LOW), for the metrics (typed as
        #: ``queues`` is, so compiled code indexes it in place)
        self.tallies: tuple[Tally, ...] = (Tally(), Tally(), Tally())
        #: seconds from submission (or due time) to a job's first start
        self.queue_wait = Histogram()
        #: seconds from a job's start to its WORK_COMPLETE/FAIL/EXCEPTION
        self.run_time = Histogram()

    @property
    def runnable(self) -> int:
        """Jobs queued and due now, all priorities."""
        q = self.queued
        return q[0] + q[1] + q[2]

    @property
    def total(self) -> int:
        """Jobs queued, scheduled and running (the ``status`` TOTAL column)."""
        return self.runnable + self.scheduled + self.running


class Session:
    """One connection: a client, a worker, an admin tool, or all of these."""

    __slots__ = (
        "abandoned",
        "abilities",
        "all_yours",
        "client_id",
        "closing",
        "connected",
        "exceptions",
        "fd",
        "funcs",
        "grants",
        "id",
        "io",
        "out",
        "peer",
        "rr",
        "running",
        "sleeping",
        "state_since",
        "waiting",
        "woken",
        "woken_tick",
    )

    def __init__(self, sid: int, peer: str, fd: int, connected: float) -> None:
        #: a number unique within the broker
        self.id = sid
        #: the peer's address (IP, or path)
        self.peer = peer
        #: the socket's file descriptor number (shown by ``workers``)
        self.fd = fd
        #: when it connected
        self.connected = connected
        #: the I/O layer's handle for this connection (opaque to the broker)
        self.io: Any = None
        #: bytes waiting to be written
        self.out: list[bytes] = []
        #: set when the connection must be closed after the pending output
        self.closing = False
        #: the SET_CLIENT_ID value, sanitised
        self.client_id = b"-"
        #: registered functions -> CAN_DO_TIMEOUT in seconds (0 = none), oldest first
        self.abilities: dict[Function, float] = {}
        #: ``abilities`` keys as a tuple, rebuilt when they change (the grab loop reads it)
        self.funcs: tuple[Function, ...] = ()
        #: round-robin start index into ``funcs`` for grabs
        self.rr = 0
        #: jobs this worker is running, by handle
        self.running: dict[bytes, Job] = {}
        #: foreground jobs this client waits on, by handle
        self.waiting: dict[bytes, Job] = {}
        #: True after PRE_SLEEP until woken or a grab
        self.sleeping = False
        #: True after a NOOP until the next grab
        self.woken = False
        #: the broker's wake-up tick when the NOOP was sent (see ``expire_wakeups``)
        self.woken_tick = 0
        #: handles of jobs taken from this worker (timed out, or ended by its
        #: WORK_EXCEPTION) whose late WORK_* packets are accepted quietly
        self.abandoned: dict[bytes, None] | None = None
        #: when the worker's state (sleeping / awake / busy) last changed
        self.state_since = connected
        #: OPTION_REQ exceptions was sent
        self.exceptions = False
        #: ALL_YOURS was sent
        self.all_yours = False
        #: what the peer may do (``gear.server.acl.Grants``); None = anything
        self.grants: Any = None
