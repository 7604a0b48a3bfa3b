"""Plain values that jobs produce: updates streamed while a job runs, how it
ended, and what a server says about a job.

Strategy: these are immutable, I/O-free dataclasses shared by the pure
flows (``_flows``), the asyncio objects (``Job``) and the front ends, so a
CLI or a test can build and compare them without a connection.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobStatus(enum.Enum):
    """Where a job is, as far as its client knows."""

    #: not yet accepted by a server
    PENDING = "pending"
    #: accepted (JOB_CREATED); a background job stays here for its client
    CREATED = "created"
    #: the worker answered WORK_COMPLETE
    COMPLETE = "complete"
    #: the worker answered WORK_FAIL (or the server failed the job)
    FAILED = "failed"
    #: the worker answered WORK_EXCEPTION
    EXCEPTION = "exception"
    #: the job could not be submitted or followed (server down, refused, timeout)
    ERROR = "error"

    @property
    def done(self) -> bool:
        """Whether the job has ended (for a foreground job)."""
        return self not in (JobStatus.PENDING, JobStatus.CREATED)


@dataclass(frozen=True, slots=True)
class JobData:
    """A WORK_DATA chunk: part of the job's output, in order."""

    #: the bytes the worker sent
    data: bytes


@dataclass(frozen=True, slots=True)
class JobWarning:
    """A WORK_WARNING chunk."""

    #: the bytes the worker sent
    data: bytes


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A WORK_STATUS report: ``numerator`` of ``denominator`` done."""

    #: work done so far
    numerator: int
    #: work in total (0 when unknown)
    denominator: int

    @property
    def percent(self) -> float:
        """Progress in percent (0 when the denominator is 0)."""
        return 100.0 * self.numerator / self.denominator if self.denominator else 0.0


#: what a running foreground job streams to its client
JobUpdate = JobData | JobWarning | JobProgress


@dataclass(frozen=True, slots=True)
class JobCreated:
    """The server accepted the job and named it ``handle``."""

    #: the job handle, unique on that server
    handle: bytes


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a submit ended: COMPLETE (with data), FAILED, EXCEPTION or CREATED (bg)."""

    #: the final status
    status: JobStatus
    #: WORK_COMPLETE's or WORK_EXCEPTION's payload
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A server's answer to GET_STATUS or GET_STATUS_UNIQUE."""

    #: the handle (GET_STATUS) or the unique (GET_STATUS_UNIQUE) asked about
    key: bytes
    #: whether the server knows the job (queued or running)
    known: bool
    #: whether a worker is running it
    running: bool
    #: last WORK_STATUS numerator
    numerator: int
    #: last WORK_STATUS denominator
    denominator: int
    #: clients waiting on the job (GET_STATUS_UNIQUE only)
    clients: int | None = None
    #: the server that answered, as ``host:port``
    server: str | None = None


@dataclass(slots=True)
class ServerLoss:
    """What a client lost with one server (see ``AsyncClient.losses``).

    ``jobs`` counts the jobs in flight on the server's connection when it
    broke: submitted and not yet acknowledged, or foreground and not yet
    finished.  Each was then either re-submitted to another server or
    failed.  A background job the server had acknowledged is not counted:
    it is the server's from then on (keep it with ``gear serve --store``).
    """

    #: the server, as ``host:port``
    server: str
    #: times its connection broke while the client was open
    connections: int = 0
    #: jobs in flight there when it broke
    jobs: int = 0
    #: of those, re-submitted to another server (``failover``, or not yet acknowledged)
    resubmitted: int = 0
    #: of those, failed: no failover for them, or no other server took them
    failed: int = 0
