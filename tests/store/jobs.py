"""Jobs and store calls for the store tests."""

from __future__ import annotations

import asyncio

from gear.server.state import Function, Job
from gear.server.store import Store

FN = b"store-fn"


def make_job(
    n: int,
    *,
    fn: bytes = FN,
    unique: bytes = b"",
    data: bytes = b"",
    priority: int = 1,
    when: float = 0.0,
    reducer: bytes = b"",
) -> Job:
    job = Job(b"H:t:%d" % n, Function(fn), unique, unique, data, priority, True, 1000.0 + n)
    job.when = when
    job.reducer = reducer
    return job


def add(store: Store, job: Job) -> asyncio.Future[str | None]:
    """``store.add`` with the answer as a future."""
    fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    store.add(job, fut.set_result)
    return fut
