"""Where background jobs are kept so they survive a restart.

Strategy: the broker talks to one ``Store``.  A store that is not durable
(``MemoryStore``, the default, as gearmand's builtin queue) is never asked to
add anything: jobs live only in the broker.  A durable store gets every new
background job with ``add(job, done)`` and calls ``done(None)`` once the job
is on disk (or ``done(reason)`` when it cannot be stored); the broker sends
JOB_CREATED only then, which is what makes group commit possible: a store
may gather the jobs that arrive while one commit is in flight into the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gear.server.state import Job


class Store(Protocol):
    """What the broker needs of a job store."""

    #: True when jobs must be acknowledged by the store before JOB_CREATED
    durable: bool

    def add(self, job: Job, done: Callable[[str | None], None]) -> None:
        """Keep a new background job; call ``done(None)`` once it is safe."""

    def remove(self, job: Job) -> None:
        """Forget a background job that ended."""


class MemoryStore:
    """Keeps nothing: jobs live in the broker's memory only."""

    durable = False

    def add(self, job: Job, done: Callable[[str | None], None]) -> None:
        done(None)

    def remove(self, job: Job) -> None:
        return None
