"""Packets: the ARGS table, ``Packet.build`` validation, encoding, round trips.

Every packet type 1-42 is built, encoded with the magic of the direction it
travels in, and decoded again; a few packets are checked against the byte
dumps of the protocol document (gearmand ``PROTOCOL``, "Client/Worker
example").
"""

from __future__ import annotations

import pytest

from gear.errors import GearError, LocalProtocolError, ProtocolError, RemoteProtocolError
from gear.protocol import (
    ARGS,
    HEADER,
    NEED_DATA,
    REQ,
    RES,
    Decoder,
    Packet,
    PacketType,
    encode,
    request,
    response,
)
from gear.protocol.constants import REQUEST_TYPES, RESPONSE_TYPES

P = PacketType


def magics_for(ptype: PacketType) -> list[bytes]:
    """The magics a packet type travels with (both for relayed WORK_* packets)."""
    magics = []
    if ptype in REQUEST_TYPES:
        magics.append(REQ)
    if ptype in RESPONSE_TYPES:
        magics.append(RES)
    # type 5 is unused: nobody sends it, but a server must still frame it
    return magics or [REQ]


def sample_args(ptype: PacketType) -> tuple[bytes, ...]:
    """One value per argument; the last one holds NUL bytes, as data may."""
    names = ARGS[ptype]
    values = [f"{name}-{int(ptype)}".encode() for name in names]
    if values:
        values[-1] = b"\0" + values[-1] + b"\0with\0nuls\0"
    return tuple(values)


ROUND_TRIPS = [
    pytest.param(ptype, magic, id=f"{ptype.name}-{magic[1:].decode()}")
    for ptype in PacketType
    for magic in magics_for(ptype)
]


def decode_one(data: bytes, magic: bytes) -> Packet:
    decoder = Decoder(expect=magic)
    decoder.feed(data)
    event = decoder.next_event()
    assert isinstance(event, Packet)
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing == b""
    return event


def test_packet_types_are_exactly_1_to_42() -> None:
    assert sorted(int(p) for p in PacketType) == list(range(1, 43))
    assert set(ARGS) == set(PacketType)
    # every type but the unused number 5 has a direction
    assert REQUEST_TYPES | RESPONSE_TYPES == set(PacketType) - {P.UNUSED}


def test_spec_names_and_numbers() -> None:
    assert P.CAN_DO == 1
    assert P.SUBMIT_JOB == 7
    assert P.JOB_ASSIGN_UNIQ == 31
    assert P.SUBMIT_JOB_EPOCH == 36
    assert P.STATUS_RES_UNIQUE == 42
    assert ARGS[P.SUBMIT_JOB] == ("function", "unique", "data")
    assert ARGS[P.JOB_ASSIGN_ALL] == ("handle", "function", "unique", "reducer", "data")
    assert len(ARGS[P.SUBMIT_JOB_SCHED]) == 8
    assert len(ARGS[P.STATUS_RES_UNIQUE]) == 6


@pytest.mark.parametrize(("ptype", "magic"), ROUND_TRIPS)
def test_round_trip_every_type(ptype: PacketType, magic: bytes) -> None:
    args = sample_args(ptype)
    packet = Packet.build(ptype, *args)
    wire = packet.encode(magic)
    body = b"\0".join(args)
    assert wire == HEADER.pack(magic, int(ptype), len(body)) + body
    decoded = decode_one(wire, magic)
    assert decoded == packet
    assert decoded.type == ptype
    assert decoded.args == args


@pytest.mark.parametrize("ptype", [p for p in PacketType if len(ARGS[p]) > 1])
def test_round_trip_all_empty_arguments(ptype: PacketType) -> None:
    n = len(ARGS[ptype])
    packet = Packet.build(ptype, *([b""] * n))
    wire = packet.encode(magics_for(ptype)[0])
    assert wire[12:] == b"\0" * (n - 1)
    assert decode_one(wire, magics_for(ptype)[0]).args == (b"",) * n


def test_last_argument_keeps_nul_bytes() -> None:
    data = b"\0\0a\0b\0\0"
    packet = Packet.build(P.SUBMIT_JOB, b"reverse", b"u1", data)
    decoded = decode_one(packet.encode(REQ), REQ)
    assert decoded.args == (b"reverse", b"u1", data)
    assert decoded.get("data") == data


def test_single_argument_packets_keep_nul_bytes() -> None:
    decoded = decode_one(Packet.build(P.ECHO_REQ, b"a\0b\0").encode(REQ), REQ)
    assert decoded.args == (b"a\0b\0",)


