"""Pure parts of the library: server lists, flows, the flow multiplexer."""

from __future__ import annotations

from typing import Any

import pytest

from gear.client._connection import FlowConnection
from gear.client._flows import RECEIVE, echo_flow, grab_flow, status_flow, submit_flow
from gear.client._transport import Backoff
from gear.client.events import JobCreated, JobData, JobOutcome, JobProgress, JobStatus
from gear.client.servers import ServerAddress, parse_servers, resolve_servers
from gear.errors import RemoteProtocolError, ServerError
from gear.protocol.constants import PacketType as P
from gear.protocol.packets import Packet, response


class Sink:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.result: Any = None
        self.exc: BaseException | None = None

    def event(self, event: object) -> None:
        self.events.append(event)

    def done(self, result: Any) -> None:
        self.result = result

    def error(self, exc: BaseException) -> None:
        self.exc = exc


def test_parse_servers_forms() -> None:
    assert parse_servers("a, b:1,[::1]:2,[fe80::1]") == [
        ServerAddress("a", 4730),
        ServerAddress("b", 1),
        ServerAddress("::1", 2),
        ServerAddress("fe80::1", 4730),
    ]
    assert parse_servers(["a:5", "a:5", ("c", 7)]) == [ServerAddress("a", 5), ServerAddress("c", 7)]
    assert str(ServerAddress("::1", 9)) == "[::1]:9"
    for bad in ("a:0", "a:x", ":4730", "[::1"):
        with pytest.raises(ValueError):
            parse_servers(bad)


def test_resolve_precedence() -> None:
    env = {"GEAR_SERVERS": "g:1", "GEARMAN_SERVER": "m:2,n:3"}
    assert resolve_servers(["x"], environ=env) == [ServerAddress("x")]
    assert resolve_servers(None, environ=env) == [ServerAddress("g", 1)]
    assert resolve_servers([], environ={"GEARMAN_SERVER": "m:2,n:3"}) == [
        ServerAddress("m", 2),
        ServerAddress("n", 3),
    ]
    assert resolve_servers(None, environ={}, default_port=9) == [ServerAddress("localhost", 9)]
    with pytest.raises(ValueError, match="GEARMAN_SERVER"):
        resolve_servers(None, environ={"GEARMAN_SERVER": "m:x"})


def test_submit_flow_by_hand() -> None:
    flow = submit_flow(Packet.build(P.SUBMIT_JOB, "f", "", b"x"), background=False)
    assert next(flow).type == P.SUBMIT_JOB
    assert flow.send(None) is RECEIVE
    assert flow.send(Packet(P.JOB_CREATED, (b"H:1",))) == JobCreated(b"H:1")
    assert flow.send(None) is RECEIVE
    assert flow.send(Packet(P.WORK_STATUS, (b"H:1", b"1", b"4"))) == JobProgress(1, 4)
    assert flow.send(None) is RECEIVE
    with pytest.raises(StopIteration) as stop:
        flow.send(Packet(P.WORK_COMPLETE, (b"H:1", b"done")))
    assert stop.value.value == JobOutcome(JobStatus.COMPLETE, b"done")


def test_error_reply_raises_server_error() -> None:
    flow = status_flow(b"H:1")
    next(flow)
    flow.send(None)
    with pytest.raises(ServerError) as info:
        flow.send(Packet(P.ERROR, (b"QUEUE_ERROR", b"full")))
    assert info.value.code == "QUEUE_ERROR"


def _replies() -> bytes:
    return (
        response(P.JOB_CREATED, b"H:1")
        + response(P.ECHO_RES, b"ping")
        + response(P.WORK_DATA, b"H:1", b"a\0b")
        + response(P.NOOP)
        + response(P.WORK_COMPLETE, b"H:1", b"ok")
    )


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_connection_routes_replies_in_order_and_by_handle(split: str) -> None:
    noops: list[Packet] = []
    conn = FlowConnection(on_unsolicited=noops.append)
    job, echo = Sink(), Sink()
    conn.start(submit_flow(Packet.build(P.SUBMIT_JOB, "f", "", b""), False), job)
    conn.start(echo_flow(b"ping"), echo)
    sent = conn.data_to_send()
    assert sent.count(b"\0REQ") == 2
    data = _replies()
    chunks = [data] if split == "whole" else [data[i : i + 1] for i in range(len(data))]
    for chunk in chunks:
        conn.receive_data(chunk)
    assert echo.result == b"ping"
    assert job.events == [JobCreated(b"H:1"), JobData(b"a\0b")]
    assert job.result == JobOutcome(JobStatus.COMPLETE, b"ok")
    assert [p.type for p in noops] == [P.NOOP]
    assert conn.pending == 0


def test_connection_close_fails_running_flows_and_rejects_unexpected() -> None:
    conn = FlowConnection()
    sink = Sink()
    conn.start(grab_flow(), sink)
    with pytest.raises(RemoteProtocolError):
        FlowConnection().receive_data(response(P.ECHO_RES, b"x"))
    conn.close(ConnectionError("gone"))
    assert isinstance(sink.exc, ConnectionError)
    with pytest.raises(RemoteProtocolError):
        conn.start(echo_flow(b""), Sink())


def test_backoff_doubles_up_to_maximum() -> None:
    backoff = Backoff(initial=0.1, maximum=0.3)
    assert backoff.delay() == 0
    assert [backoff.failed(10.0) for _ in range(4)] == [0.1, 0.2, 0.3, 0.3]
    assert not backoff.ready(10.2) and backoff.ready(10.3)
    backoff.succeeded()
    assert backoff.ready(0) and backoff.delay() == 0
