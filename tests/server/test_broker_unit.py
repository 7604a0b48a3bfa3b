"""The routing core on its own: no sockets, no event loop, a clock we move.

Strategy: ``Net`` wraps one ``Broker`` with a fake clock.  Sessions come from
``broker.connect``; a test sends ``Packet`` values with ``send`` and reads a
session's replies with ``read``, which decodes ``session.out`` as a client
would (``\\0RES`` only, no text) and empties it, as the I/O shell does after
writing.  Time moves only when a test sets ``net.clock.now`` and calls
``broker.on_timer()``.  The expected behaviour is gearmand 2.0's scheduling
plus the fixes listed in the survey (§1.3, §7).
"""

from __future__ import annotations

from typing import Any

import pytest

from gear.protocol import NEED_DATA, RES, Decoder, ErrorCode, Packet, PacketType
from gear.server.admin import AdminCommands, ServerInfo
from gear.server.broker import Broker, BrokerConfig
from gear.server.state import Session

P = PacketType
T0 = 1_700_000_000.0


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Net:
    """One broker, its clock, and helpers to talk to it."""

    def __init__(self, **config: Any) -> None:
        self.clock = FakeClock()
        self.broker = Broker(BrokerConfig(handle_prefix=b"H:t:", **config), self.clock)
        self.admin = AdminCommands(self.broker, ServerInfo(pid=1, version="test"))
        self._fd = 10

    def connect(self) -> Session:
        self._fd += 1
        return self.broker.connect("127.0.0.1", self._fd)

    def send(self, s: Session, ptype: PacketType, *args: bytes) -> None:
        self.broker.handle_packet(s, Packet(ptype, args))

    def read(self, s: Session) -> list[Packet]:
        """Decode and clear what the broker queued for ``s``."""
        if s.out:
            assert s in self.broker.dirty, "output queued but session not marked dirty"
            self.broker.dirty.remove(s)
        decoder = Decoder(expect=RES, allow_text=False)
        decoder.feed(b"".join(s.out))
        s.out.clear()
        packets = []
        while (event := decoder.next_event()) is not NEED_DATA:
            assert isinstance(event, Packet)
            packets.append(event)
        assert decoder.trailing == b""
        return packets

    # ---- clients
    def submit(
        self,
        s: Session,
        name: bytes,
        unique: bytes = b"",
        data: bytes = b"x",
        *,
        kind: PacketType = P.SUBMIT_JOB,
    ) -> bytes:
        """Submit a job and return its handle (the JOB_CREATED must be the only reply)."""
        self.send(s, kind, name, unique, data)
        [created] = self.read(s)
        assert created.type == P.JOB_CREATED, created
        return created.args[0]

    def client(
        self,
        name: bytes,
        unique: bytes = b"",
        data: bytes = b"x",
        *,
        kind: PacketType = P.SUBMIT_JOB,
    ) -> tuple[Session, bytes]:
        """A new connection that has submitted one job."""
        c = self.connect()
        return c, self.submit(c, name, unique, data, kind=kind)

    # ---- workers
    def worker(self, *names: bytes, sleep: bool = False) -> Session:
        w = self.connect()
        for name in names:
            self.send(w, P.CAN_DO, name)
        if sleep:
            self.send(w, P.PRE_SLEEP)
        assert self.read(w) == []
        return w

    def grab(self, w: Session) -> Packet:
        self.send(w, P.GRAB_JOB_UNIQ)
        [reply] = self.read(w)
        return reply

    def grab_handle(self, w: Session) -> bytes:
        reply = self.grab(w)
        assert reply.type == P.JOB_ASSIGN_UNIQ, reply
        return reply.args[0]

    # ---- status
    def status(self, handle: bytes) -> tuple[bytes, ...]:
        s = self.connect()
        self.send(s, P.GET_STATUS, handle)
        [reply] = self.read(s)
        assert reply.type == P.STATUS_RES
        self.broker.disconnect(s)
        return reply.args

    def admin_status(self) -> bytes:
        s = self.connect()
        try:
            return self.admin.run(s, b"status")
        finally:
            self.broker.disconnect(s)

    def noops(self, workers: list[Session]) -> list[Session]:
        """The workers that were sent a NOOP (each exactly one), in order."""
        woken = []
        for w in workers:
            replies = self.read(w)
            assert replies in ([], [Packet(P.NOOP, ())]), replies
            if replies:
                woken.append(w)
        return woken


@pytest.fixture
def net() -> Net:
    return Net()


def assign(handle: bytes, name: bytes, unique: bytes, data: bytes) -> Packet:
    return Packet(P.JOB_ASSIGN_UNIQ, (handle, name, unique, data))


NOOP = Packet(P.NOOP, ())
NO_JOB = Packet(P.NO_JOB, ())


def complete(handle: bytes, data: bytes) -> Packet:
    return Packet(P.WORK_COMPLETE, (handle, data))


