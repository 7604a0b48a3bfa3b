"""Numbers of a benchmark run: phases, rates, latency percentiles, CPU time.

Strategy: everything here is plain data and pure functions over it, so the
report and the merge of several generator processes are tested with made-up
numbers.  A phase keeps raw readings (monotonic nanoseconds, CPU seconds) and
derives rates and percentages on demand; merging phases of several processes
sums their counts and generator CPU and spans their earliest start to their
latest end.  Percentiles use the nearest rank on the sorted samples, the
same rule as ``gearbench`` so both tools' figures compare.  CPU time of other
processes comes from ``/proc`` (``schedstat``: nanoseconds, all threads), of
this one from ``getrusage``; unknown readings are ``-1``.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: the latency percentiles reported
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0)


def percentile(ordered: Sequence[int], pct: float) -> float:
    """The ``pct`` percentile of already sorted samples (nearest rank).

    Raises:
        ValueError: no samples, or ``pct`` outside 0..100.
    """
    if not ordered:
        raise ValueError("percentile of no samples")
    return float(ordered[_rank(len(ordered), pct)])


def _rank(n: int, pct: float) -> int:
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile {pct} outside 0..100")
    return int(pct / 100.0 * (n - 1) + 0.5)


def weighted_percentiles(runs: Sequence[tuple[int, int]], pcts: Sequence[float]) -> list[float]:
    """Percentiles (nearest rank) of samples given as (value, count) runs.

    The same figures as ``percentile`` over the runs written out one sample
    each, without writing them out.

    Raises:
        ValueError: no samples, or a percentage outside 0..100.
    """
    ordered = sorted(r for r in runs if r[1] > 0)
    total = sum(count for _, count in ordered)
    if not total:
        raise ValueError("percentile of no samples")
    wanted = sorted((_rank(total, pct), i) for i, pct in enumerate(pcts))
    out = [0.0] * len(pcts)
    seen = 0
    runs_iter = iter(ordered)
    value, count = next(runs_iter)
    for rank, i in wanted:
        while seen + count <= rank:
            seen += count
            value, count = next(runs_iter)
        out[i] = float(value)
    return out


def latency_summary(
    samples_ns: Iterable[int], runs: Iterable[tuple[int, int]] = ()
) -> dict[str, float] | None:
    """n, mean, p50, p90, p99 and max of latencies, in microseconds.

    Args:
        samples_ns: one latency per answer, nanoseconds.
        runs: more latencies as (value, count) pairs.

    Returns:
        The summary, or ``None`` when there are no samples.
    """
    ordered = sorted(samples_ns)
    all_runs = [r for r in runs if r[1] > 0]
    if all_runs:
        all_runs += [(v, 1) for v in ordered]
    elif not ordered:
        return None
    if all_runs:
        n = sum(c for _, c in all_runs)
        total = sum(v * c for v, c in all_runs)
        cuts = weighted_percentiles(all_runs, (*PERCENTILES, 100.0))
    else:
        n, total = len(ordered), sum(ordered)
        cuts = [percentile(ordered, p) for p in (*PERCENTILES, 100.0)]
    out = {"n": float(n), "mean": total / n / 1000.0}
    for pct, cut in zip(PERCENTILES, cuts, strict=False):
        out[f"p{pct:g}"] = cut / 1000.0
    out["max"] = cuts[-1] / 1000.0
    return out


@dataclass(frozen=True, kw_only=True)
class Phase:
    """One timed phase of a scenario (submit, drain, round trips, echoes)."""

    #: submit, drain, rt or echo
    name: str
    #: jobs (or echoes) done in the phase
    count: int
    #: start, monotonic nanoseconds
    t0: int
    #: end (the last answer that counted), monotonic nanoseconds
    t1: int
    #: CPU seconds the generator used in the phase
    gen_cpu: float
    #: the server's CPU seconds at the start and the end (-1: unknown)
    srv_cpu: tuple[float, float] = (-1.0, -1.0)
    #: busy CPU seconds of the whole machine at the start and the end (-1: unknown)
    all_cpu: tuple[float, float] = (-1.0, -1.0)
    #: of ``count``, what each server did, in the order of the run's servers
    #: (multi-server runs only; () otherwise)
    per_server: tuple[int, ...] = ()

    def server_rates(self) -> list[float]:
        """Jobs (or echoes) per second of each server (see ``per_server``)."""
        return [n / self.seconds for n in self.per_server]

    @property
    def seconds(self) -> float:
        """Length of the phase (at least one nanosecond)."""
        return max(self.t1 - self.t0, 1) / 1e9

    @property
    def rate(self) -> float:
        """Jobs (or echoes) per second."""
        return self.count / self.seconds

    @property
    def gen_cpu_pct(self) -> float:
        """Generator CPU, percent of one core."""
        return self.gen_cpu / self.seconds * 100.0

    @property
    def srv_cpu_pct(self) -> float | None:
        """Server CPU, percent of one core, when known."""
        return _span_pct(self.srv_cpu, self.seconds)

    @property
    def all_cpu_pct(self) -> float | None:
        """Busy CPU of the machine, percent of one core (2 cores = 200), when known."""
        return _span_pct(self.all_cpu, self.seconds)


def _span_pct(span: tuple[float, float], seconds: float) -> float | None:
    if span[0] < 0 or span[1] < 0:
        return None
    return (span[1] - span[0]) / seconds * 100.0


def _span(spans: list[tuple[float, float]]) -> tuple[float, float]:
    if any(s[0] < 0 or s[1] < 0 for s in spans):
        return (-1.0, -1.0)
    return (min(s[0] for s in spans), max(s[1] for s in spans))


def merge_phases(phases: Sequence[Phase]) -> Phase:
    """One phase from the same phase of several generator processes.

    Raises:
        ValueError: no phases, or phases of different names.
    """
    if not phases or len({p.name for p in phases}) != 1:
        raise ValueError("merge_phases needs phases of one name")
    return Phase(
        name=phases[0].name,
        count=sum(p.count for p in phases),
        t0=min(p.t0 for p in phases),
        t1=max(p.t1 for p in phases),
        gen_cpu=sum(p.gen_cpu for p in phases),
        srv_cpu=_span([p.srv_cpu for p in phases]),
        all_cpu=_span([p.all_cpu for p in phases]),
        per_server=tuple(sum(n) for n in zip(*(p.per_server for p in phases), strict=True)),
    )


def self_cpu() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def pid_cpu(*pids: int) -> float:
    """CPU seconds of processes ``pids`` together, all threads, or -1 when any is unknown."""
    if not pids or any(pid <= 0 for pid in pids):
        return -1.0
    total = 0
    try:
        for pid in pids:
            task_dir = f"/proc/{pid}/task"
            for tid in os.listdir(task_dir):
                with open(f"{task_dir}/{tid}/schedstat") as fh:
                    total += int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0
    return total / 1e9


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine since boot, or -1 when unknown."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        ticks = [int(v) for v in fields[1:8]]
    except (OSError, ValueError):
        return -1.0
    # user nice system [idle iowait] irq softirq
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
    return busy / os.sysconf("SC_CLK_TCK")
