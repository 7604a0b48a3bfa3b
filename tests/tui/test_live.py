"""The dashboard against real servers (and a Perl-like one): cancel, down and back, rates."""

from __future__ import annotations

import asyncio

from textual.message import Message

from gear.protocol.constants import PacketType
from gear.server import Server
from gear.testing import RawConnection
from gear.tui.app import GearDashboard
from gear.tui.messages import ServerBack, ServerLost
from gear.tui.model import Quality, Rates
from gear.tui.screens.confirm import ConfirmScreen
from gear.tui.source import AdminClientSource
from gear.tui.widgets.jobs_table import JobsTable
from gear.tui.widgets.servers_panel import ServersPanel

from ..conftest import start_gear_process
from .conftest import refresh, settle


async def submit_background(conn: RawConnection, function: bytes, unique: bytes) -> str:
    await conn.send(PacketType.SUBMIT_JOB_BG, function, unique, b"payload")
    created = await conn.expect(PacketType.JOB_CREATED)
    return created.args[0].decode()


async def test_cancel_modal_cancels_a_queued_job(server: Server) -> None:
    client = await RawConnection.open(server.port)
    first = await submit_background(client, b"reverse", b"u1")
    second = await submit_background(client, b"reverse", b"u2")
    app = GearDashboard(AdminClientSource([f"127.0.0.1:{server.port}"]), interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.selected == "reverse"
        jobs = app.main.query_one(JobsTable)
        assert jobs.row_count == 2
        assert jobs.selected_job is not None and jobs.selected_job.handle == first  # oldest
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert any("OK" in n.message for n in app._notifications)
        assert [j.handle for j in app.main.snapshot.jobs] == [second]  # type: ignore[union-attr]
    queue = (await client.admin("show queue")).decode()
    assert first not in queue and second in queue
    await client.close()


async def test_a_server_going_down_is_shown_and_comes_back() -> None:
    proc = start_gear_process()
    port = proc.port
    messages: list[Message] = []
    try:
        app = GearDashboard(AdminClientSource([f"127.0.0.1:{port}"], timeout=2), interval=3600)
        async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
            await settle(pilot)
            assert app.snapshot is not None and app.snapshot.servers[0].up
            proc.stop()
            await refresh(pilot)
            down = app.snapshot.servers[0]
            assert not down.up and down.error
            assert any(isinstance(m, ServerLost) for m in messages)
            assert "DOWN" in str(app.main.query_one(ServersPanel).get_row_at(0)[1])
            proc = start_gear_process("--port", str(port))  # the same port again
            await refresh(pilot)
            assert app.snapshot.servers[0].up
            assert any(isinstance(m, ServerBack) for m in messages)
    finally:
        proc.stop()


async def test_source_counts_sleeping_workers_and_measures_rates(server: Server) -> None:
    ticks = iter([100.0, 102.0])
    source = AdminClientSource([f"127.0.0.1:{server.port}"], clock=lambda: next(ticks))
    worker = await RawConnection.open(server.port)
    await worker.send(PacketType.CAN_DO, b"work")
    client = await RawConnection.open(server.port)
    first = await source.poll("work")
    assert first.functions[0].rates.quality is Quality.PENDING
    for n in range(4):
        await submit_background(client, b"work", f"job{n}".encode())
        await worker.send(PacketType.GRAB_JOB)
        assigned = await worker.expect(PacketType.JOB_ASSIGN)
        await worker.send(PacketType.WORK_COMPLETE, assigned.args[0], b"")
    await worker.send(PacketType.PRE_SLEEP)
    await worker.admin("status")  # barrier: the server has seen every packet
    second = await source.poll("work")
    (work,) = second.functions
    assert work.rates == Rates(2.0, 2.0, Quality.EXACT)  # 4 jobs in 2 s, seen or not
    assert second.servers[0].rates == Rates(2.0, 2.0, Quality.EXACT)
    assert (work.workers, work.sleeping) == (1, 1)
    assert work.history == (2.0,)  # the first refresh had no rate to record
    assert second.workers[0].state == "sleeping"
    await source.close()
    await worker.close()
    await client.close()


PERL_REPLIES = {
    "version": "v1.130.1\n",
    "status": "reverse\t2\t1\t1\nidle\t0\t0\t0\n.\n",
    "workers": "7 127.0.0.1 worker1 : reverse\n8 127.0.0.1 - : \n.\n",
    "jobs": "reverse\tu1\t-\t0\nreverse\tu2\t127.0.0.1:5555\t1\n.\n",
}


async def test_a_perl_server_fills_what_it_can_and_nothing_more() -> None:
    asked: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := (await reader.readline()).decode().strip():
            asked.append(line)
            writer.write(PERL_REPLIES.get(line, "ERR unknown_command \r\n").encode())
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = AdminClientSource([f"127.0.0.1:{port}"])
    snap = await source.poll("reverse")
    (view,) = snap.servers
    assert (view.kind.value, view.version, view.uptime, view.connections) == (
        "perl",
        "1.130.1",
        None,
        2,
    )
    reverse = snap.function("reverse")
    assert reverse is not None
    assert (reverse.queued, reverse.running, reverse.workers) == (1, 1, 1)
    assert reverse.high is None and reverse.sleeping is None
    assert reverse.rates.quality is Quality.UNAVAILABLE
    assert [(j.unique, j.state, j.handle) for j in snap.jobs] == [
        ("u1", "queued", None),
        ("u2", "running", None),
    ]
    assert [(w.client_id, w.state) for w in snap.workers] == [("worker1", None)]
    (refused,) = await source.cancel_job(view.address, "H:1")
    assert not refused.ok and "not supported" in refused.message
    assert set(asked) == {"version", "status", "workers", "jobs"}  # no gear extension sent
    await source.close()
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers_does_not_hold_the_others_up(server: Server) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads everything, answers nothing
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    good, quiet = f"127.0.0.1:{server.port}", f"127.0.0.1:{silent_port}"
    source = AdminClientSource([good, quiet], timeout=30, wait=1.0)
    snap = await source.poll(None)  # returns after `wait`, not after `timeout`
    assert [(s.address, s.up, s.error) for s in snap.servers] == [
        (good, True, ""),
        (quiet, False, "no answer yet"),
    ]
    await source.close()  # stops the read still waiting
    silent.close()
    await silent.wait_closed()
