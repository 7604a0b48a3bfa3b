"""What a scenario run produced, per generator process and merged.

Strategy: a generator process returns a ``PartResult`` (plain, picklable
data: phases, counters, raw latencies as bytes); ``merge_parts`` folds the
parts of one run into a ``ScenarioResult``: phases merged by name (see
``stats.merge_phases``), counters summed, latencies pooled before the
percentiles are taken, so several processes report like one.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from gear.bench.config import BenchConfig
from gear.bench.stats import Phase, latency_summary, merge_phases

#: counters every part reports, summed by the merge
COUNTERS: tuple[str, ...] = (
    "issued",
    "created",
    "completed",
    "failed",
    "errors",
    "unexpected",
    "assigned",
    "grabs",
    "no_jobs",
    "noops",
    "noops_idle",
    "pre_sleeps",
)


@dataclass(frozen=True, kw_only=True)
class PartResult:
    """What one generator process measured."""

    #: the phases it ran, in order
    phases: tuple[Phase, ...]
    #: COUNTERS by name
    counters: dict[str, int]
    #: latencies, nanoseconds, as ``array("q").tobytes()``
    latencies: bytes = b""
    #: latency runs (value, count, value, count …) as ``array("q").tobytes()``
    latency_runs: bytes = b""
    #: seconds spent opening its connections
    connect_s: float = 0.0
    #: whether the hard timeout stopped it
    timed_out: bool = False
    #: why it failed ("" if it did not)
    failure: str = ""
    #: text of the first ERROR packet it got
    first_error: str = ""
    #: servers lost mid-run (``host:port``) and the jobs lost with each
    lost: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    """One scenario's figures, merged over every generator process."""

    #: the run's configuration (the whole run, not one part)
    config: BenchConfig
    #: merged phases, in order
    phases: tuple[Phase, ...]
    #: summed counters
    counters: dict[str, int]
    #: n, mean, p50, p90, p99, max in microseconds (None without samples)
    latency: dict[str, float] | None
    #: slowest part's connection set-up, seconds
    connect_s: float
    #: whether the hard timeout stopped any part
    timed_out: bool
    #: why the run failed ("" if it did not)
    failure: str
    #: text of the first ERROR packet
    first_error: str
    #: servers lost mid-run (``host:port``) and the jobs lost with each
    lost: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No failure, no timeout, no ERROR packet, nothing unexpected, no server lost."""
        c = self.counters
        return not (self.failure or self.timed_out or c["errors"] or c["unexpected"] or self.lost)

    @property
    def jobs(self) -> int:
        """Jobs the workers did (bg) or the clients saw complete (fg, herd)."""
        if self.config.scenario == "bg":
            return self.counters["assigned"]
        return self.counters["completed"]

    def per_job(self, counter: str) -> float | None:
        """``counter`` divided by the jobs done (None without jobs or workers)."""
        if self.config.scenario == "echo" or not self.jobs:
            return None
        return self.counters[counter] / self.jobs


def merge_parts(config: BenchConfig, parts: Sequence[PartResult]) -> ScenarioResult:
    """Fold the parts of one run into its result.

    Raises:
        ValueError: no parts.
    """
    if not parts:
        raise ValueError("merge_parts needs at least one part")
    names: list[str] = []
    for part in parts:
        names += [p.name for p in part.phases if p.name not in names]
    phases = tuple(
        merge_phases([p for part in parts for p in part.phases if p.name == name]) for name in names
    )
    samples, runs = array("q"), array("q")
    for part in parts:
        samples.frombytes(part.latencies)
        runs.frombytes(part.latency_runs)
    return ScenarioResult(
        config=config,
        phases=phases,
        counters={k: sum(p.counters.get(k, 0) for p in parts) for k in COUNTERS},
        latency=latency_summary(samples, list(zip(runs[::2], runs[1::2], strict=True))),
        connect_s=max(p.connect_s for p in parts),
        timed_out=any(p.timed_out for p in parts),
        failure=next((p.failure for p in parts if p.failure), ""),
        first_error=next((p.first_error for p in parts if p.first_error), ""),
        lost=_merge_losses(parts),
    )


def _merge_losses(parts: Sequence[PartResult]) -> dict[str, int]:
    lost: dict[str, int] = {}
    for part in parts:
        for name, jobs in part.lost.items():
            lost[name] = lost.get(name, 0) + jobs
    return lost
