"""When the server writes: at once to the peer that asked, or at the end of the loop turn.

Strategy: a real ``Server`` (started on port 0, never run) is fed through
its own protocol factory with ``FakeTransport``s that record every write, as
in the hardening state machine.  The loop is not run, so what a transport
holds before the test calls ``server.flush()`` is what ``data_received``
wrote at once; the rest waits for the flush the loop would run at the end
of the turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from gear.protocol import PacketType as P
from gear.protocol import request
from gear.server import ServerConfig
from gear.server.server import ANSWER_AT_ONCE, Server
from tests.hardening.stateful import Conn


@pytest.fixture
def server() -> Iterator[Server]:
    loop = asyncio.new_event_loop()
    srv = Server(ServerConfig(port=0))
    loop.run_until_complete(srv.start())
    yield srv
    srv.request_shutdown(False)
    loop.run_until_complete(srv.serve_forever())
    loop.close()


def types(conn: Conn) -> list[P]:
    return [P(p.type) for p in conn.new_packets()]


def test_a_worker_gets_its_job_before_the_turn_ends(server: Server) -> None:
    client, worker = Conn(server, 1), Conn(server, 2)
    worker.feed(request(P.CAN_DO, b"f") + request(P.GRAB_JOB))
    assert types(worker) == [P.NO_JOB]
    server.flush()
    client.feed(request(P.SUBMIT_JOB_BG, b"f", b"", b"x"))
    server.flush()
    worker.feed(request(P.GRAB_JOB))
    assert types(worker) == [P.JOB_ASSIGN]


def test_a_worker_with_other_jobs_to_run_gets_its_next_at_the_flush(server: Server) -> None:
    client, worker = Conn(server, 1), Conn(server, 2)
    for data in (b"a", b"b", b"c"):
        client.feed(request(P.SUBMIT_JOB_BG, b"f", b"", data))
    server.flush()
    worker.feed(request(P.CAN_DO, b"f") + request(P.GRAB_JOB) + request(P.GRAB_JOB))
    assert worker.transport.out == b"", "two jobs to run: the replies can wait"
    server.flush()
    assert types(worker) == [P.JOB_ASSIGN, P.JOB_ASSIGN]


def test_a_client_waiting_for_results_gets_its_replies_in_one_write(server: Server) -> None:
    client, worker = Conn(server, 1), Conn(server, 2)
    worker.feed(request(P.CAN_DO, b"f") + request(P.GRAB_JOB))
    server.flush()
    client.feed(request(P.SUBMIT_JOB, b"f", b"", b"x"))
    assert client.transport.out == b"", "JOB_CREATED waits for the end of the turn"
    server.flush()
    assert types(client) == [P.JOB_CREATED]


@pytest.mark.parametrize(
    "ask",
    [request(P.SUBMIT_JOB_BG, b"f", b"", b"x"), request(P.ECHO_REQ, b"ping")],
    ids=["bg-submit", "echo"],
)
def test_a_client_gets_its_replies_at_the_flush(server: Server, ask: bytes) -> None:
    client = Conn(server, 1)
    server.flush()
    client.feed(ask)
    assert client.transport.out == b"", "a pipelined submitter's window comes in larger reads"
    server.flush()
    assert len(types(client)) == 1


def test_a_busy_turn_and_the_next_leave_the_rest_to_the_flush(server: Server) -> None:
    workers = [Conn(server, n) for n in range(ANSWER_AT_ONCE + 2)]
    for worker in workers:
        worker.feed(request(P.CAN_DO, b"f"))
    server.flush()
    server.flush()  # the registrations made a busy turn; this one is quiet
    for worker in workers:
        worker.feed(request(P.GRAB_JOB))
    answered = [bool(worker.transport.out) for worker in workers]
    assert answered == [True] * ANSWER_AT_ONCE + [False, False]
    server.flush()
    assert all(types(worker) == [P.NO_JOB] for worker in workers)
    last = workers[-1]
    last.feed(request(P.GRAB_JOB))
    assert types(last) == [], "the turn after a busy one answers none at once"
    server.flush()
    assert types(last) == [P.NO_JOB]
    last.feed(request(P.GRAB_JOB))
    assert types(last) == [P.NO_JOB], "after a quiet turn, answers at once again"


def test_after_input_the_loop_polls_for_the_window_then_sleeps() -> None:
    loop = asyncio.new_event_loop()
    srv = Server(ServerConfig(port=0, busy_poll=2000))
    loop.run_until_complete(srv.start())
    conn = Conn(srv, 1)
    conn.feed(request(P.ECHO_REQ, b"ping"))
    srv.flush()
    assert srv.polling

    async def turns_until_asleep() -> int:
        turns = 0
        while srv.polling:
            turns += 1
            if turns == 10:  # input in the window starts it again
                conn.feed(request(P.ECHO_REQ, b"again"))
            await asyncio.sleep(0)
        return turns

    started = time.perf_counter()
    turns = loop.run_until_complete(turns_until_asleep())
    took = time.perf_counter() - started
    assert turns > 10 and took >= 0.002, "the window restarted at the second ping"
    assert types(conn) == [P.ECHO_RES, P.ECHO_RES]
    srv.request_shutdown(False)
    loop.run_until_complete(srv.serve_forever())
    loop.close()


def test_busy_poll_off_sleeps_at_once(server: Server) -> None:
    server.busy_poll = 0.0
    Conn(server, 1).feed(request(P.ECHO_REQ, b"ping"))
    server.flush()
    assert not server.polling
