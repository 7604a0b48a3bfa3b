"""Percentiles, latency summaries, phases and their merge, with plain numbers."""

from __future__ import annotations

import os

import pytest

from gear.bench.stats import (
    Phase,
    latency_summary,
    merge_phases,
    percentile,
    pid_cpu,
    weighted_percentiles,
)


def phase(**kw: object) -> Phase:
    base: dict[str, object] = {"name": "rt", "count": 1000, "t0": 0, "t1": 500_000_000}
    base.update(kw)
    return Phase(gen_cpu=0.25, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pct", "want"),
    [(0, 1), (50, 6), (90, 10), (99, 11), (100, 11)],
)
def test_percentile_is_nearest_rank(pct: float, want: int) -> None:
    assert percentile(list(range(1, 12)), pct) == want


def test_percentile_of_one_sample() -> None:
    assert percentile([7], 50) == 7
    assert percentile([7], 99) == 7


@pytest.mark.parametrize(("samples", "pct"), [([], 50), ([1, 2], -1), ([1, 2], 101)])
def test_percentile_rejects(samples: list[int], pct: float) -> None:
    with pytest.raises(ValueError):
        percentile(samples, pct)


def test_weighted_percentiles_match_the_samples_written_out() -> None:
    runs = [(30, 2), (10, 5), (20, 0), (50, 1), (20, 3)]
    flat = sorted(v for v, c in runs for _ in range(c))
    pcts = [0, 10, 50, 75, 90, 99, 100]
    assert weighted_percentiles(runs, pcts) == [percentile(flat, p) for p in pcts]


def test_weighted_percentiles_need_samples() -> None:
    with pytest.raises(ValueError):
        weighted_percentiles([(5, 0)], [50])


def test_latency_summary_in_microseconds() -> None:
    got = latency_summary([4000, 1000, 3000, 2000])
    assert got == {"n": 4.0, "mean": 2.5, "p50": 3.0, "p90": 4.0, "p99": 4.0, "max": 4.0}


def test_latency_summary_of_runs_equals_samples() -> None:
    samples = [1000, 1000, 1000, 5000, 9000]
    assert latency_summary([], [(1000, 3), (5000, 1), (9000, 1)]) == latency_summary(samples)
    assert latency_summary([9000], [(1000, 3), (5000, 1)]) == latency_summary(samples)


def test_latency_summary_without_samples() -> None:
    assert latency_summary([]) is None
    assert latency_summary([], [(100, 0)]) is None


def test_phase_rates_and_cpu() -> None:
    p = phase(srv_cpu=(10.0, 10.5), all_cpu=(100.0, 100.9))
    assert p.seconds == 0.5
    assert p.rate == 2000
    assert p.gen_cpu_pct == 50.0
    assert p.srv_cpu_pct == pytest.approx(100.0)
    assert p.all_cpu_pct == pytest.approx(180.0)


def test_phase_unknown_cpu_and_zero_length() -> None:
    p = phase(t1=0)
    assert p.seconds == 1e-9
    assert p.srv_cpu_pct is None
    assert p.all_cpu_pct is None


def test_merge_phases_sums_counts_and_spans_times() -> None:
    a = phase(count=100, t0=10, t1=1_000_000_010, srv_cpu=(5.0, 5.5))
    b = phase(count=300, t0=5, t1=900_000_000, srv_cpu=(5.1, 5.6))
    m = merge_phases([a, b])
    assert (m.count, m.t0, m.t1, m.gen_cpu) == (400, 5, 1_000_000_010, 0.5)
    assert m.srv_cpu == (5.0, 5.6)
    assert m.all_cpu == (-1.0, -1.0)


def test_merge_phases_sums_per_server_counts() -> None:
    a = phase(count=30, per_server=(10, 20))
    b = phase(count=7, per_server=(4, 3))
    m = merge_phases([a, b])
    assert m.per_server == (14, 23)
    assert m.server_rates() == [14 / m.seconds, 23 / m.seconds]
    assert merge_phases([phase(), phase()]).per_server == ()


def test_merge_phases_rejects_mixed_or_none() -> None:
    with pytest.raises(ValueError):
        merge_phases([])
    with pytest.raises(ValueError):
        merge_phases([phase(), phase(name="echo")])


def test_pid_cpu_sums_processes_and_knows_when_it_cannot() -> None:
    me = os.getpid()
    one = pid_cpu(me)
    assert one > 0
    assert pid_cpu(me, me) >= 2 * one
    assert pid_cpu() == pid_cpu(0) == pid_cpu(me, -1) == -1.0
