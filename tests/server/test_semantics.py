"""Job semantics of gear serve over real loopback sockets (issue #2, scope 4).

Each test drives a live server with raw packets: clients and workers are
``RawConnection`` objects, so every byte the server sends is checked.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator

import pytest

from gear.protocol import PacketType as P
from gear.server import Server, ServerConfig
from gear.testing import RawConnection, running_server

_open: list[RawConnection] = []


@pytest.fixture(autouse=True)
async def close_connections() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().close()


async def connect(server: Server) -> RawConnection:
    conn = await RawConnection.open(server.port)
    _open.append(conn)
    return conn


async def submit(
    conn: RawConnection, fn: bytes, data: bytes, unique: bytes = b"", ptype: P = P.SUBMIT_JOB
) -> bytes:
    await conn.send(ptype, fn, unique, data)
    return (await conn.expect(P.JOB_CREATED)).args[0]


async def worker(server: Server, *functions: bytes) -> RawConnection:
    w = await connect(server)
    for fn in functions:
        await w.send(P.CAN_DO, fn)
    return w


async def grab(w: RawConnection) -> tuple[bytes, ...]:
    await w.send(P.GRAB_JOB_UNIQ)
    return (await w.expect(P.JOB_ASSIGN_UNIQ)).args


async def grab_waiting(w: RawConnection) -> tuple[bytes, ...]:
    """Grab a job, sleeping (PRE_SLEEP until NOOP) while there is none."""
    while True:
        await w.send(P.GRAB_JOB_UNIQ)
        reply = await w.recv()
        if reply.type == P.JOB_ASSIGN_UNIQ:
            return reply.args
        assert reply.type == P.NO_JOB
        await w.send(P.PRE_SLEEP)
        await w.expect(P.NOOP)


async def barrier(conn: RawConnection) -> None:
    """Everything sent before has been processed (the server answers in order)."""
    await conn.send(P.ECHO_REQ, b"barrier")
    await conn.expect(P.ECHO_RES)


async def status_of(server: Server, fn: bytes) -> list[int] | None:
    admin = await connect(server)
    try:
        reply = await admin.admin("status")
    finally:
        await admin.close()
    for line in reply.decode().splitlines():
        parts = line.split("\t")
        if parts[0] == fn.decode():
            return [int(p) for p in parts[1:]]
    return None


# ------------------------------------------------------------------ uniques --
async def test_foreground_submits_with_one_unique_share_one_run(server: Server) -> None:
    c1, c2 = await connect(server), await connect(server)
    h1 = await submit(c1, b"f", b"data", b"u1")
    h2 = await submit(c2, b"f", b"other", b"u1")
    assert h1 == h2
    w = await worker(server, b"f")
    handle, _, unique, data = await grab(w)
    assert (handle, unique, data) == (h1, b"u1", b"data")
    await w.send(P.WORK_COMPLETE, handle, b"done")
    for c in (c1, c2):
        assert (await c.expect(P.WORK_COMPLETE)).args == (handle, b"done")
    await w.send(P.GRAB_JOB_UNIQ)
    await w.expect(P.NO_JOB)


async def test_foreground_joins_a_running_job_and_sees_later_packets(server: Server) -> None:
    c1, c2 = await connect(server), await connect(server)
    h = await submit(c1, b"f", b"x", b"u")
    w = await worker(server, b"f")
    await grab(w)
    await w.send(P.WORK_DATA, h, b"early")
    await c1.expect(P.WORK_DATA)
    assert await submit(c2, b"f", b"x", b"u") == h
    await w.send(P.WORK_DATA, h, b"late")
    assert (await c2.expect(P.WORK_DATA)).args == (h, b"late")
    await w.send(P.WORK_COMPLETE, h, b"r")
    assert (await c2.expect(P.WORK_COMPLETE)).args == (h, b"r")


async def test_background_onto_foreground_coalesces(server: Server) -> None:
    c, b = await connect(server), await connect(server)
    h = await submit(c, b"f", b"x", b"u")
    assert await submit(b, b"f", b"y", b"u", P.SUBMIT_JOB_BG) == h
    assert await status_of(server, b"f") == [1, 0, 0]


async def test_dash_unique_means_the_payload_is_the_unique(server: Server) -> None:
    c = await connect(server)
    h1 = await submit(c, b"f", b"same", b"-")
    h2 = await submit(c, b"f", b"same", b"-")
    h3 = await submit(c, b"f", b"different", b"-")
    assert h1 == h2 != h3


async def test_empty_unique_never_coalesces(server: Server) -> None:
    c = await connect(server)
    assert await submit(c, b"f", b"x") != await submit(c, b"f", b"x")


async def test_uniques_are_per_function(server: Server) -> None:
    c = await connect(server)
    assert await submit(c, b"f", b"x", b"u") != await submit(c, b"g", b"x", b"u")


async def test_background_job_survives_its_coalesced_client_leaving(server: Server) -> None:
    """C gearmand drops the background job here (survey §1.3); gear keeps it."""
    c, b = await connect(server), await connect(server)
    h = await submit(c, b"f", b"x", b"u")
    await submit(b, b"f", b"x", b"u", P.SUBMIT_JOB_BG)
    await c.close()
    await barrier(b)
    assert await status_of(server, b"f") == [1, 0, 0]
    w = await worker(server, b"f")
    assert (await grab(w))[0] == h


async def test_abandoned_foreground_job_leaves_the_queue_at_once(server: Server) -> None:
    """C gearmand keeps counting it until a worker reaches it (survey §7 #2)."""
    c = await connect(server)
    await submit(c, b"f", b"x")
    assert await status_of(server, b"f") == [1, 0, 0]
    await c.close()
    probe = await connect(server)
    for _ in range(100):
        if await status_of(server, b"f") == [0, 0, 0]:
            break
        await barrier(probe)
    assert await status_of(server, b"f") == [0, 0, 0]
    w = await worker(server, b"f")
    await w.send(P.GRAB_JOB)
    await w.expect(P.NO_JOB)


# --------------------------------------------------------------- priorities --
async def test_priority_is_global_across_a_workers_functions(server: Server) -> None:
    c = await connect(server)
    low_a = await submit(c, b"a", b"1", ptype=P.SUBMIT_JOB_LOW_BG)
    normal_a = await submit(c, b"a", b"2", ptype=P.SUBMIT_JOB_BG)
    high_b = await submit(c, b"b", b"3", ptype=P.SUBMIT_JOB_HIGH_BG)
    w = await worker(server, b"a", b"b")
    order = [(await grab(w))[0] for _ in range(3)]
    assert order == [high_b, normal_a, low_a]


async def test_fifo_within_a_priority(server: Server) -> None:
    c = await connect(server)
    handles = [await submit(c, b"f", str(i).encode(), ptype=P.SUBMIT_JOB_BG) for i in range(5)]
    w = await worker(server, b"f")
    assert [(await grab(w))[0] for _ in range(5)] == handles


async def test_round_robin_between_a_workers_functions(server: Server) -> None:
    c = await connect(server)
    for i in range(3):
        await submit(c, b"a", b"a%d" % i, ptype=P.SUBMIT_JOB_BG)
        await submit(c, b"b", b"b%d" % i, ptype=P.SUBMIT_JOB_BG)
    w = await worker(server, b"a", b"b")
    functions = [(await grab(w))[1] for _ in range(6)]
    assert functions == [b"a", b"b", b"a", b"b", b"a", b"b"]


# ------------------------------------------------------------ worker failure --
async def test_worker_loss_requeues_at_head_and_client_gets_the_result(server: Server) -> None:
    c = await connect(server)
    first = await submit(c, b"f", b"first")
    second = await submit(c, b"f", b"second")
    w1 = await worker(server, b"f")
    assert (await grab(w1))[0] == first
    await w1.send(P.WORK_STATUS, first, b"1", b"2")
    await c.expect(P.WORK_STATUS)
    await w1.close()
    w2 = await worker(server, b"f")
    assert (await grab(w2))[0] == first, "the lost job goes back to the head"
    await w2.send(P.WORK_COMPLETE, first, b"ok")
    assert (await c.expect(P.WORK_COMPLETE)).args == (first, b"ok")
    assert (await grab(w2))[0] == second


async def test_cant_do_mid_job_leaves_the_job_with_its_worker(server: Server) -> None:
    c = await connect(server)
    h = await submit(c, b"f", b"x")
    w1 = await worker(server, b"f")
    await grab(w1)
    await w1.send(P.CANT_DO, b"f")
    await w1.send(P.WORK_COMPLETE, h, b"kept")
    assert (await c.expect(P.WORK_COMPLETE)).args == (h, b"kept")


async def test_job_retries_fail_the_job_after_n_attempts() -> None:
    async with running_server(ServerConfig(job_retries=2)) as server:
        c = await connect(server)
        h = await submit(c, b"f", b"x")
        for _ in range(2):
            w = await worker(server, b"f")
            assert (await grab(w))[0] == h
            await w.close()
        assert (await c.expect(P.WORK_FAIL)).args == (h,)
        assert await status_of(server, b"f") == [0, 0, 0]


async def test_can_do_timeout_fails_the_job_and_a_late_result_is_dropped(server: Server) -> None:
    """1000 and more: milliseconds, as libgearman sends; the late result is no error."""
    c = await connect(server)
    w = await connect(server)
    await w.send(P.CAN_DO_TIMEOUT, b"slow", b"1000")
    h = await submit(c, b"slow", b"x")
    started = time.monotonic()
    await grab(w)
    assert (await c.expect(P.WORK_FAIL, timeout=5)).args == (h,)
    assert time.monotonic() - started >= 0.9
    await w.send(P.WORK_COMPLETE, h, b"late")
    await w.send(P.ECHO_REQ, b"after")
    assert (await w.recv()).type == P.ECHO_RES, "no ERROR for the late result"


# ---------------------------------------------------------- epoch and sched --
async def test_epoch_job_runs_when_due_and_wakes_a_sleeping_worker(server: Server) -> None:
    w = await worker(server, b"later")
    await w.send(P.PRE_SLEEP)
    await barrier(w)
    c = await connect(server)
    due = int(time.time()) + 1
    h = (
        await c.send(P.SUBMIT_JOB_EPOCH, b"later", b"", str(due).encode(), b"x"),
        await c.expect(P.JOB_CREATED),
    )[1].args[0]
    await w.expect(P.NOOP, timeout=5)
    assert time.time() >= due
    assert (await grab(w))[0] == h


async def test_sched_job_is_scheduled_for_the_next_matching_minute(server: Server) -> None:
    c = await connect(server)
    await c.send(P.SUBMIT_JOB_SCHED, b"cron", b"", b"", b"", b"", b"", b"", b"x")
    h = (await c.expect(P.JOB_CREATED)).args[0]
    queue = (await c.admin("show queue cron")).decode()
    fields = queue.splitlines()[0].split("\t")
    assert fields[0] == h.decode() and fields[4] == "scheduled"
    assert 0 < int(fields[9]) - time.time() <= 61
    await c.send(P.SUBMIT_JOB_SCHED, b"cron", b"", b"61", b"", b"", b"", b"", b"x")
    assert (await c.expect(P.ERROR)).args[0] == b"INVALID_ARGUMENT"


# ---------------------------------------------------------------- exceptions --
async def test_work_exception_ends_the_job_and_is_downgraded_without_the_option(
    server: Server,
) -> None:
    plain, opted = await connect(server), await connect(server)
    await opted.send(P.OPTION_REQ, b"exceptions")
    assert (await opted.expect(P.OPTION_RES)).args == (b"exceptions",)
    h = await submit(plain, b"f", b"x", b"u")
    await submit(opted, b"f", b"x", b"u")
    w = await worker(server, b"f")
    await grab(w)
    await w.send(P.WORK_EXCEPTION, h, b"boom")
    assert (await plain.expect(P.WORK_FAIL)).args == (h,)
    assert (await opted.expect(P.WORK_EXCEPTION)).args == (h, b"boom")
    # a Perl worker follows its WORK_EXCEPTION with WORK_FAIL: dropped, no ERROR
    await w.send(P.WORK_FAIL, h)
    await w.send(P.WORK_COMPLETE, h, b"after")
    assert (await w.expect(P.ERROR)).args[0] == b"JOB_NOT_FOUND"


# ------------------------------------------------------------------ wake-ups --
async def test_one_job_wakes_one_of_many_sleepers(server: Server) -> None:
    sleepers = [await worker(server, b"f") for _ in range(20)]
    for w in sleepers:
        await w.send(P.PRE_SLEEP)
    for w in sleepers:
        await barrier(w)
    c = await connect(server)
    await submit(c, b"f", b"x")
    await barrier(c)
    woken = []
    for w in sleepers:
        await w.send(P.ECHO_REQ, b"b")
        first = await w.recv()
        if first.type == P.NOOP:
            woken.append(w)
            await w.expect(P.ECHO_RES)
    assert len(woken) == 1


async def test_pre_sleep_with_a_job_waiting_gets_an_immediate_noop(server: Server) -> None:
    c = await connect(server)
    await submit(c, b"f", b"x", ptype=P.SUBMIT_JOB_BG)
    w = await worker(server, b"f")
    await w.send(P.PRE_SLEEP)
    await w.expect(P.NOOP)


async def test_woken_worker_that_leaves_passes_the_job_on(server: Server) -> None:
    a, b = await worker(server, b"f"), await worker(server, b"f")
    for w in (a, b):
        await w.send(P.PRE_SLEEP)
        await barrier(w)
    c = await connect(server)
    await submit(c, b"f", b"x", ptype=P.SUBMIT_JOB_BG)
    await barrier(c)
    await a.send(P.ECHO_REQ, b"?")
    first = await a.recv()
    woken, other = (a, b) if first.type == P.NOOP else (b, a)
    await woken.close()
    await other.expect(P.NOOP)


# ------------------------------------------------------------ handles, ids --
async def test_handles_have_gearmands_format_and_never_repeat_across_boots() -> None:
    """``H:<host>:<n>`` as C gearmand (PHP's tests match it), n past the last boot's."""
    host = socket.gethostname()[:40]
    handles = []
    for _ in range(2):
        async with running_server() as server:
            c = await connect(server)
            handles.append(await submit(c, b"f", b"x", ptype=P.SUBMIT_JOB_BG))
    numbers = []
    for h in handles:
        match = re.fullmatch(rb"H:(.+):(\d+)", h)
        assert match is not None and match[1].decode() == host, h
        numbers.append(int(match[2]))
    assert numbers[1] > numbers[0]


async def test_duplicate_can_do_counts_the_worker_once(server: Server) -> None:
    w = await worker(server, b"f", b"f")
    await barrier(w)
    assert await status_of(server, b"f") == [0, 0, 1]


async def test_client_id_with_spaces_is_sanitised(server: Server) -> None:
    w = await worker(server, b"f")
    await w.send(P.SET_CLIENT_ID, b"my worker\tid")
    await barrier(w)
    reply = (await w.admin("workers")).decode()
    line = next(line for line in reply.splitlines() if line.endswith(" f"))
    assert line.split(" ")[2:] == ["my_worker_id", ":", "f"]


# -------------------------------------------------------------------- limits --
async def test_unique_over_64_bytes_is_refused(server: Server) -> None:
    c = await connect(server)
    await c.send(P.SUBMIT_JOB, b"f", b"u" * 65, b"x")
    assert (await c.expect(P.ERROR)).args == (b"ARGUMENT_TOO_LARGE", b"Unique value too large")
    assert await submit(c, b"f", b"x", b"u" * 64)


async def test_function_name_over_512_bytes_is_refused(server: Server) -> None:
    c = await connect(server)
    await c.send(P.SUBMIT_JOB, b"f" * 513, b"", b"x")
    assert (await c.expect(P.ERROR)).args[0] == b"ARGUMENT_TOO_LARGE"
    await barrier(c)


async def test_oversize_packet_gets_an_error_then_the_connection_closes() -> None:
    async with running_server(ServerConfig(max_packet_size=4096)) as server:
        c = await connect(server)
        await c.send(P.SUBMIT_JOB, b"f", b"", b"x" * 5000)
        assert (await c.expect(P.ERROR)).args[0] == b"ARGUMENT_TOO_LARGE"
        with pytest.raises(ConnectionError):
            await c.recv()
        ok = await connect(server)
        await barrier(ok)


async def test_maxqueue_set_before_the_function_exists_applies(server: Server) -> None:
    c = await connect(server)
    assert await c.admin("maxqueue newfn 2") == b"OK\r\n"
    await submit(c, b"newfn", b"1", ptype=P.SUBMIT_JOB_BG)
    await submit(c, b"newfn", b"2", ptype=P.SUBMIT_JOB_BG)
    await c.send(P.SUBMIT_JOB_BG, b"newfn", b"", b"3")
    assert (await c.expect(P.ERROR)).args == (b"QUEUE_ERROR", b"Job queue is full")
    assert await c.admin("show maxqueue") == b"newfn\t2\t2\t2\n.\n"


async def test_unknown_packet_type_gets_an_error_and_the_connection_stays(server: Server) -> None:
    c = await connect(server)
    await c.send_bytes(b"\0REQ" + (99).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    assert (await c.expect(P.ERROR)).args[0] == b"INVALID_COMMAND"
    await barrier(c)


async def test_bad_magic_gets_invalid_magic_and_closes(server: Server) -> None:
    c = await connect(server)
    await c.send_bytes(b"\0RES" + (7).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    assert (await c.expect(P.ERROR)).args[0] == b"INVALID_MAGIC"
    with pytest.raises(ConnectionError):
        await c.recv()


async def test_response_only_packet_from_a_client_is_refused(server: Server) -> None:
    c = await connect(server)
    await c.send(P.JOB_CREATED, b"H:x:1")
    assert (await c.expect(P.ERROR)).args == (b"INVALID_COMMAND", b"Command not expected")
    await barrier(c)


async def test_all_yours_is_accepted_silently(server: Server) -> None:
    w = await worker(server, b"f")
    await w.send(P.ALL_YOURS)
    await barrier(w)


async def test_interleaved_text_and_binary_on_one_connection(server: Server) -> None:
    c = await connect(server)
    await submit(c, b"f", b"x")
    assert (await c.admin("version")).startswith(b"OK ")
    await barrier(c)


async def test_many_clients_in_parallel(server: Server) -> None:
    w = await worker(server, b"rev")

    async def serve_jobs() -> None:
        for _ in range(50):
            handle, _, _, data = await grab_waiting(w)
            await w.send(P.WORK_COMPLETE, handle, data[::-1])

    async def one(i: int) -> bytes:
        c = await connect(server)
        h = await submit(c, b"rev", b"job-%d" % i)
        result = await c.expect(P.WORK_COMPLETE)
        await c.close()
        assert result.args[0] == h
        return result.args[1]

    results = await asyncio.gather(serve_jobs(), *(one(i) for i in range(50)))
    assert sorted(results[1:]) == sorted((b"job-%d" % i)[::-1] for i in range(50))


async def test_show_functions_counts_jobs_in_and_out_per_function(server: Server) -> None:
    """gear's ``show functions``: FUNCTION, jobs submitted, finished (coalescing adds none)."""
    c = await connect(server)
    h = await submit(c, b"fa", b"x", b"u")
    await submit(c, b"fa", b"x", b"u")
    await submit(c, b"fb", b"y", ptype=P.SUBMIT_JOB_BG)
    w = await worker(server, b"fa")
    await grab(w)
    await w.send(P.WORK_COMPLETE, h, b"")
    await barrier(w)
    reply = await (await connect(server)).admin("show functions")
    lines = sorted(reply.decode().splitlines()[:-1])
    assert lines == ["fa\t1\t1", "fb\t1\t0"]
