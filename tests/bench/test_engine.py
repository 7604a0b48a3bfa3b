"""Each scenario end to end against a gear server in this test's loop.

The engine runs in-process here (fast, exact counts); the subprocess smoke
tests in ``test_cli.py`` run it the way users do.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from gear.bench.config import BenchConfig
from gear.bench.engine import run_part
from gear.bench.results import merge_parts
from gear.errors import ConnectError
from gear.server import Server


def config(server: Server, scenario: str, **kw: object) -> BenchConfig:
    base: dict[str, object] = {"clients": 2, "workers": 2, "window": 4, "count": 60}
    base |= {"duration": 0.0, "timeout": 10.0, **kw}
    return BenchConfig(port=server.port, scenario=scenario, **base)  # type: ignore[arg-type]


async def test_bg_submits_then_drains_every_job(server: Server) -> None:
    cfg = config(server, "bg", grabs=3)
    r = merge_parts(cfg, [await run_part(cfg)])
    assert r.ok, r
    assert [(p.name, p.count) for p in r.phases] == [("submit", 60), ("drain", 60)]
    assert r.counters["created"] == r.counters["assigned"] == 60
    assert r.latency is not None and r.latency["n"] == 60


async def test_fg_round_trips_with_latency(server: Server) -> None:
    cfg = config(server, "fg")
    r = merge_parts(cfg, [await run_part(cfg)])
    assert r.ok, r
    assert r.phases[0].name == "rt" and r.phases[0].count == 60
    assert r.latency is not None and r.latency["n"] == 60
    lat = r.latency
    assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


async def test_herd_counts_wake_ups_of_idle_workers(server: Server) -> None:
    cfg = config(server, "herd", idle=5)
    r = merge_parts(cfg, [await run_part(cfg)])
    assert r.ok, r
    assert r.jobs == 60
    assert r.per_job("noops_idle") is not None


async def test_echo_without_payload_stamps(server: Server) -> None:
    cfg = config(server, "echo", size=4)
    r = merge_parts(cfg, [await run_part(cfg)])
    assert r.ok, r
    assert r.counters["completed"] == 60 and r.latency is not None


async def test_duration_stops_issuing(server: Server) -> None:
    cfg = BenchConfig(port=server.port, scenario="echo", count=10**9, duration=0.05)
    r = merge_parts(cfg, [await run_part(cfg)])
    assert r.ok and 0 < r.counters["completed"] < 10**9


async def test_hard_timeout_reports_partial_counts() -> None:
    handlers: list[asyncio.Task[None]] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        writer.close()
        await writer.wait_closed()

    def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.ensure_future(swallow(reader, writer)))

    hole = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    async with hole:
        port = hole.sockets[0].getsockname()[1]
        cfg = BenchConfig(port=port, scenario="echo", count=10, timeout=0.2)
        r = merge_parts(cfg, [await run_part(cfg)])
        await asyncio.gather(*handlers)  # the generator closed its connections
    assert r.timed_out and not r.failure and not r.ok
    assert r.counters["issued"] == 10 and r.counters["completed"] == 0


async def test_unreachable_server_raises_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectError, match=r"cannot connect to 127\.0\.0\.1"):
        await run_part(BenchConfig(port=port, scenario="echo"))


async def test_server_that_hangs_up_fails_the_run() -> None:
    handlers: list[asyncio.Task[None]] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()
        await writer.wait_closed()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.ensure_future(hang_up(reader, writer)))

    rude = await asyncio.start_server(accept, "127.0.0.1", 0)
    async with rude:
        port = rude.sockets[0].getsockname()[1]
        cfg = BenchConfig(port=port, scenario="echo", count=10, timeout=5)
        r = merge_parts(cfg, [await run_part(cfg)])
        await asyncio.gather(*handlers)
    assert r.failure.startswith("server closed the connection") and not r.ok
    assert not r.timed_out