def fail(handle: bytes) -> Packet:
    return Packet(P.WORK_FAIL, (handle,))


def error(code: str, text: str) -> Packet:
    return Packet(P.ERROR, (code.encode(), text.encode()))


# ------------------------------------------------------------------ submit --
@pytest.mark.parametrize(
    "kind",
    [
        P.SUBMIT_JOB,
        P.SUBMIT_JOB_BG,
        P.SUBMIT_JOB_HIGH,
        P.SUBMIT_JOB_HIGH_BG,
        P.SUBMIT_JOB_LOW,
        P.SUBMIT_JOB_LOW_BG,
    ],
)
def test_submit_answers_job_created(net: Net, kind: PacketType) -> None:
    c = net.connect()
    net.send(c, kind, b"reverse", b"", b"test")
    assert net.read(c) == [Packet(P.JOB_CREATED, (b"H:t:1",))]
    net.send(c, kind, b"reverse", b"", b"test")
    assert net.read(c) == [Packet(P.JOB_CREATED, (b"H:t:2",))]
    assert net.status(b"H:t:1") == (b"H:t:1", b"1", b"0", b"0", b"0")


def test_job_runs_and_completes(net: Net) -> None:
    c, h = net.client(b"reverse", b"", b"test")
    w = net.worker(b"reverse")
    assert net.grab(w) == assign(h, b"reverse", b"", b"test")
    net.send(w, P.WORK_DATA, h, b"part\0ial")
    net.send(w, P.WORK_COMPLETE, h, b"tset")
    assert net.read(c) == [Packet(P.WORK_DATA, (h, b"part\0ial")), complete(h, b"tset")]
    assert net.read(w) == []
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")


def test_grab_job_gets_job_assign_without_unique(net: Net) -> None:
    _, h = net.client(b"f", b"u", b"d")
    w = net.worker(b"f")
    net.send(w, P.GRAB_JOB)
    assert net.read(w) == [Packet(P.JOB_ASSIGN, (h, b"f", b"d"))]


def test_grab_with_nothing_queued_is_no_job(net: Net) -> None:
    w = net.worker(b"f")
    assert net.grab(w) == NO_JOB


def test_unexpected_packet_is_invalid_command(net: Net) -> None:
    s = net.connect()
    net.send(s, P.NOOP)
    net.send(s, P.JOB_CREATED, b"H:x:1")
    assert net.read(s) == [error(ErrorCode.INVALID_COMMAND, "Command not expected")] * 2


def test_echo(net: Net) -> None:
    s = net.connect()
    net.send(s, P.ECHO_REQ, b"ping\0pong")
    assert net.read(s) == [Packet(P.ECHO_RES, (b"ping\0pong",))]


# ------------------------------------------------------------- coalescing --
def test_foreground_submits_with_one_unique_share_a_job(net: Net) -> None:
    c1, h1 = net.client(b"f", b"u1", b"first")
    c2, h2 = net.client(b"f", b"u1", b"second")
    assert h1 == h2
    w = net.worker(b"f")
    assert net.grab(w) == assign(h1, b"f", b"u1", b"first")
    assert net.grab(w) == NO_JOB
    net.send(w, P.WORK_STATUS, h1, b"1", b"2")
    net.send(w, P.WORK_COMPLETE, h1, b"done")
    expected = [Packet(P.WORK_STATUS, (h1, b"1", b"2")), complete(h1, b"done")]
    assert net.read(c1) == expected
    assert net.read(c2) == expected


def test_same_client_submitting_twice_gets_one_result(net: Net) -> None:
    c, h = net.client(b"f", b"u1")
    assert net.submit(c, b"f", b"u1") == h
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(c) == [complete(h, b"r")]


def test_unique_is_scoped_to_the_function(net: Net) -> None:
    _, h1 = net.client(b"f", b"u1")
    _, h2 = net.client(b"g", b"u1")
    assert h1 != h2


def test_client_joining_a_running_job_gets_its_result(net: Net) -> None:
    c1, h = net.client(b"f", b"u1")
    w = net.worker(b"f")
    net.grab_handle(w)
    c2, h2 = net.client(b"f", b"u1")
    assert h2 == h
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(c1) == net.read(c2) == [complete(h, b"r")]


def test_background_submit_joins_a_foreground_job(net: Net) -> None:
    c, h = net.client(b"f", b"u1", b"fg")
    b, hb = net.client(b"f", b"u1", b"bg", kind=P.SUBMIT_JOB_BG)
    assert hb == h
    w = net.worker(b"f")
    assert net.grab(w) == assign(h, b"f", b"u1", b"fg")
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(c) == [complete(h, b"r")]
    assert net.read(b) == []  # a background submitter hears nothing more


def test_foreground_submit_joins_a_background_job(net: Net) -> None:
    _, h = net.client(b"f", b"u1", kind=P.SUBMIT_JOB_BG)
    c, h2 = net.client(b"f", b"u1")
    assert h2 == h
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(c) == [complete(h, b"r")]


