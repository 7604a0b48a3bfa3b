"""The metrics' raw material: per function and priority tallies, histograms, wake-ups.

Pure broker tests with the fake clock of test_broker_unit: every way a job
ends bumps exactly its counter at the job's priority, and the histograms
see the clock's differences.
"""

from __future__ import annotations

import pytest

from gear.protocol import PacketType
from gear.server.state import LATENCY_BOUNDS, Histogram, Tally
from tests.server.test_broker_unit import Net

P = PacketType
HIGH, NORMAL, LOW = 0, 1, 2
FIELDS = ("submitted", "coalesced", "completed", "failed", "exceptions", "timed_out", "cancelled")


def tally(net: Net, name: bytes, priority: int) -> dict[str, int]:
    t: Tally = net.broker.functions[name].tallies[priority]
    return {k: v for k in FIELDS if (v := getattr(t, k))}


def test_each_ending_counts_once_at_the_jobs_priority() -> None:
    net = Net()
    c = net.connect()
    w = net.worker(b"f")
    done = net.submit(c, b"f", kind=P.SUBMIT_JOB_HIGH)
    assert net.grab_handle(w) == done
    net.send(w, P.WORK_COMPLETE, done, b"ok")
    assert [p.type for p in net.read(c)] == [P.WORK_COMPLETE]
    failed = net.submit(c, b"f", kind=P.SUBMIT_JOB_LOW)
    net.grab_handle(w)
    net.send(w, P.WORK_FAIL, failed)
    assert [p.type for p in net.read(c)] == [P.WORK_FAIL]
    raised = net.submit(c, b"f", kind=P.SUBMIT_JOB_LOW)
    net.grab_handle(w)
    net.send(w, P.WORK_EXCEPTION, raised, b"boom")
    assert [p.type for p in net.read(c)] == [P.WORK_FAIL]  # c did not ask for exceptions
    cancelled = net.submit(c, b"f")
    assert net.admin.run(c, b"cancel job " + cancelled).startswith(b"OK")
    assert tally(net, b"f", HIGH) == {"submitted": 1, "completed": 1}
    assert tally(net, b"f", LOW) == {"submitted": 2, "failed": 1, "exceptions": 1}
    assert tally(net, b"f", NORMAL) == {"submitted": 1, "cancelled": 1}
    stats = net.broker.stats
    assert (stats.jobs_completed, stats.jobs_failed, stats.jobs_exceptions) == (1, 1, 1)


def test_coalesced_submits_count_at_their_own_priority() -> None:
    net = Net()
    _, handle = net.client(b"f", b"u1")
    second = net.connect()
    assert net.submit(second, b"f", b"u1", kind=P.SUBMIT_JOB_HIGH_BG) == handle
    assert net.submit(second, b"f", b"u1", kind=P.SUBMIT_JOB_HIGH) == handle
    assert tally(net, b"f", NORMAL) == {"submitted": 1}
    assert tally(net, b"f", HIGH) == {"coalesced": 2}


def test_timeout_and_retry_limit_are_failures() -> None:
    net = Net(job_retries=1)
    c = net.connect()
    w = net.connect()
    net.send(w, P.CAN_DO_TIMEOUT, b"f", b"5")
    handle = net.submit(c, b"f")
    net.grab_handle(w)
    net.clock.now += 6
    net.broker.on_timer()
    assert [p.type for p in net.read(c)] == [P.WORK_FAIL]
    assert tally(net, b"f", NORMAL) == {"submitted": 1, "failed": 1, "timed_out": 1}
    # the retry limit: its worker dies once, with --job-retries 1 that is the end
    net.submit(c, b"f", kind=P.SUBMIT_JOB_LOW)
    dying = net.worker(b"f")
    net.grab_handle(dying)
    net.broker.disconnect(dying)
    assert tally(net, b"f", LOW) == {"submitted": 1, "failed": 1}
    assert handle not in net.broker.jobs


def test_histograms_see_queue_wait_and_run_time() -> None:
    net = Net()
    c = net.connect()
    handle = net.submit(c, b"f")
    net.clock.now += 0.003  # queued 3 ms
    w = net.worker(b"f")
    net.grab_handle(w)
    net.clock.now += 2.0  # ran 2 s
    net.send(w, P.WORK_COMPLETE, handle, b"")
    f = net.broker.functions[b"f"]
    assert f.queue_wait.counts[LATENCY_BOUNDS.index(0.005)] == 1
    assert f.queue_wait.total == pytest.approx(0.003, abs=1e-6)
    assert f.run_time.counts[LATENCY_BOUNDS.index(5.0)] == 1
    assert sum(f.run_time.counts) == 1 and f.run_time.total == pytest.approx(2.0, abs=1e-6)


def test_a_requeued_job_is_waited_for_once() -> None:
    net = Net()
    c = net.connect()
    net.submit(c, b"f")
    first = net.worker(b"f")
    net.grab_handle(first)
    net.broker.disconnect(first)
    net.grab_handle(net.worker(b"f"))
    assert sum(net.broker.functions[b"f"].queue_wait.counts) == 1
    assert net.broker.stats.jobs_requeued == 1


def test_histogram_buckets_and_overflow() -> None:
    h = Histogram((1.0, 2.0))
    for value in (0.5, 1.0, 1.5, 99.0):
        h.observe(value)
    assert h.counts == [2, 1, 1]
    assert h.total == pytest.approx(102.0)


def test_wakeups_count_noops() -> None:
    net = Net()
    net.worker(b"f", sleep=True)
    net.worker(b"f", sleep=True)
    c = net.connect()
    net.submit(c, b"f")
    net.submit(c, b"f")
    assert net.broker.wakeups_sent == 2
