"""Typed rows and results of admin replies (the values ``admin_replies`` parses into).

Strategy: frozen, slotted, keyword-only dataclasses, one per reply shape of
C gearmand 1.1.20, Perl Gearman::Server and gear's extensions; pure data
with no parsing, so front ends can import them without the parsers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ServerKind(enum.Enum):
    """Which server implementation answers, told from its ``version`` reply."""

    GEAR = "gear"
    GEARMAND = "gearmand"
    PERL = "perl"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionStatus:
    """A ``status`` line (all servers)."""

    function: str
    #: the server's TOTAL column: queued + running
    total: int
    running: int
    #: connected workers that registered the function
    workers: int

    @property
    def queued(self) -> int:
        """Jobs waiting: TOTAL - RUNNING."""
        return max(self.total - self.running, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityStatus:
    """A ``prioritystatus`` line (C gearmand, gear): queued jobs per priority."""

    function: str
    high: int
    normal: int
    low: int
    workers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    """A ``workers`` line: one connection (workers, clients and admin alike)."""

    fd: int
    address: str
    #: SET_CLIENT_ID value; empty when the server shows ``-``
    client_id: str
    functions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """A ``show jobs`` line (C gearmand, gear)."""

    handle: str
    retries: int
    #: C's IGNORE_JOB flag (a cancelled job not yet freed)
    ignored: bool
    #: JOB_QUEUED: waiting (True) or running (False)
    queued: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UniqueJob:
    """A ``show unique jobs`` line; empty for a job without a unique."""

    unique: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedJob:
    """A ``show queue`` line (gear)."""

    handle: str
    function: str
    unique: str
    #: ``high``, ``normal`` or ``low``
    priority: str
    #: ``queued``, ``running`` or ``scheduled``
    state: str
    #: seconds since submission
    age: float
    #: payload bytes
    size: int
    #: foreground clients waiting
    clients: int
    background: bool
    #: epoch second it becomes due, 0 for ordinary jobs
    when: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDetail:
    """A ``show workers`` line (gear)."""

    fd: int
    address: str
    client_id: str
    #: ``sleeping``, ``awake`` or ``busy``
    state: str
    #: seconds in that state
    state_seconds: float
    #: handles of the jobs it runs
    handles: tuple[str, ...]
    connected_seconds: float
    functions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCounters:
    """A ``show functions`` line (gear): jobs in and out since the function was created."""

    function: str
    submitted: int
    finished: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxQueue:
    """A ``show maxqueue`` line (gear); 0 = unlimited."""

    function: str
    high: int
    normal: int
    low: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Stat:
    """A ``stats`` line (gear)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PerlJob:
    """A ``jobs`` line (Perl Gearman::Server)."""

    function: str
    unique: str
    #: address of the worker running it; empty while queued
    worker: str
    #: clients listening for its result
    listeners: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientJob:
    """A ``clients`` entry (Perl): one job a client waits on, or none."""

    client: str
    function: str
    unique: str
    worker: str


# ----------------------------------------------------- single-line results --
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerVersion:
    """The ``version`` reply and the server kind told from it."""

    version: str
    kind: ServerKind


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerPid:
    """The ``getpid`` reply."""

    pid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VerboseLevel:
    """The ``verbose`` reply: the server's log level name."""

    level: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCancelled:
    """``cancel job HANDLE`` was accepted."""

    handle: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCreated:
    """``create function NAME`` was accepted."""

    function: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionDropped:
    """``drop function NAME`` was accepted."""

    function: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxQueueSet:
    """``maxqueue FUNCTION [sizes]`` was accepted; None = limit removed."""

    function: str
    high: int | None
    normal: int | None
    low: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownAccepted:
    """``shutdown [graceful]`` was accepted."""

    graceful: bool


Row = (
    FunctionStatus
    | PriorityStatus
    | WorkerInfo
    | JobInfo
    | UniqueJob
    | QueuedJob
    | WorkerDetail
    | FunctionCounters
    | MaxQueue
    | Stat
    | PerlJob
    | ClientJob
)
Single = (
    ServerVersion
    | ServerPid
    | VerboseLevel
    | JobCancelled
    | FunctionCreated
    | FunctionDropped
    | MaxQueueSet
    | ShutdownAccepted
)
Result = tuple[Row, ...] | Single
