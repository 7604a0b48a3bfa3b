"""Failover between two real ``gear serve`` processes, one killed with SIGKILL mid-run.

The workers hold every job until the kill, so the jobs on the killed server
are certainly in flight when it dies; ``AsyncClient.losses`` must say how
many there were and what became of them.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterator

import pytest

from gear.client import AsyncClient, AsyncWorker
from gear.client.worker_job import WorkerJob
from gear.errors import ConnectError
from tests.client.conftest import WorkerRunner
from tests.conftest import ServerProcess, start_gear_process


@pytest.fixture
def pair() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    a, b = start_gear_process(), start_gear_process()
    yield a, b
    a.stop()
    b.stop()


async def held_jobs(
    client: AsyncClient, workers: WorkerRunner, a: ServerProcess, b: ServerProcess, n: int
) -> tuple[list[asyncio.Task[bytes]], asyncio.Event]:
    """Submit ``n`` fg jobs; return once every one is running on a worker, held."""
    gate = asyncio.Event()
    running: set[bytes] = set()
    all_running = asyncio.Event()
    worker = AsyncWorker([a.address, b.address], concurrency=2 * n, backoff_max=0.1)

    @worker.function("held")
    async def held(job: WorkerJob) -> bytes:
        running.add(job.data)
        if len(running) == n:
            all_running.set()
        await gate.wait()
        return job.data

    workers.start(worker)
    tasks = [asyncio.create_task(client.submit("held", str(i), unique=f"u{i}")) for i in range(n)]
    await asyncio.wait_for(all_running.wait(), 20)
    return tasks, gate


async def test_jobs_on_a_killed_server_are_resubmitted_and_counted(pair, workers) -> None:
    a, b = pair
    async with AsyncClient([a.address, b.address], backoff_max=0.1) as client:
        tasks, gate = await held_jobs(client, workers, a, b, 12)
        on_a = [i for i in range(12) if home(client, i) == a.address]
        assert on_a and len(on_a) < 12  # CRC32 of the uniques puts jobs on both
        a.proc.kill()
        a.proc.wait(5)
        gate.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert results == [str(i).encode() for i in range(12)]
        loss = client.losses[a.address]
        assert (loss.connections, loss.jobs, loss.resubmitted, loss.failed) == (
            1,
            len(on_a),
            len(on_a),
            0,
        )
        assert b.address not in client.losses


def home(client: AsyncClient, i: int) -> str:
    """The server a job with unique ``u{i}`` goes to: CRC32 of the unique, modulo."""
    servers = client.servers
    return str(servers[zlib.crc32(f"u{i}".encode()) % len(servers)])


async def test_without_failover_the_lost_jobs_fail_and_are_counted(pair, workers) -> None:
    a, b = pair
    async with AsyncClient([a.address, b.address], failover=False, backoff_max=0.1) as client:
        tasks, gate = await held_jobs(client, workers, a, b, 12)
        on_a = sum(home(client, i) == a.address for i in range(12))
        a.proc.kill()
        a.proc.wait(5)
        gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
        failed = [o for o in outcomes if isinstance(o, ConnectError)]
        assert len(failed) == on_a and len(outcomes) - on_a == 12 - on_a
        loss = client.losses[a.address]
        assert (loss.jobs, loss.resubmitted, loss.failed) == (on_a, 0, on_a)
