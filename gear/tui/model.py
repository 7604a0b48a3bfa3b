"""What the dashboard shows: one immutable ``Snapshot`` per refresh.

Strategy: every panel is drawn from a ``Snapshot`` and nothing else, so the
widgets never talk to the network and a fake source can draw any picture.
A value a server cannot tell is ``None`` here and "n/a" on screen; it is
never replaced by a guess.  Which server kind can tell what is one table,
``CAPABILITIES``, that the poller asks before sending a command and that
docs/top.md mirrors.  Rates carry a ``Quality`` so that a lower bound is
drawn as "≥", a rate that needs a second sample as "…", and one the server
cannot give as "n/a".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gear.client.admin import ServerKind

__all__ = [
    "CAPABILITIES",
    "ActionResult",
    "Capabilities",
    "FunctionOnServer",
    "FunctionView",
    "JobView",
    "Quality",
    "Rates",
    "ServerKind",
    "ServerView",
    "Snapshot",
    "WorkerView",
]


class Quality(enum.Enum):
    """How far a rate can be trusted."""

    #: measured from the server's own counters
    EXACT = "exact"
    #: a lower bound: some jobs came and went between two refreshes
    AT_LEAST = "at_least"
    #: known after the next refresh (rates need two samples)
    PENDING = "pending"
    #: the server cannot tell (C gearmand, Perl, or too many jobs to follow)
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Rates:
    """Jobs per second entering (submitted) and leaving (finished) a queue."""

    inbound: float = 0.0
    outbound: float = 0.0
    quality: Quality = Quality.UNAVAILABLE

    @property
    def known(self) -> bool:
        """Whether the numbers mean something (exact or a lower bound)."""
        return self.quality in (Quality.EXACT, Quality.AT_LEAST)

    def __add__(self, other: Rates) -> Rates:
        """The rates of two queues together; the weaker quality wins."""
        if not self.known or not other.known:
            if self.known or other.known:  # one side measured: a lower bound
                known = self if self.known else other
                return Rates(known.inbound, known.outbound, Quality.AT_LEAST)
            pending = Quality.PENDING in (self.quality, other.quality)
            return Rates(quality=Quality.PENDING if pending else Quality.UNAVAILABLE)
        quality = Quality.EXACT
        if Quality.AT_LEAST in (self.quality, other.quality):
            quality = Quality.AT_LEAST
        return Rates(self.inbound + other.inbound, self.outbound + other.outbound, quality)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a server kind's admin protocol can tell (survey §2, docs/top.md)."""

    #: ``prioritystatus``: queued jobs split by priority
    priority: bool
    #: gear's ``stats``: uptime, connections, exact job counters
    stats: bool
    #: gear's ``show queue``: every job with unique, priority, age, size
    show_queue: bool
    #: C's ``show jobs``: handles and queued/running, but not the function
    show_jobs: bool
    #: Perl's ``jobs``: function, unique, running or not, listeners
    perl_jobs: bool
    #: gear's ``show workers``: sleeping / awake / busy and for how long
    show_workers: bool
    #: ``cancel job HANDLE``
    cancel: bool
    #: ``drop function NAME``
    drop: bool
    #: ``maxqueue NAME [N | H N L]``
    maxqueue: bool


