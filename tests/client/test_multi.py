"""Several servers: spreading by unique, failover, reconnects; the blocking facades."""

from __future__ import annotations

import asyncio
import threading

from gear.client import AsyncClient, AsyncWorker, Client, Worker
from gear.client.worker_job import WorkerJob


async def test_jobs_spread_by_unique_and_still_coalesce(fixed_servers, workers) -> None:
    a, b = await fixed_servers(), await fixed_servers()
    async with AsyncClient([a.address, b.address]) as client:
        jobs = [await client.submit_background("s", "x", unique=f"u{i}") for i in range(20)]
        servers = {str(j.server) for j in jobs}
        assert servers == {a.address, b.address}
        again = await client.submit_background("s", "x", unique="u7")
        assert again.server == jobs[7].server and again.handle == jobs[7].handle
        info = await client.get_status_unique("u7")
        assert info.known and info.server == str(jobs[7].server)
    worker = AsyncWorker([a.address, b.address])
    worker.register("s", lambda j: None)
    assert await worker.run(until_idle=True) == 20


async def test_failover_when_a_server_stops_mid_run(fixed_servers, workers) -> None:
    a, b = await fixed_servers(), await fixed_servers()
    gate = asyncio.Event()
    started_on_a = asyncio.Event()
    worker = AsyncWorker([a.address, b.address], concurrency=8, backoff_max=0.2)

    @worker.function("work")
    async def work(job: WorkerJob) -> bytes:
        if str(job.server) == a.address:
            started_on_a.set()
        await gate.wait()
        return job.data

    workers.start(worker)
    async with AsyncClient([a.address, b.address], backoff_max=0.2) as client:
        jobs = [await client.submit_job("work", str(i)) for i in range(16)]
        assert {str(j.server) for j in jobs} == {a.address, b.address}
        await asyncio.wait_for(started_on_a.wait(), 5)
        await a.stop()
        gate.set()
        results = await asyncio.wait_for(asyncio.gather(*(j.wait() for j in jobs)), 10)
        assert results == [str(i).encode() for i in range(16)]
        assert all(str(j.server) == b.address for j in jobs if j.attempts > 1)
        assert any(j.attempts > 1 for j in jobs)
        assert await client.submit("work", "after") == b"after"


async def test_client_and_worker_reconnect_to_a_restarted_server(fixed_servers, workers) -> None:
    srv = await fixed_servers()
    worker = AsyncWorker(srv.address, backoff_max=0.1)
    worker.register("echo", lambda j: j.data)
    workers.start(worker)
    async with AsyncClient(srv.address, backoff_max=0.1) as client:
        assert await client.submit("echo", "one") == b"one"
        await srv.stop()
        await srv.start()
        assert await asyncio.wait_for(client.submit("echo", "two"), 10) == b"two"


def test_blocking_client_and_worker(server_process) -> None:
    address = server_process.address
    with Client(address) as client:
        for i in range(3):
            client.submit_background("sync", f"bg{i}")
        worker = Worker(address)
        seen: list[bytes] = []

        @worker.function("sync")
        def handle(job: WorkerJob) -> bytes:
            seen.append(job.data)
            job.send_status(1, 1)
            return job.data.upper()

        assert worker.run(until_idle=True) == 3
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            assert client.submit("sync", "fg", timeout=10) == b"FG"
            job = client.submit_job("sync", "it")
            assert [u.percent for u in job if hasattr(u, "percent")] == [100.0]
            assert job.wait(10) == b"IT"
            assert client.get_status(job.handle or b"").known is False
            assert client.echo("e") == b"e"
        finally:
            while thread.is_alive():
                worker.stop()
                thread.join(0.1)
    assert seen[:3] == [b"bg0", b"bg1", b"bg2"]
