"""``/healthz`` and the store metrics of a durable store, through an outage (issue #15).

The outage is the one tests/store makes for each back-end (SQLite's page
limit, PostgreSQL refusing connections): ``/healthz`` turns 503 while the
store fails and 200 once it writes again, and the metrics count the
refused submit and the commits that worked.
"""

from __future__ import annotations

from gear.protocol import PacketType as P
from gear.server import ServerConfig
from gear.testing import RawConnection, running_server
from tests.server.test_metrics import metrics, scrape
from tests.store.conftest import Backend
from tests.store.jobs import FN


async def test_healthz_fails_while_the_store_fails(backend: Backend) -> None:
    config = ServerConfig(store=backend.url, job_handle_prefix="H:h", metrics="127.0.0.1:0")
    async with running_server(config) as server:
        c = await RawConnection.open(server.port)
        try:
            await c.send(P.SUBMIT_JOB_BG, FN, b"", b"before")
            await c.expect(P.JOB_CREATED)
            assert await scrape(server, "/healthz") == (200, "ok\n")
            await backend.outage(server.broker.store)
            await c.send(P.SUBMIT_JOB_BG, FN, b"", b"z" * 200_000)
            assert (await c.expect(P.ERROR)).args[0] == b"QUEUE_ERROR"
            assert await scrape(server, "/healthz") == (503, "store failing\n")
            down = await metrics(server)
            assert down[("gear_store_failing", ())] == 1
            assert down[("gear_store_errors_total", ())] == 1
            await backend.repair(server.broker.store)
            await c.send(P.SUBMIT_JOB_BG, FN, b"", b"after")
            await c.expect(P.JOB_CREATED)
            assert await scrape(server, "/healthz") == (200, "ok\n")
            up = await metrics(server)
        finally:
            await c.close()
    assert up[("gear_store_failing", ())] == 0
    assert up[("gear_store_commit_seconds_count", ())] >= 2
    assert up[("gear_store_batch_size_count", ())] == up[("gear_store_commit_seconds_count", ())]
    assert up[("gear_store_batch_size_sum", ())] >= 2
