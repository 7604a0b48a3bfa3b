"""The admin client against gear serve, C gearmand and scripted fake servers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from gear.client.admin import AdminClient, AsyncAdminClient, format_address, parse_address
from gear.errors import ConnectError, LocalProtocolError
from gear.protocol import admin_replies as ar
from gear.protocol.admin_replies import AdminError, ServerKind
from gear.protocol.constants import PacketType
from gear.server import Server, ServerConfig
from gear.testing import RawConnection
from tests.repl.peers import free_port, gear_serve, gearmand

P = PacketType


async def synced(conn: RawConnection) -> None:
    """Wait until the server has handled everything sent on ``conn``."""
    await conn.send(P.ECHO_REQ, b"sync")
    await conn.expect(P.ECHO_RES)


async def submit_bg(port: int, function: bytes, unique: bytes = b"") -> bytes:
    conn = await RawConnection.open(port)
    await conn.send(P.SUBMIT_JOB_BG, function, unique, b"data")
    handle = (await conn.expect(P.JOB_CREATED)).args[0]
    await conn.close()
    return bytes(handle)


async def sleeping_worker(port: int, *functions: bytes, ident: bytes = b"") -> RawConnection:
    conn = await RawConnection.open(port)
    if ident:
        await conn.send(P.SET_CLIENT_ID, ident)
    for function in functions:
        await conn.send(P.CAN_DO, function)
    await conn.send(P.PRE_SLEEP)
    await synced(conn)
    return conn


# ------------------------------------------------------------ addresses --
@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("h", ("h", 4730)),
        ("h:1", ("h", 1)),
        (":7", ("localhost", 7)),
        ("[::1]:9", ("::1", 9)),
        ("[::1]", ("::1", 4730)),
        ("::1", ("::1", 4730)),
    ],
)
def test_parse_address(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["h:x", "h:0", "h:70000"])
def test_parse_address_rejects_bad_ports(text: str) -> None:
    with pytest.raises(ValueError, match="port must be a number"):
        parse_address(text)


def test_format_address() -> None:
    assert format_address("::1", 5) == "[::1]:5" and format_address("h", 5) == "h:5"


# ---------------------------------------------------------- gear serve --
async def test_read_commands_against_gear(server: Server) -> None:
    port = server.port
    first = await submit_bg(port, b"other", b"u1")
    await submit_bg(port, b"other")
    worker = await sleeping_worker(port, b"fn", ident=b"w1")
    async with AsyncAdminClient("127.0.0.1", port) as admin:
        version = await admin.detect()
        assert version.kind is ServerKind.GEAR and admin.kind is ServerKind.GEAR
        status = {row.function: row for row in await admin.status()}
        assert (status["other"].queued, status["other"].workers) == (2, 0)
        assert (status["fn"].queued, status["fn"].workers) == (0, 1)
        prio = {row.function: row for row in await admin.priority_status()}
        assert prio["other"].normal == 2
        workers = [w for w in await admin.workers() if w.client_id == "w1"]
        assert workers[0].functions == ("fn",)
        jobs = await admin.show_jobs()
        assert first.decode() in {j.handle for j in jobs} and all(j.queued for j in jobs)
        assert "u1" in {u.unique for u in await admin.show_unique_jobs()}
        queue = await admin.show_queue("other")
        assert {q.unique for q in queue} >= {"u1"} and queue[0].background
        assert await admin.show_queue("fn") == ()
        detail = [w for w in await admin.show_workers() if w.client_id == "w1"]
        assert detail[0].state == "sleeping" and detail[0].functions == ("fn",)
        assert (await admin.getpid()).pid == os.getpid()
        assert (await admin.verbose()).level == "WARNING"
        assert (await admin.stats())["jobs_queued"] == "2"
        assert admin.latency is not None and admin.latency < 5
    await worker.close()


async def test_changing_commands_against_gear(server: Server) -> None:
    handle = (await submit_bg(server.port, b"other")).decode()
    async with AsyncAdminClient("127.0.0.1", server.port) as admin:
        assert await admin.maxqueue("other", 5) == ar.MaxQueueSet(
            function="other", high=5, normal=5, low=5
        )
        await admin.maxqueue("third", 1, 2, 3)
        limits = {m.function: m for m in await admin.show_maxqueue()}
        assert (limits["third"].high, limits["third"].low) == (1, 3)
        assert await admin.cancel_job(handle) == ar.JobCancelled(handle=handle)
        with pytest.raises(AdminError) as info:
            await admin.cancel_job(handle)
        assert info.value.code == "UNKNOWN_JOB"
        await admin.create_function("made")
        assert "made" in {s.function for s in await admin.status()}
        await admin.drop_function("made")
        with pytest.raises(AdminError, match="not found"):
            await admin.drop_function("made")
        with pytest.raises(AdminError) as info:
            await admin.shutdown()
        assert info.value.code == "SHUTDOWN_DISABLED"


async def test_refuses_what_cannot_be_sent(server: Server) -> None:
    admin = AsyncAdminClient("127.0.0.1", server.port)
    with pytest.raises(LocalProtocolError):
        await admin.cancel_job("two words")
    with pytest.raises(LocalProtocolError):
        await admin.send("status\nworkers")
    with pytest.raises(ValueError, match="HIGH NORMAL LOW"):
        await admin.maxqueue("f", 1, 2)
    await admin.close()


async def test_unreachable_server_is_a_connect_error() -> None:
    admin = AsyncAdminClient("127.0.0.1", free_port(), timeout=2)
    with pytest.raises(ConnectError, match="refused"):
        await admin.status()
    assert not admin.connected


@asynccontextmanager
async def gear_on(port: int) -> AsyncIterator[Server]:
    srv = Server(ServerConfig(listen=["127.0.0.1"], port=port))
    await srv.start()
    task = asyncio.create_task(srv.serve_forever())
    try:
        yield srv
    finally:
        srv.request_shutdown(False)
        await asyncio.wait_for(task, 5)


async def test_reconnects_after_a_server_restart() -> None:
    port = free_port()
    admin = AsyncAdminClient("127.0.0.1", port, timeout=2)
    async with gear_on(port):
        await admin.create_function("before")
        assert "before" in {s.function for s in await admin.status()}
    with pytest.raises(ConnectError):
        await admin.status()
    async with gear_on(port):
        assert await admin.status() == ()
    await admin.close()


# ------------------------------------------------------ scripted servers --
Script = Callable[[str, int], bytes | None]
CLOSE = b"\0CLOSE"


@asynccontextmanager
async def fake_server(script: Script) -> AsyncIterator[int]:
    """A server answering each line with ``script(line, connection_number)``.

    ``None`` closes the connection; ``b""`` sends nothing; a reply ending in
    ``CLOSE`` is sent without it, then the connection closes.
    """
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        number = count
        while line := await reader.readline():
            reply = script(line.decode().strip(), number)
            if reply is None:
                break
            writer.write(reply.removesuffix(CLOSE))
            await writer.drain()
            if reply.endswith(CLOSE):
                break
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


PERL = {
    "version": b"v1.130.1\n",
    "workers": b"7 127.0.0.1 - : \n8 127.0.0.1 w : reverse\n.\n",
    "jobs": b"reverse\tu1\t-\t0\n.\n",
    "clients": b"127.0.0.1:4000\n\treverse\tu1\t-\n.\n",
    "maxqueue reverse": b"OK\n",
    "prioritystatus": b"ERR unknown_command \r\n",
}


async def test_perl_server_formats() -> None:
    async with fake_server(lambda line, n: PERL[line]) as port:
        async with AsyncAdminClient("127.0.0.1", port) as admin:
            assert (await admin.detect()).kind is ServerKind.PERL
            workers = await admin.workers()
            assert workers[0].functions == () and workers[1].functions == ("reverse",)
            assert (await admin.jobs())[0].unique == "u1"
            assert (await admin.clients())[0].client == "127.0.0.1:4000"
            assert (await admin.maxqueue("reverse")).high is None
            with pytest.raises(AdminError) as info:
                await admin.priority_status()
            assert info.value.unknown_command


async def test_silent_server_times_out() -> None:
    async with fake_server(lambda line, n: b"") as port:
        admin = AsyncAdminClient("127.0.0.1", port, timeout=0.2)
        with pytest.raises(ConnectError, match="no reply"):
            await admin.send("acl list")
        assert not admin.connected


async def test_version_refused_means_unknown_kind() -> None:
    async with fake_server(lambda line, n: b"ERR UNKNOWN_COMMAND x\r\n") as port:
        async with AsyncAdminClient("127.0.0.1", port) as admin:
            assert (await admin.detect()).kind is ServerKind.UNKNOWN


async def test_reply_cut_short_is_a_connect_error() -> None:
    async with fake_server(lambda line, n: b"fn\t1\t0\t0\n" + CLOSE) as port:
        admin = AsyncAdminClient("127.0.0.1", port)
        with pytest.raises(ConnectError, match="middle of a reply"):
            await admin.status()
        assert not admin.connected


async def test_read_only_command_retried_once_on_a_fresh_connection() -> None:
    def script(line: str, number: int) -> bytes | None:
        if number == 1 and line == "status":
            return None  # the first connection dies before answering status
        return b"OK 1.1.20\n" if line == "version" else b"f\t1\t0\t0\n.\n"

    async with fake_server(script) as port:
        async with AsyncAdminClient("127.0.0.1", port) as admin:
            await admin.version()
            assert (await admin.status())[0].function == "f"


async def test_changing_command_is_not_retried() -> None:
    def script(line: str, number: int) -> bytes | None:
        return b"OK 1.1.20\n" if line == "version" else None

    async with fake_server(script) as port:
        async with AsyncAdminClient("127.0.0.1", port) as admin:
            await admin.version()
            with pytest.raises(ConnectError, match="closed"):
                await admin.cancel_job("H:1")


# ------------------------------------------------------ sync and gearmand --
def test_blocking_facade() -> None:
    with gear_serve() as gear_process, AdminClient.from_address(gear_process.address) as admin:
        assert admin.address == gear_process.address
        assert admin.detect().kind is ServerKind.GEAR
        admin.create_function("sync")
        assert "sync" in {s.function for s in admin.status()}
        assert admin.maxqueue("sync", 3).high == 3
        assert admin.getpid().pid == gear_process.proc.pid
        assert admin.latency is not None


async def test_against_c_gearmand() -> None:
    with gearmand() as proc:
        port = proc.port
        handle = (await submit_bg(port, b"other", b"u1")).decode()
        worker = await sleeping_worker(port, b"fn", ident=b"w1")
        async with AsyncAdminClient("127.0.0.1", port) as admin:
            assert (await admin.detect()).kind is ServerKind.GEARMAND
            status = {s.function: s for s in await admin.status()}
            assert (status["other"].queued, status["fn"].workers) == (1, 1)
            assert [p.normal for p in await admin.priority_status() if p.function == "other"] == [1]
            assert "w1" in {w.client_id for w in await admin.workers()}
            assert [j.handle for j in await admin.show_jobs()] == [handle]
            assert [u.unique for u in await admin.show_unique_jobs()] == ["u1"]
            assert (await admin.getpid()).pid == proc.proc.pid
            assert (await admin.verbose()).level == "INFO"
            await admin.maxqueue("other", 10)
            with pytest.raises(AdminError, match="still connected workers"):
                await admin.drop_function("fn")
            assert await admin.cancel_job(handle) == ar.JobCancelled(handle=handle)
            with pytest.raises(AdminError) as info:
                await admin.stats()
            assert info.value.unknown_command
        await worker.close()


async def test_a_command_cancelled_mid_reply_does_not_leak_into_the_next(server: Server) -> None:
    """Cancelling a command half-way drops its connection: the next reply is its own."""
    async with AsyncAdminClient("127.0.0.1", server.port) as admin:
        await admin.create_function("cancel_me")
        task = asyncio.ensure_future(admin.send("status"))
        await asyncio.sleep(0)  # the command is on its way, its reply not read
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        version = await admin.version()
        assert version.version.startswith("1.1.20-gear")
