"""The library's multi-server client: what spreading costs it, and a failover under load.

Usage::

    python bench/client_spread.py [-n 30000] [-w 256] [-r 3] [--servers 1,2,4]

Part 1 (cost): starts 4 ``gear serve`` processes; one ``gear.client.AsyncClient``
(uvloop) submits N background jobs with unique keys (``submit_background``,
at most W waiting at once), spread over 1, 2 and 4 of the servers by the
CRC32 of the unique.  Prints, per count of servers, the median rate, the
client's CPU per job and the servers' (all together) CPU per job: if
spreading cost the client something, its CPU per job would grow with the
count of servers.

Part 2 (failover): two servers, an ``AsyncWorker`` connected to both
(concurrency 64), foreground jobs through ``AsyncClient.submit``; once a
third of the jobs are done, one server is killed with SIGKILL.  Prints how
many jobs completed (all of them should) and ``AsyncClient.losses``: the
jobs in flight on the killed server, re-submitted to the other or failed.
About a minute in all; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time

import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, load_average, servers_stopped, start_gear  # a sibling module

from gear.client import AsyncClient, AsyncWorker


def cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def submits(servers: list[Server], count: int, window: int) -> tuple[float, float, float]:
    """Rate, client µs/job and servers' µs/job of ``count`` background submits."""
    async with AsyncClient([s.address for s in servers]) as client:
        for i in range(len(servers) * 4):  # connect to every server first
            await client.submit_background("warm", b"", unique=f"warm{i}")
        tag = os.urandom(4).hex()
        payload = b"x" * 64
        left = iter(range(count))

        async def one_by_one() -> None:
            for i in left:
                await client.submit_background("spread", payload, unique=f"{tag}-{i}")

        srv0 = [sum(s.cpu()) for s in servers]
        cpu0, t0 = cpu_self(), time.monotonic()
        await asyncio.gather(*(one_by_one() for _ in range(window)))
        wall, cpu = time.monotonic() - t0, cpu_self() - cpu0
        srv = sum(sum(s.cpu()) - c for s, c in zip(servers, srv0, strict=True))
    return count / wall, cpu / count * 1e6, srv / count * 1e6


async def failover(servers: list[Server], count: int) -> None:
    """fg jobs over two servers; kill the second once a third are done."""
    a, b = servers[:2]
    worker = AsyncWorker([a.address, b.address], concurrency=64, backoff_max=0.2)
    worker.register("spread_fg", lambda job: job.data)
    running = asyncio.create_task(worker.run())
    done = 0
    killed = asyncio.Event()

    async with AsyncClient([a.address, b.address], backoff_max=0.2) as client:

        async def one(i: int) -> bool:
            nonlocal done
            try:
                result = await client.submit("spread_fg", f"{i}", unique=f"fo{i}", timeout=60)
            except Exception as exc:  # counted below; the loss report says why
                print(f"  job {i}: {type(exc).__name__}: {exc}")
                return False
            done += 1
            if done == count // 3 and not killed.is_set():
                b.proc.kill()
                killed.set()
            return result == f"{i}".encode()

        sem = asyncio.Semaphore(256)

        async def bounded(i: int) -> bool:
            async with sem:
                return await one(i)

        ok = await asyncio.gather(*(bounded(i) for i in range(count)))
        worker.stop()
        await running
        print(f"\nfailover: {count:,} fg jobs over 2 servers, {b.address} killed (SIGKILL)")
        print(f"after {count // 3:,} were done: {sum(ok):,} completed with the right result")
        for loss in client.losses.values():
            print(
                f"  lost {loss.server}: connection broke {loss.connections}x, "
                f"{loss.jobs} jobs in flight there, {loss.resubmitted} re-submitted, "
                f"{loss.failed} failed"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=30_000)
    parser.add_argument("-w", "--window", type=int, default=256)
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--servers", default="1,2,4")
    parser.add_argument("--failover-jobs", type=int, default=20_000)
    args = parser.parse_args()
    counts = [int(c) for c in args.servers.split(",")]
    print(f"load average before: {load_average()}")
    got: dict[int, list[tuple[float, float, float]]] = {n: [] for n in counts}
    with servers_stopped([]) as servers:
        servers += [start_gear() for _ in range(max([*counts, 2]))]
        for _ in range(args.rounds):
            for n in counts:
                got[n].append(uvloop.run(submits(servers[:n], args.count, args.window)))
        print(f"load average after: {load_average()}")
        print(
            f"\nAsyncClient.submit_background, {args.count:,} jobs, {args.window} waiting at once;"
        )
        print(f"median of {args.rounds} rounds")
        print("| servers | jobs/s | client CPU µs/job | servers' CPU µs/job |")
        print("|---|---|---|---|")
        for n in counts:
            med = [statistics.median(col) for col in zip(*got[n], strict=True)]
            print(f"| {n} | {med[0]:,.0f} | {med[1]:.1f} | {med[2]:.1f} |")
        uvloop.run(failover(servers, args.failover_jobs))


if __name__ == "__main__":
    main()
