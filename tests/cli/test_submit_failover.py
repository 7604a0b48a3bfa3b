"""`gear submit` over two real `gear serve` processes, one killed mid-run.

The worker runs in this test's loop and holds every job until all of them
are running, so the killed server certainly has jobs in flight; gear submit
must still print every result, and one stderr line about the loss.
"""

from __future__ import annotations

import asyncio
import sys

from gear.client import AsyncWorker
from gear.client.worker_job import WorkerJob
from tests.client.conftest import WorkerRunner
from tests.conftest import start_gear_process


async def test_gear_submit_reports_the_jobs_of_a_killed_server() -> None:
    a, b = start_gear_process(), start_gear_process()
    workers = WorkerRunner()
    try:
        gate, all_running = asyncio.Event(), asyncio.Event()
        running: set[bytes] = set()
        worker = AsyncWorker([a.address, b.address], concurrency=24, backoff_max=0.1)

        @worker.function("held")
        async def held(job: WorkerJob) -> bytes:
            running.add(job.data)
            if len(running) == 12:
                all_running.set()
            await gate.wait()
            return job.data.upper()

        workers.start(worker)
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "gear", "submit", "-S", a.address, "-S", b.address),
            *("held", "-N", "-P"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(b"".join(b"job%d\n" % i for i in range(12)))
        proc.stdin.close()
        await asyncio.wait_for(all_running.wait(), 20)
        a.proc.kill()
        a.proc.wait(5)
        gate.set()
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        await workers.close()
        a.stop()
        b.stop()
    assert proc.returncode == 0, err
    assert out == b"".join(b"held: JOB%d" % i for i in range(12))
    # no unique: round-robin put every other job on the killed server
    assert (
        err
        == (
            f"gear submit: lost {a.address} mid-run: 6 jobs in flight there, "
            "6 re-submitted to another server, 0 failed\n"
        ).encode()
    )
