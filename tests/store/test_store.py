"""Every durable store against the ``Store`` interface (issue #6, scope 1-4).

One test body per behaviour, run against each back-end by the ``backend``
fixture: first the store alone (rows, order, batching, failure), then a real
server in this event loop that is stopped and started again on the same
store (replay, handles, priorities, terminal states, refusal on failure).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from gear.protocol import PacketType as P
from gear.server import Server, ServerConfig
from gear.server.state import Job
from gear.server.store import StoredJob
from gear.server.stores import create_store
from gear.server.stores.batching import BatchingStore
from gear.server.stores.postgres import PostgresStore
from gear.testing import RawConnection, running_server
from tests.store.conftest import Backend, Postgres
from tests.store.jobs import FN, add, make_job


def stored(job: Job) -> StoredJob:
    return StoredJob(
        handle=job.handle,
        function=job.function.name,
        unique=job.unique,
        data=job.data,
        priority=job.priority,
        when=job.when,
        attempts=job.attempts,
        reducer=job.reducer,
        created=job.created,
    )


class Acks:
    """Collects the flush calls of a store."""

    def __init__(self) -> None:
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


async def opened(url: str, acks: Acks | None = None) -> BatchingStore:
    store = create_store(url)
    assert isinstance(store, BatchingStore)
    await store.open((acks or Acks()).flush)
    return store


async def reload(url: str) -> list[StoredJob]:
    store = await opened(url)
    try:
        return await store.load()
    finally:
        await store.close()


# ------------------------------------------------------------ store alone --
async def test_rows_come_back_whole_and_in_submission_order(backend: Backend) -> None:
    jobs = [
        make_job(1, data=b"\0binary\xff\0", priority=2),
        make_job(2, data=b"x" * 300_000),
        make_job(3, unique=b"same", data=b"a"),
        make_job(4, fn=b"other", unique=b"same", data=b"b"),
        make_job(5, when=time.time() + 3600, priority=0),
        make_job(6, reducer=b"sum", data=b"1 2 3"),
        make_job(7),
        make_job(8),  # empty uniques twice on one function: two rows
    ]
    store = await opened(backend.url)
    assert await store.load() == []
    answers = await asyncio.gather(*(add(store, j) for j in jobs))
    await store.close()
    assert answers == [None] * len(jobs)
    assert await reload(backend.url) == [stored(j) for j in jobs]


async def test_attempts_and_removals_are_kept(backend: Backend) -> None:
    jobs = [make_job(n) for n in range(1, 5)]
    store = await opened(backend.url)
    await asyncio.gather(*(add(store, j) for j in jobs))
    jobs[0].attempts = 1
    store.started(jobs[0])
    store.remove(jobs[1])
    jobs[2].attempts = 1
    store.started(jobs[2])  # started and removed in one batch: only removed
    store.remove(jobs[2])
    jobs[3].attempts = 3
    store.started(jobs[3])
    await store.close()
    assert await reload(backend.url) == [stored(jobs[0]), stored(jobs[3])]


async def test_adds_are_acknowledged_after_one_commit_per_batch(backend: Backend) -> None:
    acks = Acks()
    store = await opened(backend.url, acks)
    answered: list[str | None] = []
    for n in range(300):
        store.add(make_job(n), answered.append)
    assert answered == []  # nothing before the commit
    started = make_job(1000)
    done = add(store, started)  # in the same batch: written with attempts 1
    started.attempts = 1
    store.started(started)
    assert await done is None
    assert answered == [None] * 300
    assert store.batches == 1
    assert acks.flushes >= 1
    await store.close()
    rows = await reload(backend.url)
    assert len(rows) == 301 and rows[-1].attempts == 1


async def test_close_writes_what_is_pending(backend: Backend) -> None:
    store = await opened(backend.url)
    answered: list[str | None] = []
    store.add(make_job(1), answered.append)
    await store.close()
    assert answered == [None]
    assert [r.handle for r in await reload(backend.url)] == [b"H:t:1"]


async def test_outage_refuses_adds_keeps_removals_and_recovers(backend: Backend) -> None:
    store = await opened(backend.url)
    first, second = make_job(1), make_job(2)
    assert await add(store, first) is None
    assert await add(store, second) is None
    await backend.outage(store)
    store.remove(first)
    refused = await add(store, make_job(3, data=b"z" * 200_000))
    assert refused  # a reason for the client
    assert store.failed_batches >= 1
    await backend.repair(store)
    assert await add(store, make_job(4)) is None
    await store.close()
    assert [r.handle for r in await reload(backend.url)] == [b"H:t:2", b"H:t:4"]


async def test_close_during_an_outage_refuses_pending_adds(backend: Backend) -> None:
    store = await opened(backend.url)
    await backend.outage(store)
    answered: list[str | None] = []
    store.add(make_job(1, data=b"z" * 200_000), answered.append)
    await store.close()
    assert len(answered) == 1 and answered[0]
    await backend.repair(store)
    assert await reload(backend.url) == []


# ------------------------------------------------------ a server restarted --
_conns: list[RawConnection] = []


@pytest.fixture(autouse=True)
async def close_connections() -> AsyncIterator[None]:
    yield
    while _conns:
        await _conns.pop().close()


async def connect(server: Server) -> RawConnection:
    conn = await RawConnection.open(server.port)
    _conns.append(conn)
    return conn


def config(backend: Backend, boot: int, **kw: object) -> ServerConfig:
    # a new handle prefix per boot, as the default prefix (host + boot token) is
    return ServerConfig(store=backend.url, job_handle_prefix=f"H:boot{boot}", **kw)  # type: ignore[arg-type]


async def submit(conn: RawConnection, ptype: P, *args: bytes) -> bytes:
    await conn.send(ptype, *args)
    return (await conn.expect(P.JOB_CREATED)).args[0]


async def status(conn: RawConnection, handle: bytes) -> tuple[bytes, ...]:
    await conn.send(P.GET_STATUS, handle)
    return (await conn.expect(P.STATUS_RES)).args


async def test_restart_replays_handles_order_priorities_and_times(backend: Backend) -> None:
    later = str(int(time.time()) + 3600).encode()
    async with running_server(config(backend, 1)) as server:
        c = await connect(server)
        low = await submit(c, P.SUBMIT_JOB_LOW_BG, FN, b"", b"low")
        n1 = await submit(c, P.SUBMIT_JOB_BG, FN, b"", b"n1")
        high = await submit(c, P.SUBMIT_JOB_HIGH_BG, FN, b"", b"high")
        n2 = await submit(c, P.SUBMIT_JOB_BG, FN, b"", b"n2")
        epoch = await submit(c, P.SUBMIT_JOB_EPOCH, FN, b"", later, b"later")
        red = await submit(c, P.SUBMIT_REDUCE_JOB_BACKGROUND, FN, b"r", b"sum", b"", b"1 2")
        u1 = await submit(c, P.SUBMIT_JOB_BG, FN, b"u", b"u")
        assert await submit(c, P.SUBMIT_JOB_BG, FN, b"u", b"u") == u1  # coalesced
    assert len(await reload(backend.url)) == 7  # the coalesced submit added no row
    async with running_server(config(backend, 2)) as server:
        c = await connect(server)
        assert await status(c, n1) == (n1, b"1", b"0", b"0", b"0")
        assert await status(c, epoch) == (epoch, b"1", b"0", b"0", b"0")
        w = await connect(server)
        await w.send(P.CAN_DO, FN)
        got = []
        for _ in range(6):
            await w.send(P.GRAB_JOB_ALL)
            got.append((await w.recv()).args)
        await w.send(P.GRAB_JOB_ALL)
        await w.expect(P.NO_JOB)  # the epoch job is not due
    assert [a[0] for a in got] == [high, n1, n2, red, u1, low]
    assert got[3] == (red, FN, b"r", b"sum", b"1 2")  # JOB_ASSIGN_ALL keeps the reducer
    assert got[0][1:] == (FN, b"", b"high")


async def crash(server: Server) -> None:
    """From here on the store sees nothing, as if the process died now.

    (A clean stop would let the store see the workers' disconnects: their
    jobs are requeued, or failed and deleted once out of retries.)  Closing
    the store writes what it has queued, and the attempt counts still
    settling (``ATTEMPT_GRACE``), which a real crash would lose.
    """
    await server.broker.store.close()


async def test_a_job_running_at_the_crash_comes_back_with_its_attempt(backend: Backend) -> None:
    async with running_server(config(backend, 1)) as server:
        server.broker.store.attempt_grace = 0.0  # as if it had run for the grace
        c = await connect(server)
        handle = await submit(c, P.SUBMIT_JOB_BG, FN, b"", b"work")
        w = await connect(server)
        await w.send(P.CAN_DO, FN)
        await w.send(P.GRAB_JOB_UNIQ)
        await w.expect(P.JOB_ASSIGN_UNIQ)
        await crash(server)
    async with running_server(config(backend, 2)) as server:
        assert server.broker.jobs[handle].attempts == 1
        w = await connect(server)
        await w.send(P.CAN_DO, FN)
        await w.send(P.GRAB_JOB_UNIQ)
        assert (await w.expect(P.JOB_ASSIGN_UNIQ)).args[0] == handle
        await w.send(P.WORK_COMPLETE, handle, b"")
        await w.send(P.ECHO_REQ, b"sync")
        await w.expect(P.ECHO_RES)
    assert await reload(backend.url) == []


async def test_replay_respects_the_retry_limit(backend: Backend) -> None:
    async with running_server(config(backend, 1, job_retries=1)) as server:
        c = await connect(server)
        handle = await submit(c, P.SUBMIT_JOB_BG, FN, b"", b"work")
        w = await connect(server)
        await w.send(P.CAN_DO, FN)
        await w.send(P.GRAB_JOB_UNIQ)
        await w.expect(P.JOB_ASSIGN_UNIQ)
        await crash(server)
    async with running_server(config(backend, 2, job_retries=1)) as server:
        assert handle not in server.broker.jobs  # its one run is used up
    assert await reload(backend.url) == []


async def test_a_fixed_handle_prefix_never_reuses_a_stored_handle(backend: Backend) -> None:
    fixed = ServerConfig(store=backend.url, job_handle_prefix="H:fixed")
    async with running_server(fixed) as server:
        old = await submit(await connect(server), P.SUBMIT_JOB_BG, FN, b"", b"old")
    async with running_server(fixed) as server:
        new = await submit(await connect(server), P.SUBMIT_JOB_BG, FN, b"", b"new")
    assert new != old


async def until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Let the server's loop run until ``condition`` holds (it runs in this loop)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


async def finish(w: RawConnection, ptype: P, *extra: bytes) -> None:
    await w.send(P.GRAB_JOB_UNIQ)
    handle = (await w.expect(P.JOB_ASSIGN_UNIQ)).args[0]
    await w.send(ptype, handle, *extra)


async def test_every_terminal_state_deletes_the_row(backend: Backend) -> None:
    async with running_server(config(backend, 1, job_retries=1)) as server:
        c = await connect(server)
        for data in (b"complete", b"fail", b"exception", b"retry-limit", b"cancel", b"kept"):
            await submit(c, P.SUBMIT_JOB_BG, FN, b"", data)
        w = await connect(server)
        await w.send(P.CAN_DO, FN)
        await finish(w, P.WORK_COMPLETE, b"ok")
        await finish(w, P.WORK_FAIL)
        await finish(w, P.WORK_EXCEPTION, b"boom")
        await w.send(P.GRAB_JOB_UNIQ)
        await w.expect(P.JOB_ASSIGN_UNIQ)
        await w.close()  # its worker is gone and one run was allowed: the job fails
        await until(lambda: len(server.broker.jobs) == 2)
        handles = [j.handle for j in server.broker.jobs.values()]
        reply = await c.admin(f"cancel job {handles[0].decode()}")
        assert reply.startswith(b"OK")
    rows = await reload(backend.url)
    assert [r.data for r in rows] == [b"kept"]


async def test_store_outage_refuses_submits_and_the_server_recovers(backend: Backend) -> None:
    async with running_server(config(backend, 1)) as server:
        store = server.broker.store
        c = await connect(server)
        w = await connect(server)
        await w.send(P.CAN_DO, FN)
        await backend.outage(store)
        await c.send(P.SUBMIT_JOB_BG, FN, b"", b"z" * 200_000)
        error = await c.expect(P.ERROR)
        assert error.args[0] == b"QUEUE_ERROR" and error.args[1]
        assert server.broker.stats.store_errors == 1
        # foreground work goes on in memory meanwhile
        await c.send(P.SUBMIT_JOB, FN, b"", b"fg")
        handle = (await c.expect(P.JOB_CREATED)).args[0]
        await finish(w, P.WORK_COMPLETE, b"done")
        assert (await c.expect(P.WORK_COMPLETE)).args == (handle, b"done")
        await backend.repair(store)
        kept = await submit(c, P.SUBMIT_JOB_BG, FN, b"", b"after")
    assert [r.handle for r in await reload(backend.url)] == [kept]


async def test_postgres_reconnects_when_its_connection_is_cut(pg_cluster: Postgres) -> None:
    url = pg_cluster.new_schema()
    store = await opened(url)
    assert isinstance(store, PostgresStore)
    assert await add(store, make_job(1)) is None
    before = store._conn
    pg_cluster.sql(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE application_name = 'gear'"
    )
    assert await add(store, make_job(2)) is None  # written again on a new connection
    assert store.failed_batches == 0 and store._conn is not before
    await store.close()
    assert [r.handle for r in await reload(url)] == [b"H:t:1", b"H:t:2"]
