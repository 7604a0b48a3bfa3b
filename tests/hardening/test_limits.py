"""Overload and slow peers (issue #14, scope 3), on in-process servers.

``until`` polls the server's own state (no sleeping for readiness): each
turn yields to the loop, which is what moves the server forward.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import pytest

from gear.protocol import PacketType as P
from gear.protocol import request
from gear.server import ServerConfig
from gear.testing import RawConnection, running_server


async def until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def test_max_connections_closes_the_extra_ones(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "gear.server.limits")
    async with running_server(ServerConfig(max_connections=2)) as server:
        kept = [await RawConnection.open(server.port) for _ in range(2)]
        await until(lambda: len(server.connections) == 2)
        extra = await RawConnection.open(server.port)
        assert await asyncio.wait_for(extra.reader.read(100), 5) == b""  # closed at once
        assert server.guard.refused == 1
        assert "--max-connections 2 reached" in caplog.text
        await kept[0].close()
        await until(lambda: len(server.connections) == 1)
        again = await RawConnection.open(server.port)
        await again.send(P.ECHO_REQ, b"hi")
        assert (await again.expect(P.ECHO_RES)).args == (b"hi",)
        for conn in [kept[1], extra, again]:
            await conn.close()


async def test_max_queue_default_bounds_a_flood_and_maxqueue_overrides() -> None:
    async with running_server(ServerConfig(max_queue=100)) as server:
        conn = await RawConnection.open(server.port)
        flood = b"".join(request(P.SUBMIT_JOB_BG, b"flood", b"", b"x" * 100) for _ in range(1000))
        await conn.send_bytes(flood)
        created = errors = 0
        while created + errors < 1000:
            packet = await conn.recv()
            if packet.type == P.JOB_CREATED:
                created += 1
            else:
                assert packet.args[0] == b"QUEUE_ERROR"
                errors += 1
        assert (created, errors) == (100, 900)
        assert len(server.broker.jobs) == 100
        assert (await conn.admin("maxqueue flood 150")).startswith(b"OK")
        await conn.send(P.SUBMIT_JOB_BG, b"flood", b"", b"one more")
        await conn.expect(P.JOB_CREATED)
        assert (await conn.admin("maxqueue other 0")).startswith(b"OK")  # 0 = no limit
        await conn.send_bytes(
            b"".join(request(P.SUBMIT_JOB_BG, b"other", b"", b"y") for _ in range(150))
        )
        for _ in range(150):
            await conn.expect(P.JOB_CREATED)
        await conn.close()


async def test_a_peer_that_does_not_read_is_paused_then_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client asks for echoes and never reads them: its requests stop being read,
    and once the output it left unread passes the hard limit it is dropped."""
    caplog.set_level(logging.WARNING, "gear.server.limits")
    config = ServerConfig(
        max_packet_size=1 << 20, output_high_water=64 * 1024, output_hard_limit=1 << 20
    )
    async with running_server(config) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        # a worker relays large WORK_DATA to it: output grows whether or not it sends
        client_req = request(P.SUBMIT_JOB, b"big", b"", b"x")
        await loop.sock_sendall(sock, client_req)
        worker = await RawConnection.open(server.port)
        await worker.send(P.CAN_DO, b"big")
        await worker.send(P.GRAB_JOB)
        assign = await worker.expect(P.JOB_ASSIGN)
        handle = assign.args[0]
        chunk = request(P.WORK_DATA, handle, b"z" * 500_000)
        for _ in range(40):
            if not server.broker.sessions or len(server.broker.sessions) < 2:
                break
            await worker.send_bytes(chunk)
        await until(lambda: len(server.broker.sessions) == 1)
        assert "bytes of replies unread (--output-hard-limit 1048576)" in caplog.text
        assert handle not in server.broker.jobs or not server.broker.jobs[handle].clients
        sock.close()
        await worker.close()