def test_dash_unique_means_the_payload_is_the_unique(net: Net) -> None:
    _, h1 = net.client(b"f", b"-", b"payload")
    _, h2 = net.client(b"f", b"-", b"payload")
    _, h3 = net.client(b"f", b"-", b"other payload")
    assert h1 == h2
    assert h3 != h1
    w = net.worker(b"f")
    assert net.grab(w) == assign(h1, b"f", b"-", b"payload")
    assert net.grab(w) == assign(h3, b"f", b"-", b"other payload")
    assert net.grab(w) == NO_JOB


def test_empty_unique_never_coalesces(net: Net) -> None:
    handles = {net.client(b"f", b"", b"same")[1] for _ in range(3)}
    assert len(handles) == 3
    w = net.worker(b"f")
    assert {net.grab_handle(w) for _ in range(3)} == handles


def test_unique_can_be_reused_after_the_job_ends(net: Net) -> None:
    _, h1 = net.client(b"f", b"u1")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_COMPLETE, h1, b"")
    _, h2 = net.client(b"f", b"u1")
    assert h2 != h1


def test_unique_over_64_bytes_is_refused(net: Net) -> None:
    c = net.connect()
    net.send(c, P.SUBMIT_JOB, b"f", b"u" * 65, b"x")
    assert net.read(c) == [error(ErrorCode.ARGUMENT_TOO_LARGE, "Unique value too large")]
    assert net.submit(c, b"f", b"u" * 64) == b"H:t:1"


# ------------------------------------------------------- order of the jobs --
def test_priority_is_global_across_a_workers_functions(net: Net) -> None:
    w = net.worker(b"A", b"B")  # A registered first
    _, a_normal = net.client(b"A", kind=P.SUBMIT_JOB)
    _, a_low = net.client(b"A", kind=P.SUBMIT_JOB_LOW)
    _, b_high = net.client(b"B", kind=P.SUBMIT_JOB_HIGH)
    _, b_low = net.client(b"B", kind=P.SUBMIT_JOB_LOW_BG)
    order = [net.grab_handle(w) for _ in range(4)]
    assert order[:2] == [b_high, a_normal]
    assert set(order[2:]) == {a_low, b_low}
    assert net.grab(w) == NO_JOB


def test_fifo_within_a_priority(net: Net) -> None:
    handles = [net.client(b"f", data=b"%d" % i)[1] for i in range(5)]
    _, high = net.client(b"f", kind=P.SUBMIT_JOB_HIGH_BG)
    w = net.worker(b"f")
    assert [net.grab_handle(w) for _ in range(6)] == [high, *handles]


def test_round_robin_between_a_workers_functions(net: Net) -> None:
    a = [net.client(b"A", data=b"a%d" % i)[1] for i in range(3)]
    b = [net.client(b"B", data=b"b%d" % i)[1] for i in range(3)]
    w = net.worker(b"A", b"B")
    order = [net.grab_handle(w) for _ in range(6)]
    assert order == [a[0], b[0], a[1], b[1], a[2], b[2]]


def test_round_robin_does_not_starve_a_later_function(net: Net) -> None:
    a = [net.client(b"A")[1] for _ in range(4)]
    b = net.client(b"B")[1]
    w = net.worker(b"A", b"B")
    assert [net.grab_handle(w) for _ in range(3)] == [a[0], b, a[1]]


# ---------------------------------------------------------------- wake-ups --
def test_one_job_wakes_one_of_a_hundred_sleepers(net: Net) -> None:
    workers = [net.worker(b"f", sleep=True) for _ in range(100)]
    _, h = net.client(b"f")
    [woken] = net.noops(workers)
    assert net.grab_handle(woken) == h
    assert net.noops(workers) == []


def test_each_job_wakes_at_most_one_sleeper(net: Net) -> None:
    workers = [net.worker(b"f", sleep=True) for _ in range(100)]
    for _ in range(3):
        net.client(b"f")
    assert len(net.noops(workers)) == 3
    net.client(b"f")
    assert len(net.noops(workers)) == 1


def test_woken_worker_leaving_without_grabbing_wakes_another(net: Net) -> None:
    workers = [net.worker(b"f", sleep=True) for _ in range(100)]
    _, h = net.client(b"f")
    [first] = net.noops(workers)
    net.broker.disconnect(first)
    workers.remove(first)
    [second] = net.noops(workers)
    assert net.grab_handle(second) == h
    assert net.noops(workers) == []