# --------------------------------------------------------------- golden bytes --
# From the "Client/Worker example" of the protocol document.
GOLDEN = [
    pytest.param(
        Packet(P.SUBMIT_JOB, (b"reverse", b"", b"test")),
        REQ,
        b"\0REQ\0\0\0\x07\0\0\0\x0dreverse\0\0test",
        id="SUBMIT_JOB",
    ),
    pytest.param(
        Packet(P.JOB_CREATED, (b"H:lap:1",)),
        RES,
        b"\0RES\0\0\0\x08\0\0\0\x07H:lap:1",
        id="JOB_CREATED",
    ),
    pytest.param(
        Packet(P.CAN_DO, (b"reverse",)),
        REQ,
        b"\0REQ\0\0\0\x01\0\0\0\x07reverse",
        id="CAN_DO",
    ),
    pytest.param(Packet(P.GRAB_JOB, ()), REQ, b"\0REQ\0\0\0\x09\0\0\0\0", id="GRAB_JOB"),
    pytest.param(Packet(P.NO_JOB, ()), RES, b"\0RES\0\0\0\x0a\0\0\0\0", id="NO_JOB"),
    pytest.param(Packet(P.PRE_SLEEP, ()), REQ, b"\0REQ\0\0\0\x04\0\0\0\0", id="PRE_SLEEP"),
    pytest.param(Packet(P.NOOP, ()), RES, b"\0RES\0\0\0\x06\0\0\0\0", id="NOOP"),
    pytest.param(
        Packet(P.JOB_ASSIGN, (b"H:lap:1", b"reverse", b"test")),
        RES,
        b"\0RES\0\0\0\x0b\0\0\0\x14H:lap:1\0reverse\0test",
        id="JOB_ASSIGN",
    ),
    pytest.param(
        Packet(P.WORK_COMPLETE, (b"H:lap:1", b"tset")),
        REQ,
        b"\0REQ\0\0\0\x0d\0\0\0\x0cH:lap:1\0tset",
        id="WORK_COMPLETE-worker",
    ),
    pytest.param(
        Packet(P.WORK_COMPLETE, (b"H:lap:1", b"tset")),
        RES,
        b"\0RES\0\0\0\x0d\0\0\0\x0cH:lap:1\0tset",
        id="WORK_COMPLETE-client",
    ),
]


@pytest.mark.parametrize(("packet", "magic", "wire"), GOLDEN)
def test_golden_bytes_encode(packet: Packet, magic: bytes, wire: bytes) -> None:
    assert packet.encode(magic) == wire
    assert encode(magic, packet.type, packet.args) == wire
    helper = request if magic == REQ else response
    assert helper(packet.type, *packet.args) == wire


@pytest.mark.parametrize(("packet", "magic", "wire"), GOLDEN)
def test_golden_bytes_decode(packet: Packet, magic: bytes, wire: bytes) -> None:
    assert decode_one(wire, magic) == packet


def test_default_magic_is_req() -> None:
    assert Packet(P.ECHO_REQ, (b"x",)).encode()[:4] == b"\0REQ"


# --------------------------------------------------------------- Packet.build --
def test_build_converts_str_and_int() -> None:
    packet = Packet.build(P.CAN_DO_TIMEOUT, "réverse", 1500)
    assert packet == Packet(P.CAN_DO_TIMEOUT, ("réverse".encode(), b"1500"))
    assert type(packet.type) is PacketType
    assert packet.name == "CAN_DO_TIMEOUT"
    assert packet.get("timeout") == b"1500"


def test_build_accepts_int_type_number() -> None:
    assert Packet.build(7, b"f", b"", b"d") == Packet(P.SUBMIT_JOB, (b"f", b"", b"d"))


def test_get_unknown_name_raises() -> None:
    with pytest.raises(ValueError):
        Packet.build(P.CAN_DO, b"f").get("handle")


@pytest.mark.parametrize(
    ("ptype", "args"),
    [
        (P.SUBMIT_JOB, (b"f", b"u")),
        (P.SUBMIT_JOB, (b"f", b"u", b"d", b"extra")),
        (P.NOOP, (b"x",)),
        (P.CAN_DO, ()),
        (P.STATUS_RES_UNIQUE, (b"u", b"1", b"0", b"0", b"0")),
    ],
)
def test_build_rejects_wrong_argument_count(ptype: PacketType, args: tuple[bytes, ...]) -> None:
    with pytest.raises(LocalProtocolError, match=ptype.name):
        Packet.build(ptype, *args)


@pytest.mark.parametrize(
    ("ptype", "args"),
    [
        (P.SUBMIT_JOB, (b"f\0", b"u", b"d")),
        (P.SUBMIT_JOB, (b"f", b"\0", b"d")),
        (P.WORK_STATUS, (b"H:1", b"1\0", b"2")),
        (P.SUBMIT_JOB_EPOCH, (b"f", b"u", "12\0", b"d")),
    ],
)
def test_build_rejects_nul_in_non_final_argument(
    ptype: PacketType, args: tuple[bytes, ...]
) -> None:
    with pytest.raises(LocalProtocolError, match="NUL"):
        Packet.build(ptype, *args)


def test_build_rejects_other_argument_types() -> None:
    with pytest.raises(LocalProtocolError):
        Packet.build(P.ECHO_REQ, 1.5)


def test_local_error_is_not_a_remote_error() -> None:
    with pytest.raises(LocalProtocolError) as info:
        Packet.build(P.CAN_DO)
    assert isinstance(info.value, ProtocolError)
    assert isinstance(info.value, GearError)
    assert not isinstance(info.value, RemoteProtocolError)


def test_plain_int_packet_numbers_match_the_enum() -> None:
    """constants.PT (plain ints for hot paths) names every PacketType with its number."""
    from gear.protocol.constants import PT

    plain = {name: value for name, value in vars(PT).items() if name.isupper()}
    assert plain == {member.name: member.value for member in PacketType}
