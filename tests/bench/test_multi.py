"""Runs over several servers: spreading, per-server counts, a server lost mid-run.

The spreading tests run two gear servers in this test's loop (exact counts);
the loss test kills one of two real ``gear serve`` processes with SIGKILL.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from binascii import hexlify
from collections.abc import AsyncIterator, Callable

import pytest

from gear.bench.config import BenchConfig
from gear.bench.engine import NoSync, run_part
from gear.bench.multi import MultiPartRun
from gear.bench.results import ScenarioResult, merge_parts
from gear.bench.spread import Cluster, Spread, SpreadClient
from gear.bench.wire import Tally
from gear.protocol.constants import PacketType
from gear.server import Server, ServerConfig
from gear.testing import running_server
from tests.conftest import start_gear_process


@pytest.fixture
async def two() -> AsyncIterator[tuple[Server, Server]]:
    async with (
        running_server(ServerConfig(job_handle_prefix="H:a")) as a,
        running_server(ServerConfig(job_handle_prefix="H:b")) as b,
    ):
        yield a, b


def config(ports: tuple[int, ...], scenario: str, **kw: object) -> BenchConfig:
    base: dict[str, object] = {"clients": 2, "workers": 2, "window": 4, "count": 60}
    base |= {"duration": 0.0, "timeout": 10.0, **kw}
    servers = tuple(("127.0.0.1", p) for p in ports)
    return BenchConfig(port=ports[0], servers=servers, scenario=scenario, **base)  # type: ignore[arg-type]


async def run(cfg: BenchConfig) -> ScenarioResult:
    return merge_parts(cfg, [await run_part(cfg, kind=MultiPartRun)])


@pytest.mark.parametrize("scenario", ["fg", "bg", "echo", "herd", "many"])
async def test_every_scenario_spreads_over_both_servers(
    two: tuple[Server, Server], scenario: str
) -> None:
    cfg = config((two[0].port, two[1].port), scenario, idle=3).for_scenario(scenario)
    r = await run(cfg)
    assert r.ok, r
    for phase in r.phases:
        assert phase.count == 60 and sum(phase.per_server) == 60, phase
        assert all(n > 0 for n in phase.per_server), phase
    if scenario == "bg":
        assert r.counters["created"] == r.counters["assigned"] == 60


async def test_round_robin_deals_each_client_evenly(two: tuple[Server, Server]) -> None:
    r = await run(config((two[0].port, two[1].port), "fg", spread="rr"))
    assert r.ok, r
    a, b = r.phases[0].per_server
    assert a + b == 60 and abs(a - b) <= 2  # each client alternates: off by one at most


async def test_conn_gives_each_server_connection_a_window_of_its_own(
    two: tuple[Server, Server],
) -> None:
    cfg = config((two[0].port, two[1].port), "fg", spread="conn", count=200)
    part = MultiPartRun(cfg, NoSync())
    r = merge_parts(cfg, [await part.run()])
    assert r.ok, r
    assert len(part.spreads) == 4 and all(len(s.members) == 1 for s in part.spreads)
    assert sum(r.phases[0].per_server) == 200 and min(r.phases[0].per_server) > 0


def members(n: int) -> tuple[Tally, Cluster, Spread]:
    tally = Tally(1000)
    cluster = Cluster(tally, [f"s{i}" for i in range(n)])
    spread = Spread(tally, cluster, 4, 0, by_unique=True)
    for i in range(n):
        spread.join(SpreadClient(tally, PacketType.SUBMIT_JOB, b"f", 64, 0, spread, i))
    return tally, cluster, spread


def test_a_job_goes_where_gear_client_sends_its_unique_and_skips_lost_servers() -> None:
    _, cluster, spread = members(3)
    want = [zlib.crc32(hexlify(seq.to_bytes(4, "big"))) % 3 for seq in range(200)]
    assert [spread.pick(seq, [True] * 3) for seq in range(200)] == want
    up = [True, False, True]
    assert [spread.pick(seq, up) for seq in range(200)] == [2 if w == 1 else w for w in want]
    cluster.server_lost(1, "gone")
    assert cluster.losses() == {"s1": 0} and cluster.live == 2 and cluster.alive == up


def test_losing_every_server_fails_the_run() -> None:
    tally, cluster, _ = members(2)
    cluster.server_lost(0, "reset")
    assert not tally.failure
    cluster.server_lost(1, "reset")
    assert tally.failure == "every server was lost (the last, s1: reset)"


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for a condition on the generator's own counters (checked every few ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_server_killed_mid_run_is_counted_and_the_run_goes_on() -> None:
    a, b = start_gear_process(), start_gear_process()
    try:
        cfg = config((a.port, b.port), "fg", count=10**9, window=8, timeout=30.0)
        part = MultiPartRun(cfg, NoSync())
        task = asyncio.create_task(part.run())

        def on(server: int) -> list[SpreadClient]:
            return [c for c in part.clients if isinstance(c, SpreadClient) and c.server == server]

        def done(server: int) -> int:
            return sum(c.answered for c in on(server))

        await until(lambda: done(1) > 50 and any(c.inflight for c in on(1)))
        b.proc.kill()
        after_kill = done(0)
        await until(lambda: part.cluster.live == 1 and done(0) > after_kill + 200)
        part.tally.stop_issuing = True
        part.tally.check()
        r = merge_parts(cfg, [await asyncio.wait_for(task, 20)])
    finally:
        a.stop()
        b.stop()
    assert not r.ok and not r.failure and not r.timed_out
    assert list(r.lost) == [b.address]
    c = r.counters
    assert c["issued"] == c["completed"] + c["failed"] + r.lost[b.address]
    assert r.phases[0].per_server[0] > after_kill
    assert sum(r.phases[0].per_server) == c["completed"] + c["failed"]