def test_unanswered_noop_is_taken_back_after_a_tick(net: Net) -> None:
    """A woken worker that never grabs (hung, or a dead fork's open socket) starves no one."""
    workers = [net.worker(b"f", sleep=True) for _ in range(3)]
    _, h = net.client(b"f")
    [hung] = net.noops(workers)
    net.broker.expire_wakeups()  # woken during this tick: kept
    assert net.noops(workers) == []
    net.broker.expire_wakeups()  # a whole tick unanswered: released, another woken
    [second] = net.noops(workers)
    assert second is not hung
    assert net.grab_handle(second) == h
    net.broker.expire_wakeups()
    net.broker.expire_wakeups()
    assert net.noops(workers) == [], "the hung worker is not woken again"


def test_answered_noop_is_not_taken_back(net: Net) -> None:
    workers = [net.worker(b"f", sleep=True) for _ in range(3)]
    net.client(b"f")
    net.client(b"f")
    woken = net.noops(workers)
    assert len(woken) == 2
    net.grab_handle(woken[0])
    net.broker.expire_wakeups()
    net.broker.expire_wakeups()
    [again] = net.noops(workers)
    assert again not in woken


def test_sleepers_of_other_functions_are_not_woken(net: Net) -> None:
    others = [net.worker(b"g", sleep=True) for _ in range(5)]
    mine = net.worker(b"f", sleep=True)
    net.client(b"f")
    assert net.noops(others) == []
    assert net.read(mine) == [NOOP]


def test_pre_sleep_with_a_job_waiting_gets_an_immediate_noop(net: Net) -> None:
    net.client(b"f")
    w = net.worker(b"f")
    net.send(w, P.PRE_SLEEP)
    assert net.read(w) == [NOOP]


def test_pre_sleep_without_jobs_is_silent_until_a_job_arrives(net: Net) -> None:
    w = net.worker(b"f")
    net.send(w, P.PRE_SLEEP)
    assert net.read(w) == []
    net.client(b"g")
    assert net.read(w) == []
    net.client(b"f")
    assert net.read(w) == [NOOP]


def test_sleeping_worker_gains_a_function_with_a_job(net: Net) -> None:
    net.client(b"g")
    w = net.worker(b"f", sleep=True)
    net.send(w, P.CAN_DO, b"g")
    assert net.read(w) == [NOOP]


# ------------------------------------------------------------- worker loss --
def test_worker_lost_mid_job_requeues_it_at_the_head(net: Net) -> None:
    c = net.connect()
    h1 = net.submit(c, b"f", b"", b"one")
    h2 = net.submit(c, b"f", b"", b"two")
    w1 = net.worker(b"f")
    assert net.grab_handle(w1) == h1
    net.send(w1, P.WORK_STATUS, h1, b"1", b"2")
    assert net.read(c) == [Packet(P.WORK_STATUS, (h1, b"1", b"2"))]
    net.broker.disconnect(w1)
    assert net.read(c) == []  # the client still waits, told nothing
    assert net.status(h1) == (h1, b"1", b"0", b"0", b"0")  # progress reset
    w2 = net.worker(b"f")
    assert net.grab(w2) == assign(h1, b"f", b"", b"one")
    net.send(w2, P.WORK_COMPLETE, h1, b"r1")
    assert net.read(c) == [complete(h1, b"r1")]
    assert net.grab_handle(w2) == h2


def test_worker_lost_mid_job_wakes_a_sleeper(net: Net) -> None:
    _, h = net.client(b"f")
    w1 = net.worker(b"f")
    net.grab_handle(w1)
    sleeper = net.worker(b"f", sleep=True)
    net.broker.disconnect(w1)
    assert net.read(sleeper) == [NOOP]
    assert net.grab_handle(sleeper) == h


def test_job_retries_limit_fails_the_job() -> None:
    net = Net(job_retries=2)
    c, h = net.client(b"f")
    w1 = net.worker(b"f")
    net.grab_handle(w1)
    net.broker.disconnect(w1)
    assert net.read(c) == []  # first loss: one more run allowed
    w2 = net.worker(b"f")
    assert net.grab_handle(w2) == h
    net.broker.disconnect(w2)
    assert net.read(c) == [fail(h)]
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")
    assert net.grab(net.worker(b"f")) == NO_JOB


def test_job_retries_zero_allows_a_single_run() -> None:
    net = Net(job_retries=0)
    c, h = net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.broker.disconnect(w)
    assert net.read(c) == [fail(h)]


def test_no_retry_limit_by_default(net: Net) -> None:
    c, h = net.client(b"f")
    for _ in range(10):
        w = net.worker(b"f")
        assert net.grab_handle(w) == h
        net.broker.disconnect(w)
    assert net.read(c) == []
    assert net.status(h)[1] == b"1"


# ---------------------------------------------------------------- timeouts --
def test_can_do_timeout_in_milliseconds_has_a_one_second_floor() -> None:
    net = Net(timeout_unit="ms")
    c, h = net.client(b"f")
    w = net.connect()
    net.send(w, P.CAN_DO_TIMEOUT, b"f", b"10")
    net.clock.now = T0 + 5
    net.grab_handle(w)
    assert net.broker.next_deadline() == T0 + 6
    net.clock.now = T0 + 5.999
    net.broker.on_timer()
    assert net.read(c) == []
    net.clock.now = T0 + 6
    net.broker.on_timer()
    assert net.read(c) == [fail(h)]
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")


