"""The generator's protocols, driven with bytes and a fake transport.

Every answer is fed three ways (h11 style): whole, one byte at a time, and
split in the middle of a header, so the buffering is checked with the logic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from gear.bench.bulk import BulkClient, count_answers
from gear.bench.wire import GRAB, PRE_SLEEP, Client, Tally, Worker
from gear.protocol import NEED_DATA, REQ, Decoder, Packet, PacketType, response


class FakeTransport:
    """Collects what a protocol writes."""

    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def get_extra_info(self, name: str) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def packets(self) -> list[Packet]:
        """Every packet written, one by one (next_event: no echo-run folding)."""
        decoder = Decoder(expect=REQ, allow_text=False)
        decoder.feed(self.data)
        events: list[Packet] = []
        while (event := decoder.next_event()) is not NEED_DATA:
            assert isinstance(event, Packet)
            events.append(event)
        assert not decoder.trailing
        self.data = b""
        return events


def connect(proto: Client | Worker) -> FakeTransport:
    transport = FakeTransport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    return transport


def whole(data: bytes) -> Iterator[bytes]:
    yield data


def bytewise(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def mid_header(data: bytes) -> Iterator[bytes]:
    yield data[:5]
    yield data[5:]


FEEDS = [whole, bytewise, mid_header]
Feed = Callable[[bytes], Iterator[bytes]]


def feed(proto: Client | Worker, how: Feed, data: bytes) -> None:
    for chunk in how(data):
        proto.data_received(chunk)


def test_client_fills_its_window_with_valid_submits() -> None:
    tally = Tally(limit=5)
    client = Client(tally, PacketType.SUBMIT_JOB, b"f%x", 20, window=3, seq_base=0x10)
    t = connect(client)
    client.fill()
    sent = t.packets()
    assert [p.type for p in sent] == [PacketType.SUBMIT_JOB] * 3
    assert [p.args[:2] for p in sent] == [(b"f%x", b"%08x" % n) for n in (16, 17, 18)]
    assert all(len(p.args[2]) == 20 and int(p.args[2][:16], 16) > 0 for p in sent)
    assert (tally.issued, tally.inflight, client.inflight) == (3, 3, 3)


@pytest.mark.parametrize("how", FEEDS)
def test_fg_client_counts_round_trips_and_latency(how: Feed) -> None:
    tally = Tally(limit=3)
    client = Client(tally, PacketType.SUBMIT_JOB, b"f", 64, window=2, seq_base=0)
    t = connect(client)
    client.fill()
    first = t.packets()
    answers = b"".join(
        response(PacketType.JOB_CREATED, b"H:%d" % i)
        + response(PacketType.WORK_STATUS, b"H:%d" % i, b"1", b"2")
        + response(PacketType.WORK_COMPLETE, b"H:%d" % i, p.args[2])
        for i, p in enumerate(first)
    )
    feed(client, how, answers)
    assert (tally.created, tally.completed, len(tally.lat)) == (2, 2, 0)
    tally.settle()  # stamps are parsed in bulk, after the phase
    assert len(tally.lat) == 2 and not tally.stamps and not tally.stamp_runs
    assert all(lat >= 0 for lat in tally.lat)
    assert len(t.packets()) == 1  # refilled up to the count
    assert tally.issued == 3 and tally.inflight == 1 and tally.t_last > 0


def test_a_stamp_that_does_not_come_back_is_unexpected() -> None:
    tally = Tally(limit=1)
    client = Client(tally, PacketType.SUBMIT_JOB, b"f", 16, window=1, seq_base=0)
    connect(client)
    client.fill()
    client.data_received(response(PacketType.WORK_COMPLETE, b"H:1", b"not a hex stamp!"))
    tally.settle()
    assert (tally.completed, tally.unexpected, len(tally.lat)) == (1, 1, 0)


def test_a_bad_stamp_does_not_cost_the_good_ones() -> None:
    tally = Tally(limit=3)
    client = Client(tally, PacketType.SUBMIT_JOB, b"f", 16, window=3, seq_base=0)
    t = connect(client)
    client.fill()
    good = [p.args[2] for p in t.packets()]
    client.data_received(response(PacketType.WORK_COMPLETE, b"H:1", good[0]))
    client.data_received(
        response(PacketType.WORK_COMPLETE, b"H:2", b"not a hex stamp!")
        + response(PacketType.WORK_COMPLETE, b"H:3", good[1])
    )
    tally.settle()
    assert (tally.completed, tally.unexpected, len(tally.lat)) == (3, 1, 2)
    assert all(0 <= lat < 10**10 for lat in tally.lat)


def test_client_counts_failures_errors_and_surprises() -> None:
    tally = Tally(limit=10)
    client = Client(tally, PacketType.SUBMIT_JOB, b"f", 64, window=3, seq_base=0)
    connect(client)
    client.fill()
    client.data_received(
        response(PacketType.WORK_FAIL, b"H:1")
        + response(PacketType.ERROR, b"QUEUE_ERROR", b"full")
        + response(PacketType.NOOP)
        + response(PacketType.WORK_EXCEPTION, b"H:2", b"boom")
    )
    assert (tally.failed, tally.errors, tally.unexpected) == (3, 1, 1)
    assert tally.first_error == "QUEUE_ERROR: full"


def test_client_stops_issuing_and_ends_the_phase() -> None:
    tally = Tally(limit=100)
    client = Client(tally, PacketType.SUBMIT_JOB_BG, b"f", 0, window=2, seq_base=0)
    t = connect(client)
    client.fill()
    t.packets()
    tally.stop_issuing = True
    tally.waiter = None
    client.data_received(response(PacketType.JOB_CREATED, b"H:1") * 2)
    assert t.data == b"" and tally.inflight == 0 and tally.created == 2


def test_bad_magic_fails_the_run() -> None:
    tally = Tally(limit=1)
    client = Client(tally, PacketType.SUBMIT_JOB, b"f", 0, window=1, seq_base=0)
    connect(client)
    client.data_received(b"\0REQ" + bytes(8))
    assert "bad magic" in tally.failure


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize("kind", [PacketType.SUBMIT_JOB_BG, PacketType.ECHO_REQ])
def test_bulk_client_counts_batches_and_records_latency_runs(how: Feed, kind: int) -> None:
    tally = Tally(limit=6)
    client = BulkClient(tally, kind, b"f", 24, window=4, seq_base=0)
    t = connect(client)
    client.fill()
    sent = t.packets()
    assert len(sent) == 4
    if kind == PacketType.ECHO_REQ:
        answer = b"".join(response(PacketType.ECHO_RES, p.args[0]) for p in sent)
    else:
        answer = b"".join(response(PacketType.JOB_CREATED, b"H:x:%d" % i) for i in range(4))
    feed(client, how, answer)
    counted = tally.completed if kind == PacketType.ECHO_REQ else tally.created
    assert counted == 4
    runs = list(zip(tally.lat_runs[::2], tally.lat_runs[1::2], strict=True))
    assert sum(c for _, c in runs) == 4 and all(v >= 0 for v, _ in runs)
    assert len(t.packets()) == 2 and tally.inflight == 2


def test_bulk_client_falls_back_on_mixed_answers() -> None:
    tally = Tally(limit=3)
    client = BulkClient(tally, PacketType.SUBMIT_JOB_BG, b"f", 0, window=3, seq_base=0)
    connect(client)
    client.fill()
    client.data_received(
        response(PacketType.JOB_CREATED, b"H:1")
        + response(PacketType.ERROR, b"QUEUE_ERROR", b"full")
        + response(PacketType.JOB_CREATED, b"H:2")
    )
    assert (tally.created, tally.failed, tally.errors, tally.inflight) == (2, 1, 1, 0)
    assert sum(tally.lat_runs[1::2]) == 3


def test_count_answers() -> None:
    a = response(PacketType.JOB_CREATED, b"H:1")
    b = response(PacketType.JOB_CREATED, b"H:\0RES22")
    jc = PacketType.JOB_CREATED
    assert count_answers(a + b, jc) == (2, len(a + b), True)
    assert count_answers(a + b[:-1], jc) == (1, len(a), True)
    assert count_answers(a + b[:6], jc) == (1, len(a), True)
    assert count_answers(b[:3], jc) == (0, 0, True)
    error = response(PacketType.ERROR, b"E", b"x")
    assert count_answers(a + error + b, jc) == (3, len(a + error + b), False)
    assert count_answers(a + b"\0REQ" + b[4:], jc) == (2, len(a + b), False)


@pytest.mark.parametrize("how", FEEDS)
def test_worker_echoes_the_job_data_and_grabs_again(how: Feed) -> None:
    tally = Tally(limit=0)
    worker = Worker(tally, b"fn", grabs=1)
    t = connect(worker)
    worker.start()
    assert [p.type for p in t.packets()] == [PacketType.CAN_DO, PacketType.GRAB_JOB]
    jobs = response(PacketType.JOB_ASSIGN, b"H:1", b"fn", b"data\0with nul") + response(
        PacketType.JOB_ASSIGN_UNIQ, b"H:2", b"fn", b"u", b"more"
    )
    feed(worker, how, jobs)
    got = [(p.type, p.args) for p in t.packets()]
    assert got == [
        (PacketType.WORK_COMPLETE, (b"H:1", b"data\0with nul")),
        (PacketType.GRAB_JOB, ()),
        (PacketType.WORK_COMPLETE, (b"H:2", b"more")),
        (PacketType.GRAB_JOB, ()),
    ]
    assert tally.assigned == 2


def test_worker_sleeps_and_wakes_the_protocol_way() -> None:
    tally = Tally(limit=0)
    tally.mode, tally.expected = "register", 1
    worker = Worker(tally, b"fn", grabs=3, idle=True)
    t = connect(worker)
    worker.start()
    t.packets()
    worker.data_received(response(PacketType.NO_JOB))
    assert t.data == PRE_SLEEP and tally.registered == 1 and tally.pre_sleeps == 1
    t.data = b""
    worker.data_received(response(PacketType.NOOP) * 2)
    assert t.data == GRAB * 3  # the second NOOP finds it awake already
    assert (tally.noops, tally.noops_idle, worker.grabs_out) == (2, 2, 3)


def test_worker_finishes_a_drain_on_its_last_no_job() -> None:
    tally = Tally(limit=0)
    tally.mode, tally.expected = "drain", 1
    worker = Worker(tally, b"fn", grabs=2)
    t = connect(worker)
    worker.start(2)
    t.packets()
    worker.data_received(response(PacketType.NO_JOB))
    assert tally.finished == 0
    worker.data_received(response(PacketType.NO_JOB))
    assert tally.finished == 1 and t.data == b""


def test_worker_error_fails_the_run_and_loss_is_noticed() -> None:
    tally = Tally(limit=0)
    worker = Worker(tally, b"fn", grabs=1)
    connect(worker)
    worker.data_received(response(PacketType.ERROR, b"ERR", b"no") + response(PacketType.NOOP))
    assert tally.failure.startswith("ERROR on a worker connection: ERR: no")
    other = Tally(limit=0)
    lost = Worker(other, b"fn", grabs=1)
    connect(lost)
    lost.connection_lost(None)
    assert other.failure == "server closed the connection"
    quiet = Tally(limit=0)
    closing = Worker(quiet, b"fn", grabs=1)
    t = connect(closing)
    closing.close()
    closing.connection_lost(None)
    assert t.closed and quiet.failure == ""
