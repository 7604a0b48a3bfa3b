"""The incremental decoder: bytes fed whole, one at a time, and with leftovers.

Strategy (from h11's ``tests/test_io.py``): every well-formed input is fed
three ways.  Whole, it yields its event and then ``NEED_DATA``; one byte at a
time, it yields ``NEED_DATA`` until the last byte; followed by the first
bytes of another packet, those bytes stay in ``decoder.trailing``.  Broken
input must raise ``RemoteProtocolError`` and nothing else, with ``fatal``
saying whether the stream can go on.  A Hypothesis test checks that any
sequence of packets and admin lines, cut anywhere, decodes to itself.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gear.errors import PacketTooLarge, RemoteProtocolError
from gear.protocol import (
    ARGS,
    HEADER,
    NEED_DATA,
    REQ,
    RES,
    AdminLine,
    Decoder,
    ErrorCode,
    Packet,
    PacketType,
    request,
    response,
)
from gear.protocol.constants import RESPONSE_TYPES
from gear.protocol.framing import EchoReplies, Event

P = PacketType
NEXT = request(P.ECHO_REQ, b"next")
NEXT_PACKET = Packet(P.ECHO_REQ, (b"next",))


def drain(decoder: Decoder) -> list[Event]:
    """Every complete event buffered, in order."""
    events: list[Event] = []
    while (event := decoder.next_event()) is not NEED_DATA:
        events.append(event)
    return events


# --------------------------------------------------------- three ways to feed --
# (decoder options, bytes, the one event they hold)
WELL_FORMED = [
    pytest.param(
        {},
        request(P.SUBMIT_JOB, b"reverse", b"", b"test"),
        Packet(P.SUBMIT_JOB, (b"reverse", b"", b"test")),
        id="submit",
    ),
    pytest.param({}, request(P.GRAB_JOB_UNIQ), Packet(P.GRAB_JOB_UNIQ, ()), id="empty-body"),
    pytest.param(
        {},
        request(P.SUBMIT_JOB_BG, b"f", b"u", b"\0a\0\0b\0"),
        Packet(P.SUBMIT_JOB_BG, (b"f", b"u", b"\0a\0\0b\0")),
        id="nul-in-data",
    ),
    pytest.param({}, request(P.ECHO_REQ, b"\0"), Packet(P.ECHO_REQ, (b"\0",)), id="echo-nul"),
    pytest.param({}, b"status\n", AdminLine(b"status"), id="admin-lf"),
    pytest.param({}, b"workers\r\n", AdminLine(b"workers"), id="admin-crlf"),
    pytest.param({}, b"maxqueue  f\t1 2\n", AdminLine(b"maxqueue  f\t1 2"), id="admin-words"),
    pytest.param({}, b"\n", AdminLine(b""), id="admin-empty"),
    pytest.param(
        {"expect": RES, "allow_text": False},
        response(P.JOB_ASSIGN_UNIQ, b"H:x:1", b"f", b"u", b"d\0d"),
        Packet(P.JOB_ASSIGN_UNIQ, (b"H:x:1", b"f", b"u", b"d\0d")),
        id="res-assign",
    ),
    pytest.param(
        {"expect": RES, "allow_text": False},
        response(P.NOOP),
        Packet(P.NOOP, ()),
        id="res-noop",
    ),
]


@pytest.mark.parametrize(("options", "data", "event"), WELL_FORMED)
def test_fed_whole(options: dict[str, object], data: bytes, event: Event) -> None:
    decoder = Decoder(**options)  # type: ignore[arg-type]
    decoder.feed(data)
    assert decoder.next_event() == event
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing == b""


@pytest.mark.parametrize(("options", "data", "event"), WELL_FORMED)
def test_fed_byte_by_byte(options: dict[str, object], data: bytes, event: Event) -> None:
    decoder = Decoder(**options)  # type: ignore[arg-type]
    for i in range(len(data) - 1):
        decoder.feed(data[i : i + 1])
        assert decoder.next_event() is NEED_DATA, f"event before the last byte (at {i})"
    decoder.feed(data[-1:])
    assert decoder.next_event() == event
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing == b""


@pytest.mark.parametrize(("options", "data", "event"), WELL_FORMED)
def test_fed_with_trailing_bytes(options: dict[str, object], data: bytes, event: Event) -> None:
    decoder = Decoder(**options)  # type: ignore[arg-type]
    magic = options.get("expect", REQ)
    next_type = P.ECHO_REQ if magic == REQ else P.ECHO_RES
    following = HEADER.pack(magic, next_type, 4) + b"next"
    decoder.feed(data + following[:7])
    assert decoder.next_event() == event
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing == following[:7]
    decoder.feed(following[7:])
    assert decoder.next_event() == Packet(next_type, (b"next",))
    assert decoder.trailing == b""


def test_trailing_text_stays_buffered() -> None:
    decoder = Decoder()
    decoder.feed(b"status\nvers")
    assert decoder.next_event() == AdminLine(b"status")
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing == b"vers"
    decoder.feed(b"ion\r\n")
    assert decoder.next_event() == AdminLine(b"version")


def test_empty_decoder_needs_data() -> None:
    decoder = Decoder()
    assert decoder.next_event() is NEED_DATA
    decoder.feed(b"")
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing == b""


def test_text_and_binary_interleaved_in_one_buffer() -> None:
    decoder = Decoder()
    decoder.feed(
        b"status\n"
        + request(P.SUBMIT_JOB, b"f", b"", b"x\ny")
        + b"workers\r\n"
        + request(P.ECHO_REQ, b"status\n")
        + b"version\n"
    )
    assert drain(decoder) == [
        AdminLine(b"status"),
        Packet(P.SUBMIT_JOB, (b"f", b"", b"x\ny")),
        AdminLine(b"workers"),
        Packet(P.ECHO_REQ, (b"status\n",)),
        AdminLine(b"version"),
    ]
    assert decoder.trailing == b""


def test_many_packets_in_one_feed() -> None:
    decoder = Decoder(expect=RES, allow_text=False)
    decoder.feed(b"".join(response(P.JOB_CREATED, b"H:x:%d" % i) for i in range(50)))
    assert drain(decoder) == [Packet(P.JOB_CREATED, (b"H:x:%d" % i,)) for i in range(50)]


def test_zero_argument_packet_ignores_a_body() -> None:
    decoder = Decoder()
    decoder.feed(HEADER.pack(REQ, P.PRE_SLEEP, 3) + b"abc" + NEXT)
    assert drain(decoder) == [Packet(P.PRE_SLEEP, ()), NEXT_PACKET]


# ------------------------------------------------------------------- errors --
def expect_error(decoder: Decoder, data: bytes) -> RemoteProtocolError:
    decoder.feed(data)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    return info.value


def test_response_magic_sent_to_a_server_is_fatal_invalid_magic() -> None:
    error = expect_error(Decoder(expect=REQ), response(P.ECHO_RES, b"x"))
    assert error.fatal
    assert error.error_code == ErrorCode.INVALID_MAGIC
    assert "Request magic expected" in str(error)


def test_request_magic_sent_to_a_client_is_fatal() -> None:
    error = expect_error(Decoder(expect=RES, allow_text=False), request(P.ECHO_REQ, b"x"))
    assert error.fatal
    assert error.error_code == ErrorCode.INVALID_MAGIC


@pytest.mark.parametrize("magic", [b"\0XYZ", b"\0req", b"\0RE\0", b"\0\0\0\0"])
def test_other_magic_is_fatal(magic: bytes) -> None:
    error = expect_error(Decoder(), HEADER.pack(magic, P.ECHO_REQ, 1) + b"x")
    assert error.fatal
    assert error.error_code == ErrorCode.INVALID_MAGIC


@pytest.mark.parametrize("magic", [b"\0XYZ", b"\0req"])
def test_bad_magic_is_seen_before_the_header_is_complete(magic: bytes) -> None:
    error = expect_error(Decoder(), magic)
    assert error.fatal


def test_oversize_length_is_fatal_before_the_body_arrives() -> None:
    decoder = Decoder(max_packet_size=1024)
    error = expect_error(decoder, HEADER.pack(REQ, P.SUBMIT_JOB, 1025))
    assert isinstance(error, PacketTooLarge)
    assert error.fatal
    assert error.error_code == ErrorCode.ARGUMENT_TOO_LARGE


def test_length_at_the_limit_is_accepted() -> None:
    decoder = Decoder(max_packet_size=1024)
    decoder.feed(request(P.ECHO_REQ, b"x" * 1024))
    assert decoder.next_event() == Packet(P.ECHO_REQ, (b"x" * 1024,))


def test_huge_length_is_fatal() -> None:
    error = expect_error(Decoder(), HEADER.pack(REQ, P.ECHO_REQ, 0xFFFFFFFF))
    assert isinstance(error, PacketTooLarge)
    assert error.fatal


def test_overlong_text_line_is_fatal() -> None:
    error = expect_error(Decoder(max_packet_size=16), b"s" * 17)
    assert isinstance(error, PacketTooLarge)
    assert error.fatal
    assert error.error_code == ErrorCode.ARGUMENT_TOO_LARGE


def test_text_where_binary_expected_is_fatal() -> None:
    error = expect_error(Decoder(expect=RES, allow_text=False), b"OK\n")
    assert error.fatal


@pytest.mark.parametrize("ptype", [0, 43, 99, 9999])
def test_unknown_type_is_consumed_and_not_fatal(ptype: int) -> None:
    decoder = Decoder()
    error = expect_error(decoder, HEADER.pack(REQ, ptype, 5) + b"a\0b\0c" + NEXT)
    assert not error.fatal
    assert error.error_code == ErrorCode.INVALID_COMMAND
    assert str(ptype) in str(error)
    assert decoder.trailing == NEXT
    assert drain(decoder) == [NEXT_PACKET]


def test_unknown_type_waits_for_its_whole_body() -> None:
    decoder = Decoder()
    decoder.feed(HEADER.pack(REQ, 77, 4) + b"ab")
    assert decoder.next_event() is NEED_DATA
    decoder.feed(b"cd" + NEXT)
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert drain(decoder) == [NEXT_PACKET]


@pytest.mark.parametrize(
    ("ptype", "body"),
    [
        (P.SUBMIT_JOB, b"reverse\0test"),
        (P.SUBMIT_JOB, b"reverse"),
        (P.SUBMIT_JOB, b""),
        (P.WORK_STATUS, b"H:x:1\x001"),
        (P.SUBMIT_JOB_EPOCH, b"f\0u\0data"),
        (P.CAN_DO_TIMEOUT, b"f"),
    ],
)
def test_too_few_arguments_is_consumed_and_not_fatal(ptype: PacketType, body: bytes) -> None:
    decoder = Decoder()
    error = expect_error(decoder, HEADER.pack(REQ, ptype, len(body)) + body + NEXT)
    assert not error.fatal
    assert ptype.name in str(error)
    assert drain(decoder) == [NEXT_PACKET]


def test_too_few_arguments_in_a_response() -> None:
    decoder = Decoder(expect=RES, allow_text=False)
    error = expect_error(decoder, response(P.STATUS_RES, b"H:x:1", b"1") + response(P.NOOP))
    assert not error.fatal
    assert drain(decoder) == [Packet(P.NOOP, ())]


# --------------------------------------------------------------- Hypothesis --
def _args(ptype: PacketType) -> st.SearchStrategy[tuple[bytes, ...]]:
    n = len(ARGS[ptype])
    if n == 0:
        return st.just(())
    plain = st.binary(max_size=12).map(lambda b: b.replace(b"\0", b""))
    return st.tuples(*([plain] * (n - 1)), st.binary(max_size=40))


def _packets(types: frozenset[PacketType]) -> st.SearchStrategy[Packet]:
    return st.sampled_from(sorted(types)).flatmap(
        lambda t: _args(t).map(lambda args: Packet(t, args))
    )


admin_lines = st.tuples(
    st.binary(max_size=30).map(lambda b: b.translate(None, b"\0\r\n")),
    st.sampled_from([b"\n", b"\r\n"]),
).map(lambda t: (AdminLine(t[0]), t[0] + t[1]))


def _wire(items: list[object], magic: bytes) -> tuple[list[Event], bytes]:
    events: list[Event] = []
    chunks: list[bytes] = []
    for item in items:
        if isinstance(item, Packet):
            events.append(item)
            chunks.append(item.encode(magic))
        else:
            line, raw = item  # type: ignore[misc]
            events.append(line)
            chunks.append(raw)
    return events, b"".join(chunks)


def _feed_in_pieces(decoder: Decoder, data: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        decoder.feed(data[start:cut])
        start = cut
        events.extend(drain(decoder))
    return events


@settings(max_examples=100, deadline=None, database=None)
@given(
    items=st.lists(st.one_of(_packets(frozenset(PacketType)), admin_lines), max_size=12),
    data=st.data(),
)
def test_random_request_streams_split_anywhere(items: list[object], data: st.DataObject) -> None:
    events, wire = _wire(items, REQ)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    decoder = Decoder()
    assert _feed_in_pieces(decoder, wire, cuts) == events
    assert decoder.trailing == b""


@settings(max_examples=60, deadline=None, database=None)
@given(items=st.lists(_packets(RESPONSE_TYPES), max_size=12), data=st.data())
def test_random_response_streams_split_anywhere(items: list[Packet], data: st.DataObject) -> None:
    events, wire = _wire(list(items), RES)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    decoder = Decoder(expect=RES, allow_text=False)
    assert _feed_in_pieces(decoder, wire, cuts) == events
    assert decoder.trailing == b""


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.binary(max_size=64))
def test_garbage_raises_only_remote_protocol_errors(data: bytes) -> None:
    decoder = Decoder(max_packet_size=1024)
    decoder.feed(data)
    for _ in range(len(data) + 1):
        try:
            if decoder.next_event() is NEED_DATA:
                return
        except RemoteProtocolError as error:
            if error.fatal:
                return
    pytest.fail("the decoder made no progress")


# ------------------------------------------------------------ echo fast path --
def test_read_events_answers_a_run_of_echoes_in_one_event_in_order() -> None:
    """Consecutive ECHO_REQs become one EchoReplies, between the packets around them."""
    echoes = [b"", b"a", b"b\0c" * 100]
    stream = (
        request(PacketType.GRAB_JOB)
        + b"".join(request(PacketType.ECHO_REQ, e) for e in echoes)
        + request(PacketType.PRE_SLEEP)
        + request(PacketType.ECHO_REQ, b"last")
    )
    decoder = Decoder()
    decoder.feed(stream)
    events, error = decoder.read_events()
    assert error is None
    assert events == [
        Packet(PacketType.GRAB_JOB, ()),
        EchoReplies(b"".join(response(PacketType.ECHO_RES, e) for e in echoes)),
        Packet(PacketType.PRE_SLEEP, ()),
        EchoReplies(response(PacketType.ECHO_RES, b"last")),
    ]


def test_read_events_leaves_a_partial_echo_for_later() -> None:
    whole = request(PacketType.ECHO_REQ, b"one")
    partial = request(PacketType.ECHO_REQ, b"two")[:-1]
    decoder = Decoder()
    decoder.feed(whole + partial)
    assert decoder.read_events() == ([EchoReplies(response(PacketType.ECHO_RES, b"one"))], None)
    assert decoder.trailing == partial
    decoder.feed(b"o")
    assert decoder.read_events() == ([EchoReplies(response(PacketType.ECHO_RES, b"two"))], None)


def test_a_client_decoder_never_turns_echoes_into_replies() -> None:
    """Only a server answers echoes: a RES-side decoder yields ECHO_RES packets as they are."""
    decoder = Decoder(expect=RES, allow_text=False)
    decoder.feed(response(PacketType.ECHO_RES, b"x"))
    assert decoder.read_events() == ([Packet(PacketType.ECHO_RES, (b"x",))], None)


# ----------------------------------------------- read_events (the batch path) --
def _expected_batch_events(events: list[Event]) -> list[object]:
    """What read_events yields for ``events``: runs of ECHO_REQ folded into EchoReplies."""
    out: list[object] = []
    for event in events:
        if isinstance(event, Packet) and event.type == PacketType.ECHO_REQ:
            reply = response(PacketType.ECHO_RES, event.args[0])
            if out and isinstance(out[-1], EchoReplies):
                out[-1] = EchoReplies(out[-1].data + reply)
            else:
                out.append(EchoReplies(reply))
        else:
            out.append(event)
    return out


def _batch_in_pieces(decoder: Decoder, data: bytes, cuts: list[int]) -> list[object]:
    """Feed the pieces, calling read_events after each; merge echo runs split by a cut."""
    out: list[object] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        decoder.feed(data[start:cut])
        start = cut
        events, error = decoder.read_events()
        assert error is None
        for event in events:
            if isinstance(event, EchoReplies) and out and isinstance(out[-1], EchoReplies):
                out[-1] = EchoReplies(out[-1].data + event.data)
            else:
                out.append(event)
    return out


@settings(max_examples=100, deadline=None, database=None)
@given(
    items=st.lists(st.one_of(_packets(frozenset(PacketType)), admin_lines), max_size=12),
    data=st.data(),
)
def test_read_events_matches_next_event_split_anywhere(
    items: list[object], data: st.DataObject
) -> None:
    events, wire = _wire(items, REQ)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    decoder = Decoder()
    assert _batch_in_pieces(decoder, wire, cuts) == _expected_batch_events(events)
    assert decoder.trailing == b""


@settings(max_examples=60, deadline=None, database=None)
@given(items=st.lists(_packets(RESPONSE_TYPES), max_size=12), data=st.data())
def test_read_events_on_responses_split_anywhere(items: list[Packet], data: st.DataObject) -> None:
    events, wire = _wire(list(items), RES)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    decoder = Decoder(expect=RES, allow_text=False)
    assert _batch_in_pieces(decoder, wire, cuts) == events


def test_read_events_reports_a_non_fatal_error_after_the_good_events() -> None:
    good = request(PacketType.GRAB_JOB)
    unknown = REQ + (99).to_bytes(4, "big") + (0).to_bytes(4, "big")
    decoder = Decoder()
    decoder.feed(good + unknown + good)
    events, error = decoder.read_events()
    assert events == [Packet(PacketType.GRAB_JOB, ())]
    assert error is not None and not error.fatal
    assert decoder.read_events() == ([Packet(PacketType.GRAB_JOB, ())], None)


def test_read_events_reports_a_fatal_error_after_the_good_events() -> None:
    decoder = Decoder()
    decoder.feed(request(PacketType.GRAB_JOB) + RES + bytes(8))
    events, error = decoder.read_events()
    assert events == [Packet(PacketType.GRAB_JOB, ())]
    assert error is not None and error.fatal and error.error_code == ErrorCode.INVALID_MAGIC


def test_a_uniform_run_of_echoes_is_answered_whole() -> None:
    """Same-size pings, payloads that look like headers, and a partial one after them."""
    tricky = request(PacketType.ECHO_REQ, b"x" * 12)[:12]  # a payload equal to a header
    payloads = [tricky, b"\0REQ\0\0\0\x10\0\0\0\x0c", b"y" * 12] * 5
    stream = b"".join(request(PacketType.ECHO_REQ, p) for p in payloads)
    partial = request(PacketType.ECHO_REQ, b"z" * 12)[:7]
    decoder = Decoder()
    decoder.feed(stream + partial)
    events, error = decoder.read_events()
    assert error is None
    assert events == [EchoReplies(b"".join(response(PacketType.ECHO_RES, p) for p in payloads))]
    assert decoder.trailing == partial


def test_a_run_of_echoes_then_another_packet_falls_back_packet_by_packet() -> None:
    echoes = [request(PacketType.ECHO_REQ, b"a" * 8)] * 3
    other = request(PacketType.SUBMIT_JOB, b"f", b"", b"d" * 5)  # same length, not an echo
    decoder = Decoder()
    decoder.feed(b"".join(echoes) + other)
    events, error = decoder.read_events()
    assert error is None
    assert events == [
        EchoReplies(response(PacketType.ECHO_RES, b"a" * 8) * 3),
        Packet(PacketType.SUBMIT_JOB, (b"f", b"", b"d" * 5)),
    ]