#: server kind -> what it can tell; UNKNOWN servers are asked the common core only
CAPABILITIES: dict[ServerKind, Capabilities] = {
    ServerKind.GEAR: Capabilities(
        priority=True,
        stats=True,
        show_queue=True,
        show_jobs=False,
        perl_jobs=False,
        show_workers=True,
        cancel=True,
        drop=True,
        maxqueue=True,
    ),
    ServerKind.GEARMAND: Capabilities(
        priority=True,
        stats=False,
        show_queue=False,
        show_jobs=True,
        perl_jobs=False,
        show_workers=False,
        cancel=True,
        drop=True,
        maxqueue=True,
    ),
    ServerKind.PERL: Capabilities(
        priority=False,
        stats=False,
        show_queue=False,
        show_jobs=False,
        perl_jobs=True,
        show_workers=False,
        cancel=False,
        drop=False,
        maxqueue=True,
    ),
    ServerKind.UNKNOWN: Capabilities(
        priority=False,
        stats=False,
        show_queue=False,
        show_jobs=False,
        perl_jobs=False,
        show_workers=False,
        cancel=False,
        drop=False,
        maxqueue=False,
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerView:
    """One server as the servers panel shows it."""

    address: str
    up: bool
    kind: ServerKind = ServerKind.UNKNOWN
    #: the ``version`` reply's value; None while down or never reached
    version: str | None = None
    #: seconds the ``status`` round trip took
    latency: float | None = None
    #: seconds since the server started (gear only)
    uptime: float | None = None
    #: open connections, admin ones included
    connections: int | None = None
    functions: int | None = None
    queued: int | None = None
    running: int | None = None
    #: connections that registered a function
    workers: int | None = None
    #: server-wide jobs/s (gear's exact counters)
    rates: Rates = field(default_factory=Rates)
    #: why it is down
    error: str = ""
    #: seconds since it was last seen up (None: up, or never seen)
    down_for: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionOnServer:
    """One function on one server: a row of the per-server breakdown."""

    server: str
    queued: int
    #: queued jobs per priority; None when the server has no ``prioritystatus``
    high: int | None
    normal: int | None
    low: int | None
    running: int
    workers: int
    #: workers asleep (PRE_SLEEP); None unless the server has ``show workers``
    sleeping: int | None
    rates: Rates = field(default_factory=Rates)

    @property
    def alert(self) -> bool:
        """Jobs wait here and no worker can take them (check_gearman's CRITICAL)."""
        return self.queued > 0 and self.workers == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionView:
    """One function across every server that knows it."""

    name: str
    queued: int
    high: int | None
    normal: int | None
    low: int | None
    running: int
    workers: int
    sleeping: int | None
    rates: Rates = field(default_factory=Rates)
    #: jobs/s out at each past refresh, oldest first (the sparkline)
    history: tuple[float, ...] = ()
    #: the per-server breakdown
    servers: tuple[FunctionOnServer, ...] = ()

    @property
    def alert(self) -> bool:
        """On some server, jobs wait and no worker is there for them."""
        if self.servers:
            return any(part.alert for part in self.servers)
        return self.queued > 0 and self.workers == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobView:
    """A job of the selected function (None: the server cannot tell)."""

    server: str
    handle: str | None
    function: str | None
    unique: str | None
    priority: str | None
    #: ``queued``, ``running`` or ``scheduled``; None when the server cannot
    #: tell (C gearmand's ``show jobs``: its 4th column marks background jobs)
    state: str | None
    #: seconds since submission
    age: float | None
    #: payload bytes
    size: int | None
    #: foreground clients waiting for it
    clients: int | None
    background: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerView:
    """A connection that registered at least one function."""

    server: str
    fd: int
    address: str
    client_id: str
    functions: tuple[str, ...]
    #: ``sleeping``, ``awake`` or ``busy``; None unless gear
    state: str | None = None
    #: seconds in that state
    state_seconds: float | None = None
    #: handles of the jobs it runs
    handles: tuple[str, ...] | None = None
    #: seconds since it connected
    connected: float | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What one server answered to cancel, drop or maxqueue."""

    server: str
    ok: bool
    #: ``OK`` or the server's error, for a notification
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything one refresh learnt."""

    #: wall-clock time (epoch seconds) of the refresh
    taken: float
    servers: tuple[ServerView, ...]
    functions: tuple[FunctionView, ...] = ()
    #: the function whose jobs are listed
    selected: str | None = None
    jobs: tuple[JobView, ...] = ()
    #: jobs of the selected function that exist but are not listed
    jobs_hidden: int = 0
    #: what the jobs panel cannot show, e.g. C gearmand's missing function names
    jobs_note: str = ""
    workers: tuple[WorkerView, ...] = ()

    @property
    def servers_up(self) -> int:
        """How many servers answered."""
        return sum(1 for s in self.servers if s.up)

    @property
    def alerts(self) -> int:
        """Functions with waiting jobs and no worker."""
        return sum(1 for f in self.functions if f.alert)

    @property
    def rates(self) -> Rates:
        """Jobs/s over all servers."""
        up = [s.rates for s in self.servers if s.up]
        if not up:
            return Rates()
        total = up[0]
        for rates in up[1:]:
            total = total + rates
        return total

    def function(self, name: str | None) -> FunctionView | None:
        """The function called ``name``, if listed."""
        return next((f for f in self.functions if f.name == name), None)
