"""``--metrics``: scraped with a real HTTP client while jobs run (issue #15, scope 1).

A server in this event loop with ``metrics="127.0.0.1:0"``; workers and
clients are raw connections, so which job runs is exact.  Every scrape is
parsed with prometheus-client's own parser, and the exporter's families
are compared with the admin ``status`` reply taken at the same moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gear.protocol import PacketType as P
from gear.server import Server, ServerConfig
from gear.testing import RawConnection, running_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def service_url(server: Server, name: str) -> str:
    [service] = [s for s in server.http_services if s.name == name]
    return str(service.url)


async def scrape(server: Server, path: str = "/metrics") -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(service_url(server, "metrics") + path) as reply,
    ):
        return reply.status, await reply.text()


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (name, sorted labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def metrics(server: Server) -> Samples:
    status, text = await scrape(server)
    assert status == 200
    return parse(text)


def status_table(reply: bytes) -> dict[str, tuple[int, int, int]]:
    rows = {}
    for line in reply.decode().splitlines():
        if line != ".":
            name, total, running, workers = line.split("\t")
            rows[name] = (int(total), int(running), int(workers))
    return rows


def exporter_table(samples: Samples) -> dict[str, tuple[int, int, int]]:
    rows: dict[str, list[int]] = {}
    names = ("gearman_status_total", "gearman_status_running", "gearman_status_workers")
    for (name, labels), value in samples.items():
        if name in names:
            rows.setdefault(dict(labels)["function"], [0, 0, 0])[names.index(name)] = int(value)
    return {k: (v[0], v[1], v[2]) for k, v in rows.items()}


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    config = ServerConfig(job_handle_prefix="H:m", metrics="127.0.0.1:0")
    async with running_server(config) as srv:
        yield srv


async def test_exporter_gauges_match_status_while_jobs_run(server: Server) -> None:
    w = await RawConnection.open(server.port)
    c = await RawConnection.open(server.port)
    admin = await RawConnection.open(server.port)
    try:
        await w.send(P.CAN_DO, b"reverse")
        for ptype, data in ((P.SUBMIT_JOB, b"a"), (P.SUBMIT_JOB_HIGH, b"b"), (P.SUBMIT_JOB, b"c")):
            await c.send(ptype, b"reverse", b"", data)
            await c.expect(P.JOB_CREATED)
        await c.send(P.SUBMIT_JOB_LOW_BG, b"resize", b"", b"img")
        await c.expect(P.JOB_CREATED)
        await w.send(P.GRAB_JOB_UNIQ)
        assigned = await w.expect(P.JOB_ASSIGN_UNIQ)
        assert assigned.args[3] == b"b"  # the high one
        samples = await metrics(server)
        status = status_table(await admin.admin("status"))
        assert exporter_table(samples) == status == {"reverse": (3, 1, 1), "resize": (1, 0, 0)}
        assert samples[("gearman_up", (("version", server.info.version),))] == 1
        queued = ("gear_jobs_queued", (("function", "reverse"), ("priority", "normal")))
        assert samples[queued] == 2
        roles = {dict(k[1])["role"]: v for k, v in samples.items() if k[0] == "gear_connections"}
        assert roles == {"worker": 1, "client": 2, "http": 0}

        await w.send(P.WORK_COMPLETE, assigned.args[0], b"B")
        await c.expect(P.WORK_COMPLETE)
        after = await metrics(server)
        done = ("gear_jobs_completed_total", (("function", "reverse"), ("priority", "high")))
        assert after[done] == 1
        assert status_table(await admin.admin("status"))["reverse"] == (2, 0, 1)
        assert exporter_table(after)["reverse"] == (2, 0, 1)
        wait_count = ("gear_queue_wait_seconds_count", (("function", "reverse"),))
        run_count = ("gear_job_run_seconds_count", (("function", "reverse"),))
        assert after[wait_count] == 1 and after[run_count] == 1
    finally:
        for conn in (w, c, admin):
            await conn.close()


async def test_counters_by_priority_coalesced_wakeups_and_totals(server: Server) -> None:
    w = await RawConnection.open(server.port)
    c = await RawConnection.open(server.port)
    try:
        await w.send(P.CAN_DO, b"f")
        await w.send(P.PRE_SLEEP)
        await c.send(P.SUBMIT_JOB_LOW_BG, b"f", b"u", b"x")
        await c.expect(P.JOB_CREATED)
        await w.expect(P.NOOP)
        await c.send(P.SUBMIT_JOB_HIGH_BG, b"f", b"u", b"x")  # joins the low one
        await c.expect(P.JOB_CREATED)
        await w.send(P.GRAB_JOB)
        handle = (await w.expect(P.JOB_ASSIGN)).args[0]
        await w.send(P.WORK_FAIL, handle)
        await w.send(P.ECHO_REQ, b"sync")
        await w.expect(P.ECHO_RES)
        samples = await metrics(server)
    finally:
        await w.close()
        await c.close()

    def value(name: str, priority: str) -> float:
        return samples[(name, (("function", "f"), ("priority", priority)))]

    assert value("gear_jobs_submitted_total", "low") == 1
    assert value("gear_jobs_coalesced_total", "high") == 1
    assert value("gear_jobs_failed_total", "low") == 1
    assert value("gear_jobs_submitted_total", "high") == 0
    assert samples[("gear_wakeups_total", ())] == 1
    assert samples[("gear_connections_accepted_total", ())] == 2
    assert samples[("gear_store_failing", ())] == 0
    assert ("gear_store_commit_seconds_count", ()) not in samples  # memory: no commits
    assert samples[("process_open_fds", ())] > 0


async def test_healthz_index_unknown_paths_and_methods(server: Server) -> None:
    assert await scrape(server, "/healthz") == (200, "ok\n")
    status, text = await scrape(server, "/")
    assert status == 200 and "/metrics" in text
    assert (await scrape(server, "/nope"))[0] == 404
    async with (
        aiohttp.ClientSession() as http,
        http.post(service_url(server, "metrics") + "/metrics") as reply,
    ):
        assert reply.status == 405 and reply.headers["Allow"] == "GET, HEAD"


async def test_openmetrics_when_asked(server: Server) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            service_url(server, "metrics") + "/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        ) as reply,
    ):
        assert reply.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await reply.text()).endswith("# EOF\n")