@pytest.mark.parametrize(
    ("unit", "raw", "seconds"),
    [
        ("auto", b"3", 3.0),  # Perl's register_function(name, 3, ...): seconds
        ("auto", b"999", 999.0),
        ("auto", b"1000", 1.0),  # libgearman's milliseconds
        ("auto", b"2500", 2.5),
        ("ms", b"3", 1.0),
        ("ms", b"2500", 2.5),
        ("s", b"3", 3.0),
        ("s", b"2500", 2500.0),
    ],
)
def test_can_do_timeout_units(unit: str, raw: bytes, seconds: float) -> None:
    net = Net(timeout_unit=unit)
    net.client(b"f")
    w = net.connect()
    net.send(w, P.CAN_DO_TIMEOUT, b"f", raw)
    net.grab_handle(w)
    assert net.broker.next_deadline() == T0 + seconds


def test_late_result_of_a_timed_out_job_is_dropped_quietly(net: Net) -> None:
    """The job failed to its client; the worker's late answer is no error (Perl dies on one)."""
    c, h = net.client(b"f")
    w = net.connect()
    net.send(w, P.CAN_DO_TIMEOUT, b"f", b"1")
    net.grab_handle(w)
    net.clock.now = T0 + 1
    net.broker.on_timer()
    assert net.read(c) == [fail(h)]
    net.send(w, P.WORK_STATUS, h, b"1", b"2")
    net.send(w, P.WORK_COMPLETE, h, b"late")
    assert net.read(w) == []
    assert net.read(c) == []
    # once its last packet is in, the handle is an unknown one again
    net.send(w, P.WORK_COMPLETE, h, b"again")
    assert net.read(w) == [error(ErrorCode.JOB_NOT_FOUND, "Job given in work result not found")]


def test_a_timed_out_job_is_not_coalesced_with_later_submits(net: Net) -> None:
    c1, h1 = net.client(b"f", b"-", b"5")
    w = net.connect()
    net.send(w, P.CAN_DO_TIMEOUT, b"f", b"3")
    assert net.grab_handle(w) == h1
    net.clock.now = T0 + 3
    net.broker.on_timer()
    assert net.read(c1) == [fail(h1)]
    _, h2 = net.client(b"f", b"-", b"5")
    assert h2 != h1


def test_work_fail_after_work_exception_is_dropped_quietly(net: Net) -> None:
    """Perl's Gearman::Worker sends WORK_FAIL after its WORK_EXCEPTION."""
    c, h = net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_EXCEPTION, h, b"boom")
    assert net.read(c) == [fail(h)]
    net.send(w, P.WORK_FAIL, h)
    assert net.read(w) == []
    assert net.read(c) == []


def test_abandoned_handles_kept_per_worker_are_bounded(net: Net) -> None:
    w = net.worker(b"f")
    for _ in range(200):
        _, h = net.client(b"f")
        assert net.grab_handle(w) == h
        net.send(w, P.WORK_EXCEPTION, h, b"boom")
    assert w.abandoned is not None and len(w.abandoned) == 64


def test_finished_job_is_not_timed_out(net: Net) -> None:
    c, h = net.client(b"f")
    w = net.connect()
    net.send(w, P.CAN_DO_TIMEOUT, b"f", b"1000")
    net.grab_handle(w)
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(c) == [complete(h, b"r")]
    net.clock.now = T0 + 10
    net.broker.on_timer()
    assert net.read(c) == []
    assert net.read(w) == []


def test_timeout_applies_to_the_current_run_only(net: Net) -> None:
    c, h = net.client(b"f")
    w1 = net.connect()
    net.send(w1, P.CAN_DO_TIMEOUT, b"f", b"1000")
    net.grab_handle(w1)
    net.broker.disconnect(w1)  # requeued; its timer must not fire on the next run
    w2 = net.worker(b"f")
    net.clock.now = T0 + 0.5
    assert net.grab_handle(w2) == h
    net.clock.now = T0 + 30
    net.broker.on_timer()
    assert net.read(c) == []
    net.send(w2, P.WORK_COMPLETE, h, b"r")
    assert net.read(c) == [complete(h, b"r")]


def test_plain_can_do_has_no_timeout(net: Net) -> None:
    net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    assert net.broker.next_deadline() is None


