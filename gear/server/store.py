"""Where background jobs are kept so they survive a restart.

Strategy: the broker talks to one ``Store``.  A store that is not durable
(``MemoryStore``, the default, as gearmand's builtin queue) is never asked to
add anything: jobs live only in the broker.  A durable store gets every new
background job with ``add(job, done)`` and calls ``done(None)`` once the job
is on disk (or ``done(reason)`` when it cannot be stored); the broker sends
JOB_CREATED only then, which is what makes group commit possible: a store
may gather the jobs that arrive while one commit is in flight into the next.
Because acknowledgements arrive outside ``data_received``, the server gives
the store a ``flush`` callable (``open(flush)``) to call after it has called
``done`` callbacks, so the replies are written.

Life cycle, driven by the server: ``await open(flush)``, ``await load()``
(each row becomes ``broker.restore(record)``, in submission order), then
serving, then ``await close()``.  ``started(job)`` tells the store a job was
handed to a worker (its attempt count; a durable store may wait to write it
until the job has run a while, see ``gear.server.stores.batching``),
``remove(job)`` that it ended.
Store operations on one job must be applied in the order they were made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gear.server.state import Job


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A background job as a store keeps it."""

    handle: bytes
    function: bytes
    unique: bytes
    data: bytes
    #: 0 HIGH, 1 NORMAL, 2 LOW
    priority: int
    #: epoch seconds when due (0 = now)
    when: float = 0.0
    #: runs started before (a job that had run a second at a crash counts that run)
    attempts: int = 0
    reducer: bytes = b""
    #: clock time of the original submission
    created: float = 0.0


class Store(Protocol):
    """What the broker and the server need of a job store."""

    #: True when jobs must be acknowledged by the store before JOB_CREATED
    durable: bool

    @property
    def failing(self) -> bool:
        """True while the store cannot write (``/healthz`` then fails)."""

    async def open(self, flush: Callable[[], None]) -> None:
        """Connect or open files; ``flush`` is to be called after acknowledgements."""

    async def load(self) -> list[StoredJob]:
        """Every stored job, oldest first."""

    def add(self, job: Job, done: Callable[[str | None], None]) -> None:
        """Keep a background job; call ``done(None)`` once it is safe."""

    def started(self, job: Job) -> None:
        """A worker took the job (``job.attempts`` is its new attempt count)."""

    def remove(self, job: Job) -> None:
        """Forget a background job that ended."""

    async def close(self) -> None:
        """Write what is pending and release resources."""


class MemoryStore:
    """Keeps nothing: jobs live in the broker's memory only."""

    durable = False
    #: memory never fails
    failing = False

    async def open(self, flush: Callable[[], None]) -> None:
        return None

    async def load(self) -> list[StoredJob]:
        return []

    def add(self, job: Job, done: Callable[[str | None], None]) -> None:
        done(None)

    def started(self, job: Job) -> None:
        return None

    def remove(self, job: Job) -> None:
        return None

    async def close(self) -> None:
        return None
