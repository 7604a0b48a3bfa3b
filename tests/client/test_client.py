"""AsyncClient and AsyncWorker against a real gear server over loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from gear.client import AsyncClient, AsyncWorker, JobData, JobProgress, JobStatus, JobWarning
from gear.client.worker_job import WorkerJob
from gear.errors import (
    JobException,
    JobFailed,
    JobTimeout,
    ServerError,
    ServerUnavailable,
)
from gear.protocol.constants import Priority
from gear.server import Server


def addr(server: Server) -> str:
    return f"127.0.0.1:{server.port}"


async def test_submit_streams_updates_to_iterator_and_callbacks(server, workers) -> None:
    worker = AsyncWorker(addr(server))

    @worker.function("reverse")
    async def reverse(job: WorkerJob) -> bytes:
        job.send_data(b"part")
        job.send_warning("careful")
        job.send_status(1, 2)
        return job.data[::-1]

    workers.start(worker)
    async with AsyncClient(addr(server)) as client:
        assert await client.submit("reverse", "hello") == b"olleh"
        job = await client.submit_job("reverse", b"abc")
        assert job.handle is not None and job.handle.startswith(b"H:test:")
        updates = [u async for u in job]
        assert updates == [JobData(b"part"), JobWarning(b"careful"), JobProgress(1, 2)]
        assert await job == b"cba" and job.status is JobStatus.COMPLETE
        seen: list[object] = []
        result = await client.submit(
            "reverse",
            "xy",
            on_data=seen.append,
            on_warning=seen.append,
            on_status=lambda n, d: seen.append((n, d)),
        )
        assert result == b"yx" and seen == [b"part", b"careful", (1, 2)]
        assert await client.echo("ping") == b"ping"


async def test_background_status_by_handle_and_unique(server, workers) -> None:
    async with AsyncClient(addr(server)) as client:
        job = await client.submit_background("later", "x", unique="u-1")
        assert job.status is JobStatus.CREATED and await job == b""
        info = await client.get_status(job.handle or b"")
        assert info.known and not info.running and info.server == addr(server)
        by_unique = await client.get_status_unique("u-1")
        assert by_unique.known and by_unique.clients == 0
        worker = AsyncWorker(addr(server))
        worker.register("later", lambda j: None)
        assert await worker.run(until_idle=True) == 1
        assert not (await client.get_status(job.handle or b"")).known


async def test_priorities_run_high_then_normal_then_low(server) -> None:
    order: list[bytes] = []
    async with AsyncClient(addr(server)) as client:
        for name, prio in [(b"low", Priority.LOW), (b"normal", Priority.NORMAL)]:
            await client.submit_background("p", name, priority=prio)
        await client.submit_background("p", b"high", priority=Priority.HIGH)
    worker = AsyncWorker(addr(server))
    worker.register("p", lambda j: order.append(j.data))
    assert await worker.run(until_idle=True) == 3
    assert order == [b"high", b"normal", b"low"]


async def test_same_unique_coalesces_into_one_run(server, workers) -> None:
    runs: list[bytes] = []
    gate = asyncio.Event()
    worker = AsyncWorker(addr(server))

    @worker.function("once")
    async def once(job: WorkerJob) -> bytes:
        runs.append(job.unique)
        await gate.wait()
        return b"shared"

    async with AsyncClient(addr(server)) as client:
        first = await client.submit_job("once", "a", unique="k")
        second = await client.submit_job("once", "b", unique="k")
        assert first.handle == second.handle
        workers.start(worker)
        gate.set()
        assert await first == await second == b"shared"
    assert runs == [b"k"]


async def test_scheduled_job_waits_for_its_epoch(server, workers) -> None:
    ran = asyncio.Event()
    ran_at: list[float] = []
    worker = AsyncWorker(addr(server))

    @worker.function("cron")
    async def cron(job: WorkerJob) -> None:
        ran_at.append(time.time())
        ran.set()

    async with AsyncClient(addr(server)) as client:
        at = int(time.time()) + 1
        job = await client.submit_background("cron", at=at)
        assert (await client.get_status(job.handle or b"")).known
        workers.start(worker)
        await asyncio.wait_for(ran.wait(), 5)
        assert ran_at[0] >= at
        with pytest.raises(ValueError):
            await client.submit_job("cron", delay=1)


async def test_exceptions_option_and_failures(server, workers) -> None:
    worker = AsyncWorker(addr(server))

    @worker.function("boom")
    async def boom(job: WorkerJob) -> None:
        raise RuntimeError("kaput")

    @worker.function("fail")
    def fail(job: WorkerJob) -> None:
        raise JobFailed()

    @worker.function("custom")
    async def custom(job: WorkerJob) -> None:
        raise JobException(b"exact bytes")

    workers.start(worker)
    async with AsyncClient(addr(server), exceptions=True) as client:
        with pytest.raises(JobException) as info:
            await client.submit("boom")
        assert info.value.args[0] == b"RuntimeError: kaput"
        with pytest.raises(JobException) as info:
            await client.submit("custom")
        assert info.value.args[0] == b"exact bytes"
        with pytest.raises(JobFailed):
            await client.submit("fail")
    async with AsyncClient(addr(server)) as plain:
        with pytest.raises(JobFailed):
            await plain.submit("boom")


async def test_timeouts_and_refusals(server) -> None:
    async with AsyncClient(addr(server), timeout=0.2) as client:
        with pytest.raises(JobTimeout):
            await client.submit("nobody-works-this")
        with pytest.raises(ServerError) as info:
            await client.submit("f", unique="u" * 65)
        assert info.value.code == "ARGUMENT_TOO_LARGE"
    async with AsyncClient("127.0.0.1:1", connect_timeout=1) as down:
        with pytest.raises(ServerUnavailable, match=r"127\.0\.0\.1:1"):
            await down.submit("f")
        with pytest.raises(ServerUnavailable):
            await down.echo()


async def test_can_do_timeout_fails_the_job(server, workers) -> None:
    worker = AsyncWorker(addr(server))

    @worker.function("slow", timeout=0.5)
    async def slow(job: WorkerJob) -> None:
        await asyncio.sleep(30)

    workers.start(worker)
    started = time.monotonic()
    async with AsyncClient(addr(server)) as client:
        with pytest.raises(JobFailed):
            await client.submit("slow", timeout=10)
    assert time.monotonic() - started < 5


async def test_concurrency_and_graceful_stop(server, workers) -> None:
    gate = asyncio.Event()
    running: list[bytes] = []
    all_running = asyncio.Event()
    worker = AsyncWorker(addr(server), concurrency=3)

    @worker.function("hold")
    async def hold(job: WorkerJob) -> bytes:
        running.append(job.data)
        if len(running) == 3:
            all_running.set()
        await gate.wait()
        return job.data

    task = workers.start(worker)
    async with AsyncClient(addr(server)) as client:
        jobs = [await client.submit_job("hold", str(i)) for i in range(3)]
        await asyncio.wait_for(all_running.wait(), 5)
        worker.stop()
        await asyncio.sleep(0)
        assert not task.done()
        gate.set()
        assert [await j for j in jobs] == [b"0", b"1", b"2"]
        assert await task == 3


async def test_burst_and_max_jobs(server) -> None:
    async with AsyncClient(addr(server)) as client:
        for i in range(5):
            await client.submit_background("b", str(i))
    worker = AsyncWorker(addr(server), concurrency=2)
    worker.register("b", lambda j: j.data)
    assert await worker.run(max_jobs=2) == 2
    assert await worker.run(until_idle=True) == 3
    with pytest.raises(ValueError):
        await AsyncWorker(addr(server)).run()
    down = AsyncWorker("127.0.0.1:1", connect_timeout=1)
    down.register("b", lambda j: None)
    with pytest.raises(ServerUnavailable):
        await down.run()