# ------------------------------------------------------------- epoch jobs --
def test_epoch_job_runs_when_the_clock_reaches_its_epoch(net: Net) -> None:
    sleeper = net.worker(b"f", sleep=True)
    epoch = int(T0) + 60
    c = net.connect()
    net.send(c, P.SUBMIT_JOB_EPOCH, b"f", b"e1", str(epoch).encode(), b"later")
    [created] = net.read(c)
    h = created.args[0]
    assert created == Packet(P.JOB_CREATED, (h,))
    assert net.read(sleeper) == []
    assert net.broker.next_deadline() == epoch
    assert net.status(h) == (h, b"1", b"0", b"0", b"0")
    early = net.worker(b"f")
    assert net.grab(early) == NO_JOB
    net.clock.now = epoch - 0.001
    net.broker.on_timer()
    assert net.read(sleeper) == []
    net.clock.now = epoch
    net.broker.on_timer()
    assert net.read(sleeper) == [NOOP]
    assert net.grab(sleeper) == assign(h, b"f", b"e1", b"later")


def test_epoch_in_the_past_is_runnable_at_once(net: Net) -> None:
    sleeper = net.worker(b"f", sleep=True)
    c = net.connect()
    net.send(c, P.SUBMIT_JOB_EPOCH, b"f", b"", str(int(T0) - 10).encode(), b"d")
    [created] = net.read(c)
    assert net.read(sleeper) == [NOOP]
    assert net.grab_handle(sleeper) == created.args[0]


# -------------------------------------------------------------- exceptions --
def test_work_exception_goes_to_opted_in_clients_and_fail_to_others(net: Net) -> None:
    c1 = net.connect()
    net.send(c1, P.OPTION_REQ, b"exceptions")
    assert net.read(c1) == [Packet(P.OPTION_RES, (b"exceptions",))]
    h = net.submit(c1, b"f", b"u1")
    c2, h2 = net.client(b"f", b"u1")
    assert h2 == h
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_EXCEPTION, h, b"boom\0trace")
    assert net.read(c1) == [Packet(P.WORK_EXCEPTION, (h, b"boom\0trace"))]
    assert net.read(c2) == [fail(h)]
    assert net.read(w) == []
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")  # the exception ended the job


def test_option_req_is_case_insensitive(net: Net) -> None:
    c = net.connect()
    net.send(c, P.OPTION_REQ, b"Exceptions")
    assert net.read(c) == [Packet(P.OPTION_RES, (b"Exceptions",))]


def test_unknown_option_is_an_error(net: Net) -> None:
    c = net.connect()
    net.send(c, P.OPTION_REQ, b"nonsense")
    assert net.read(c) == [
        error(ErrorCode.UNKNOWN_OPTION, "Server does not recognize given option")
    ]


def test_work_fail_goes_to_every_client(net: Net) -> None:
    c1 = net.connect()
    net.send(c1, P.OPTION_REQ, b"exceptions")
    net.read(c1)
    h = net.submit(c1, b"f", b"u1")
    c2, _ = net.client(b"f", b"u1")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_FAIL, h)
    assert net.read(c1) == net.read(c2) == [fail(h)]


def test_work_result_for_another_workers_job_is_job_not_found(net: Net) -> None:
    c, h = net.client(b"f")
    owner = net.worker(b"f")
    net.grab_handle(owner)
    other = net.worker(b"f")
    for ptype, args in [
        (P.WORK_COMPLETE, (h, b"r")),
        (P.WORK_FAIL, (h,)),
        (P.WORK_DATA, (h, b"d")),
        (P.WORK_STATUS, (h, b"1", b"2")),
    ]:
        net.send(other, ptype, *args)
    given = error(ErrorCode.JOB_NOT_FOUND, "Job given in work result not found")
    missing = error(ErrorCode.JOB_NOT_FOUND, "Job does not exist on server")
    assert net.read(other) == [given, given, missing, given]  # C gearmand's texts
    assert net.read(c) == []


# ------------------------------------------------------- client disconnect --
def test_foreground_client_leaving_removes_its_queued_job(net: Net) -> None:
    c, h = net.client(b"f")
    assert net.admin_status() == b"f\t1\t0\t0\n.\n"
    net.broker.disconnect(c)
    assert net.admin_status() == b"f\t0\t0\t0\n.\n"
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")
    assert net.grab(net.worker(b"f")) == NO_JOB


def test_queued_job_stays_while_another_client_waits(net: Net) -> None:
    c1, h = net.client(b"f", b"u1")
    c2, _ = net.client(b"f", b"u1")
    net.broker.disconnect(c1)
    w = net.worker(b"f")
    assert net.grab_handle(w) == h
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(c2) == [complete(h, b"r")]


def test_background_pinned_job_survives_its_foreground_client(net: Net) -> None:
    c, h = net.client(b"f", b"u1", b"data")
    net.client(b"f", b"u1", kind=P.SUBMIT_JOB_BG)
    net.broker.disconnect(c)
    assert net.admin_status() == b"f\t1\t0\t0\n.\n"
    assert net.status(h) == (h, b"1", b"0", b"0", b"0")
    w = net.worker(b"f")
    assert net.grab(w) == assign(h, b"f", b"u1", b"data")


