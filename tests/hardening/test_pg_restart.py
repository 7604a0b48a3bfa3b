"""PostgreSQL stopped and restarted under a running server (issue #14, scope 5).

A cluster of its own (stopping the session's shared one would fail other
tests): background submits are acknowledged, the cluster is stopped
(``pg_ctl stop -m fast``), submits are refused with QUEUE_ERROR and
foreground work goes on; the cluster starts again on the same port, the
store reconnects, and a worker drains every acknowledged job.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from gear.protocol import PacketType as P
from gear.server import ServerConfig
from gear.testing import RawConnection, running_server
from tests.conftest import require_peer
from tests.hardening.store_outage import drain
from tests.store.pgcluster import PgCluster, find_bindir

pytestmark = pytest.mark.peer


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    bindir = find_bindir()
    require_peer("PostgreSQL", bindir is not None, "apt-get install postgresql")
    require_peer("psycopg", importlib.util.find_spec("psycopg") is not None, "pip install psycopg")
    assert bindir is not None
    pg = PgCluster.start(bindir)
    yield pg
    pg.stop()


def pg_ctl(pg: PgCluster, *args: str) -> None:
    opts = f"-h 127.0.0.1 -p {pg.port} -k {pg.base} -c max_connections=50"
    log = os.path.join(pg.base, "log")
    out = pg._run(
        os.path.join(pg.bindir, "pg_ctl"), "-D", pg.data, "-l", log, "-w", "-o", opts, *args
    )
    assert out.returncode == 0, out.stderr


async def submit(conn: RawConnection, unique: bytes) -> bytes | None:
    await conn.send(P.SUBMIT_JOB_BG, b"pgjob", unique, b"data")
    reply = await conn.recv(timeout=20)
    if reply.type == P.JOB_CREATED:
        return reply.args[0]
    assert reply.args[0] == b"QUEUE_ERROR", reply
    return None


async def test_postgres_stopped_and_restarted(cluster: PgCluster) -> None:
    async with running_server(ServerConfig(store=cluster.url())) as server:
        conn = await RawConnection.open(server.port)
        acked = [await submit(conn, b"before%d" % i) for i in range(20)]
        assert all(acked)
        pg_ctl(cluster, "-m", "fast", "stop")
        refused = await submit(conn, b"during")
        assert refused is None
        assert server.broker.stats.store_errors >= 1
        await conn.send(P.SUBMIT_JOB, b"memory-only", b"", b"fg")  # foreground goes on
        await conn.expect(P.JOB_CREATED)
        pg_ctl(cluster, "start")
        after: bytes | None = None
        for i in range(200):  # the store retries with a growing pause; each try is a submit
            after = await submit(conn, b"after%d" % i)
            if after is not None:
                break
        assert after is not None
        acked.append(after)
        ran = set(await drain(server.port, b"pgjob"))
        assert ran == set(acked)
        await conn.close()
