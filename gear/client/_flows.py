"""Multi-step exchanges with a server, written once as generator flows.

Strategy (httpx ``auth_flow`` style): a flow is a generator that yields

* a ``Packet`` — the driver sends it and resumes the flow with ``None``;
* ``RECEIVE`` — the driver resumes the flow with the next packet meant for
  it (the next direct reply, or, once the flow has announced a handle, the
  next WORK_* packet for that handle);
* any other value (``JobCreated``, ``JobData`` …) — an event the driver
  hands to whoever started the flow, then resumes with ``None``.

The flow's return value is its result; an ERROR reply becomes a raised
``ServerError``.  Flows do no I/O and know nothing of asyncio, so they are
tested by sending them packets by hand.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Final, TypeVar

from gear.errors import RemoteProtocolError, ServerError
from gear.protocol.constants import PacketType
from gear.protocol.packets import Packet

from .events import JobCreated, JobData, JobInfo, JobOutcome, JobProgress, JobStatus, JobWarning

P = PacketType
T = TypeVar("T")


class Receive:
    """The type of ``RECEIVE``: "give me my next packet"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RECEIVE"


RECEIVE: Final = Receive()

#: one thing a flow yields
Step = Packet | Receive | object
#: a flow: yields steps, is sent packets (or None), returns T
Flow = Generator[Step, Packet | None, T]

#: the packets that are routed by job handle rather than as direct replies
WORK_TYPES: Final = frozenset(
    {P.WORK_DATA, P.WORK_WARNING, P.WORK_STATUS, P.WORK_COMPLETE, P.WORK_FAIL, P.WORK_EXCEPTION}
)


def atoi(raw: bytes) -> int:
    """The leading decimal number of ``raw`` (C ``atoi``), 0 if there is none."""
    digits = raw.strip()
    end = 0
    while end < len(digits) and 48 <= digits[end] <= 57:
        end += 1
    return int(digits[:end]) if end else 0


def expect(reply: Packet | None, *types: PacketType) -> Packet:
    """``reply`` if it is one of ``types``; raise ServerError for ERROR.

    Raises:
        ServerError: the server answered ERROR.
        RemoteProtocolError: any other unexpected packet.
    """
    if reply is None:
        raise RemoteProtocolError("flow resumed without a packet")
    if reply.type == P.ERROR:
        code, text = reply.args
        raise ServerError(code.decode("ascii", "replace"), text.decode("utf-8", "replace"))
    if reply.type not in types:
        wanted = " or ".join(t.name for t in types)
        raise RemoteProtocolError(f"expected {wanted}, got {PacketType(reply.type).name}")
    return reply


def submit_flow(request: Packet, background: bool) -> Flow[JobOutcome]:
    """Submit a job; stream its updates; return how it ended."""
    yield request
    created = expect((yield RECEIVE), P.JOB_CREATED)
    yield JobCreated(created.args[0])
    if background:
        return JobOutcome(JobStatus.CREATED)
    while True:
        packet = yield RECEIVE
        assert packet is not None
        ptype = packet.type
        if ptype == P.WORK_DATA:
            yield JobData(packet.args[1])
        elif ptype == P.WORK_WARNING:
            yield JobWarning(packet.args[1])
        elif ptype == P.WORK_STATUS:
            yield JobProgress(atoi(packet.args[1]), atoi(packet.args[2]))
        elif ptype == P.WORK_COMPLETE:
            return JobOutcome(JobStatus.COMPLETE, packet.args[1])
        elif ptype == P.WORK_FAIL:
            return JobOutcome(JobStatus.FAILED)
        elif ptype == P.WORK_EXCEPTION:
            return JobOutcome(JobStatus.EXCEPTION, packet.args[1])


def status_flow(handle: bytes) -> Flow[JobInfo]:
    """GET_STATUS → STATUS_RES."""
    yield Packet.build(P.GET_STATUS, handle)
    reply = expect((yield RECEIVE), P.STATUS_RES)
    key, known, running, num, den = reply.args
    return JobInfo(key, known == b"1", running == b"1", atoi(num), atoi(den))


def status_unique_flow(unique: bytes) -> Flow[JobInfo]:
    """GET_STATUS_UNIQUE → STATUS_RES_UNIQUE."""
    yield Packet.build(P.GET_STATUS_UNIQUE, unique)
    reply = expect((yield RECEIVE), P.STATUS_RES_UNIQUE)
    key, known, running, num, den, clients = reply.args
    return JobInfo(key, known == b"1", running == b"1", atoi(num), atoi(den), atoi(clients))


def echo_flow(data: bytes) -> Flow[bytes]:
    """ECHO_REQ → ECHO_RES; returns the echoed bytes."""
    yield Packet.build(P.ECHO_REQ, data)
    return expect((yield RECEIVE), P.ECHO_RES).args[0]


def option_flow(name: bytes) -> Flow[bool]:
    """OPTION_REQ → OPTION_RES (True) or ERROR UNKNOWN_OPTION (False)."""
    yield Packet.build(P.OPTION_REQ, name)
    try:
        expect((yield RECEIVE), P.OPTION_RES)
    except ServerError:
        return False
    return True


def grab_flow() -> Flow[Packet | None]:
    """GRAB_JOB_UNIQ → JOB_ASSIGN_UNIQ (returned) or NO_JOB (None)."""
    yield Packet.build(P.GRAB_JOB_UNIQ)
    reply = expect((yield RECEIVE), P.JOB_ASSIGN_UNIQ, P.JOB_ASSIGN, P.NO_JOB)
    return None if reply.type == P.NO_JOB else reply