def test_foreground_client_leaving_a_running_job_discards_results(net: Net) -> None:
    c, h = net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.broker.disconnect(c)
    assert net.status(h)[1:3] == (b"1", b"1")  # the worker keeps running it
    net.send(w, P.WORK_COMPLETE, h, b"r")
    assert net.read(w) == []
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")


def test_abandoned_running_job_is_not_run_again_after_worker_loss(net: Net) -> None:
    c, h = net.client(b"f")
    w1 = net.worker(b"f")
    net.grab_handle(w1)
    net.broker.disconnect(c)
    net.broker.disconnect(w1)
    assert net.admin_status() == b"f\t0\t0\t0\n.\n"
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")
    assert net.grab(net.worker(b"f")) == NO_JOB


def test_abandoned_jobs_do_not_pile_up_in_the_queues(net: Net) -> None:
    for _ in range(1000):
        c, _ = net.client(b"f", data=b"x" * 1000)
        net.broker.disconnect(c)
    f = net.broker.functions[b"f"]
    assert f.total == 0
    assert sum(len(queue) for queue in f.queues) < 100


# ------------------------------------------------------------------ workers --
def test_cant_do_mid_job_leaves_the_job_with_its_worker(net: Net) -> None:
    c, h = net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.CANT_DO, b"f")
    net.client(b"f")
    assert net.grab(w) == NO_JOB, "no new jobs of f"
    assert net.admin_status() == b"f\t2\t1\t0\n.\n"
    net.send(w, P.WORK_COMPLETE, h, b"done")
    assert net.read(w) == []
    assert net.read(c) == [complete(h, b"done")]


def test_reset_abilities_mid_job_leaves_the_job_with_its_worker(net: Net) -> None:
    c, h = net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.RESET_ABILITIES)
    net.send(w, P.WORK_COMPLETE, h, b"done")
    assert net.read(c) == [complete(h, b"done")]


def test_cant_do_then_disconnect_requeues_the_job(net: Net) -> None:
    _, h = net.client(b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.CANT_DO, b"f")
    net.broker.disconnect(w)
    assert net.grab_handle(net.worker(b"f")) == h


def test_duplicate_can_do_counts_once(net: Net) -> None:
    w = net.connect()
    for _ in range(3):
        net.send(w, P.CAN_DO, b"f")
    assert net.read(w) == []
    assert net.admin_status() == b"f\t0\t0\t1\n.\n"
    assert net.admin.run(net.connect(), b"workers").splitlines()[0] == b"%d 127.0.0.1 - : f" % w.fd
    net.send(w, P.CANT_DO, b"f")  # one CANT_DO undoes it
    assert net.admin_status() == b"f\t0\t0\t0\n.\n"
    net.client(b"f")
    assert net.grab(w) == NO_JOB


def test_reset_abilities(net: Net) -> None:
    w = net.worker(b"f", b"g")
    net.send(w, P.RESET_ABILITIES)
    net.client(b"f")
    net.client(b"g")
    assert net.grab(w) == NO_JOB
    assert net.admin_status() == b"f\t1\t0\t0\ng\t1\t0\t0\n.\n"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"my worker\tid", b"my_worker_id"),
        (b"  padded  ", b"padded"),
        (b"a\r\nb", b"a_b"),
        (b"   ", b"-"),
        (b"", b"-"),
        (b"plain-id", b"plain-id"),
    ],
)
def test_set_client_id_is_sanitised(net: Net, raw: bytes, shown: bytes) -> None:
    w = net.worker(b"f")
    net.send(w, P.SET_CLIENT_ID, raw)
    assert net.read(w) == []
    line = net.admin.run(net.connect(), b"workers").splitlines()[0]
    assert line == b"%d 127.0.0.1 %s : f" % (w.fd, shown)
    assert len(line.split(b" ")) == 5  # the line stays parseable


def test_set_client_id_is_truncated(net: Net) -> None:
    w = net.connect()
    net.send(w, P.SET_CLIENT_ID, b"x" * 300)
    assert w.client_id == b"x" * 127


# ---------------------------------------------------------------- maxqueue --
def test_maxqueue_set_before_the_function_exists(net: Net) -> None:
    net.broker.set_max_queue(b"f", (2, 2, 2))
    assert b"f" not in net.broker.functions
    c = net.connect()
    h1 = net.submit(c, b"f", b"u1")
    net.submit(c, b"f", b"u2")
    net.send(c, P.SUBMIT_JOB, b"f", b"u3", b"x")
    assert net.read(c) == [error(ErrorCode.QUEUE_ERROR, "Job queue is full")]
    assert net.submit(c, b"f", b"u1") == h1  # joining an existing job is not a new job
    assert net.submit(c, b"g", b"u3") != h1  # other functions are not limited


