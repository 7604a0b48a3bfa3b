"""Counters the admin protocol and the dashboard read.

Strategy: plain integers bumped by the broker; nothing here is computed on
the hot path beyond an increment.
"""

from __future__ import annotations


class Stats:
    """Server-wide counters since start."""

    __slots__ = (
        "connections_total",
        "jobs_cancelled",
        "jobs_completed",
        "jobs_exceptions",
        "jobs_failed",
        "jobs_requeued",
        "jobs_submitted",
        "jobs_timed_out",
        "started",
        "store_errors",
    )

    def __init__(self, started: float) -> None:
        #: clock time of the start
        self.started = started
        #: connections accepted
        self.connections_total = 0
        #: new jobs created (coalesced submits not counted)
        self.jobs_submitted = 0
        #: jobs ended by WORK_COMPLETE
        self.jobs_completed = 0
        #: jobs ended by WORK_FAIL, a retry limit or a timeout
        self.jobs_failed = 0
        #: jobs ended by WORK_EXCEPTION
        self.jobs_exceptions = 0
        #: jobs cancelled by the admin
        self.jobs_cancelled = 0
        #: jobs put back in the queue after their worker left
        self.jobs_requeued = 0
        #: jobs failed by CAN_DO_TIMEOUT
        self.jobs_timed_out = 0
        #: durable store operations that failed
        self.store_errors = 0