def test_maxqueue_counts_running_jobs_and_is_per_priority(net: Net) -> None:
    net.broker.set_max_queue(b"f", (0, 1, 5))
    c = net.connect()
    net.submit(c, b"f")
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(c, P.SUBMIT_JOB, b"f", b"", b"x")
    assert net.read(c) == [error(ErrorCode.QUEUE_ERROR, "Job queue is full")]
    net.submit(c, b"f", kind=P.SUBMIT_JOB_HIGH)  # HIGH has no limit
    net.submit(c, b"f", kind=P.SUBMIT_JOB_LOW)


def test_maxqueue_zero_removes_the_limit(net: Net) -> None:
    net.broker.set_max_queue(b"f", (1, 1, 1))
    c = net.connect()
    net.submit(c, b"f")
    net.broker.set_max_queue(b"f", (0, 0, 0))
    net.submit(c, b"f")
    assert net.admin_status() == b"f\t2\t0\t0\n.\n"


# ------------------------------------------------------------------- cancel --
def test_cancel_fails_the_job_to_its_clients(net: Net) -> None:
    c1, h = net.client(b"f", b"u1")
    c2, _ = net.client(b"f", b"u1")
    assert net.broker.cancel(h) is True
    assert net.read(c1) == net.read(c2) == [fail(h)]
    assert net.status(h) == (h, b"0", b"0", b"0", b"0")
    assert net.admin_status() == b"f\t0\t0\t0\n.\n"
    assert net.broker.cancel(h) is False
    assert net.grab(net.worker(b"f")) == NO_JOB


def test_cancel_unknown_job_is_refused(net: Net) -> None:
    assert net.broker.cancel(b"H:t:404") is False


def test_cancel_running_job_fails_its_clients_and_the_worker_finishes_quietly(net: Net) -> None:
    """As C gearmand: OK, clients get WORK_FAIL at once, the worker's result reaches no one."""
    c, h = net.client(b"f", unique=b"u")
    w = net.worker(b"f")
    net.grab_handle(w)
    assert net.broker.cancel(h) is True
    assert [(p.type, p.args) for p in net.read(c)] == [(P.WORK_FAIL, (h,))]
    c2, h2 = net.client(b"f", unique=b"u")
    assert h2 != h, "a new submit must not join the cancelled job"
    net.send(w, P.WORK_COMPLETE, h, b"late")
    assert net.read(w) == []
    assert net.read(c) == [] and net.read(c2) == []
    assert net.admin_status() == b"f\t1\t0\t1\n.\n"


def test_cancel_a_scheduled_job(net: Net) -> None:
    c = net.connect()
    net.send(c, P.SUBMIT_JOB_EPOCH, b"f", b"", str(int(T0) + 60).encode(), b"d")
    [created] = net.read(c)
    assert net.broker.cancel(created.args[0]) is True
    assert net.admin_status() == b"f\t0\t0\t0\n.\n"
    sleeper = net.worker(b"f", sleep=True)
    net.clock.now = T0 + 61
    net.broker.on_timer()
    assert net.read(sleeper) == []


# ------------------------------------------------------------------- status --
def test_get_status_of_queued_running_and_unknown_jobs(net: Net) -> None:
    _, h = net.client(b"f")
    assert net.status(h) == (h, b"1", b"0", b"0", b"0")
    w = net.worker(b"f")
    net.grab_handle(w)
    assert net.status(h) == (h, b"1", b"1", b"0", b"0")
    net.send(w, P.WORK_STATUS, h, b"3", b"10")
    assert net.status(h) == (h, b"1", b"1", b"3", b"10")
    assert net.status(b"H:t:404") == (b"H:t:404", b"0", b"0", b"0", b"0")


def test_get_status_unique(net: Net) -> None:
    s = net.connect()
    c1, h = net.client(b"f", b"u1")
    net.client(b"f", b"u1")
    net.send(s, P.GET_STATUS_UNIQUE, b"u1")
    assert net.read(s) == [Packet(P.STATUS_RES_UNIQUE, (b"u1", b"1", b"0", b"0", b"0", b"2"))]
    w = net.worker(b"f")
    net.grab_handle(w)
    net.send(w, P.WORK_STATUS, h, b"3", b"10")
    net.broker.disconnect(c1)
    net.send(s, P.GET_STATUS_UNIQUE, b"u1")
    assert net.read(s) == [Packet(P.STATUS_RES_UNIQUE, (b"u1", b"1", b"1", b"3", b"10", b"1"))]
    net.send(s, P.GET_STATUS_UNIQUE, b"nope")
    assert net.read(s) == [Packet(P.STATUS_RES_UNIQUE, (b"nope", b"0", b"0", b"0", b"0", b"0"))]


def test_get_status_unique_searches_every_function(net: Net) -> None:
    s = net.connect()
    net.client(b"g", b"only-in-g", kind=P.SUBMIT_JOB_BG)
    net.send(s, P.GET_STATUS_UNIQUE, b"only-in-g")
    assert net.read(s) == [
        Packet(P.STATUS_RES_UNIQUE, (b"only-in-g", b"1", b"0", b"0", b"0", b"0"))
    ]
