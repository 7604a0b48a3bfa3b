"""Jobs per second, per server and per function, from two refreshes.

Strategy: gear's ``stats`` counts every job submitted and finished, so the
server-wide rates are exact differences of counters, and gear's ``show
functions`` does the same per function: with it, every rate is exact.  A
server without it (an older gear) gets per-function rates worked out, never
guessed:

1. *Seen* jobs: when the whole queue was listed (``show queue``) at both
   refreshes, a handle that appeared is a job in, one that vanished a job out.
2. *Unseen* jobs came and went between the two refreshes: the counters'
   totals minus the seen ones.  They were run by some worker, so they belong
   to an *active* function, one of whose workers was not idle for the whole
   interval (``show workers``: busy, or in its state for less than the
   interval, or gone).  If exactly one function was active, it gets them
   and every rate is exact.
3. Otherwise the seen counts of the active functions are lower bounds
   (``Quality.AT_LEAST``, shown as "≥"), and those of idle functions stay
   exact.  Without a full queue listing the per-function rates are
   unavailable.

A counter that went backwards (the server restarted) makes the interval
``PENDING``, as does the very first refresh.  Everything here is pure: the
caller supplies the timestamps.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gear.client.admin import WorkerDetail
from gear.tui.model import Quality, Rates

__all__ = ["HISTORY", "History", "RateInput", "ServerRates", "counters_from_stats", "estimate"]

#: refreshes kept for the sparklines (two minutes at the default interval)
HISTORY = 120
#: ``stats`` keys whose sum is "jobs that left the server" (timeouts are in failed)
FINISHED_KEYS = ("jobs_completed", "jobs_failed", "jobs_exceptions", "jobs_cancelled")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateInput:
    """What one refresh of one server tells the estimator."""

    #: monotonic seconds of the refresh
    taken: float
    #: (jobs submitted, jobs finished) since start; None without ``stats``
    counters: tuple[int, int] | None = None
    #: every job's handle -> function; None when the whole queue was not listed
    handles: Mapping[str, str] | None = None
    #: ``show workers`` rows; None without it
    workers: tuple[WorkerDetail, ...] | None = None
    #: function -> (submitted, finished) from ``show functions``; None without it
    function_counters: Mapping[str, tuple[int, int]] | None = None


@dataclass(frozen=True, slots=True)
class ServerRates:
    """One server's rates over one interval."""

    #: the whole server
    total: Rates
    #: per function; a function not listed has ``default``
    functions: Mapping[str, Rates] = field(default_factory=dict)
    default: Rates = field(default_factory=Rates)

    def of(self, function: str) -> Rates:
        """The rates of ``function``."""
        return self.functions.get(function, self.default)


def counters_from_stats(stats: Mapping[str, str]) -> tuple[int, int] | None:
    """(submitted, finished) from gear's ``stats``; None if a key is missing."""
    try:
        submitted = int(stats["jobs_submitted"])
        finished = sum(int(stats[key]) for key in FINISHED_KEYS)
    except (KeyError, ValueError):
        return None
    return submitted, finished


def estimate(prev: RateInput | None, cur: RateInput) -> ServerRates:
    """Rates between two refreshes of one server (see the module's strategy)."""
    if cur.counters is None:
        return ServerRates(Rates(quality=Quality.UNAVAILABLE))
    pending = ServerRates(Rates(quality=Quality.PENDING), default=Rates(quality=Quality.PENDING))
    if prev is None or prev.counters is None:
        return pending
    dt = cur.taken - prev.taken
    d_in = cur.counters[0] - prev.counters[0]
    d_out = cur.counters[1] - prev.counters[1]
    if dt <= 0 or d_in < 0 or d_out < 0:
        return pending
    total = Rates(d_in / dt, d_out / dt, Quality.EXACT)
    exact = _from_function_counters(prev, cur, dt)
    if exact is not None:
        return ServerRates(total, exact, Rates(0.0, 0.0, Quality.EXACT))
    if prev.handles is None or cur.handles is None:
        if d_in == d_out == 0:  # nothing moved anywhere: every function is at 0
            return ServerRates(total, default=Rates(0.0, 0.0, Quality.EXACT))
        return ServerRates(total, default=Rates(quality=Quality.UNAVAILABLE))
    seen_in = Counter(f for h, f in cur.handles.items() if h not in prev.handles)
    seen_out = Counter(f for h, f in prev.handles.items() if h not in cur.handles)
    unseen_in = max(d_in - sum(seen_in.values()), 0)
    unseen_out = max(d_out - sum(seen_out.values()), 0)
    bounded: set[str] = set()  # functions whose counts may miss unseen jobs
    default = Quality.EXACT
    if unseen_in or unseen_out:
        active = _active_functions(prev, cur, dt)
        if active is not None and len(active) == 1:
            (only,) = active
            seen_in[only] += unseen_in
            seen_out[only] += unseen_out
        elif active:
            bounded = active
        else:  # workers unknown, or jobs left without any worker (abandoned)
            default = Quality.AT_LEAST
    functions = {
        n: Rates(
            seen_in[n] / dt,
            seen_out[n] / dt,
            Quality.AT_LEAST if n in bounded else default,
        )
        for n in set(seen_in) | set(seen_out) | bounded
    }
    return ServerRates(total, functions, Rates(0.0, 0.0, default))


def _from_function_counters(prev: RateInput, cur: RateInput, dt: float) -> dict[str, Rates] | None:
    """Exact per-function rates from two ``show functions`` readings, if both exist.

    A function that appeared since the previous reading counts from 0 (the
    server creates its counters with it); one whose counters went backwards
    was dropped and created again, and its rates wait for the next reading.
    """
    if prev.function_counters is None or cur.function_counters is None:
        return None
    rates: dict[str, Rates] = {}
    for name, (submitted, finished) in cur.function_counters.items():
        before_in, before_out = prev.function_counters.get(name, (0, 0))
        d_in, d_out = submitted - before_in, finished - before_out
        if d_in < 0 or d_out < 0:
            rates[name] = Rates(quality=Quality.PENDING)
        else:
            rates[name] = Rates(d_in / dt, d_out / dt, Quality.EXACT)
    return rates


def _active_functions(prev: RateInput, cur: RateInput, dt: float) -> set[str] | None:
    """Functions one of whose workers was not idle for the whole ``dt``; None if unknown."""
    if prev.workers is None or cur.workers is None:
        return None
    active: set[str] = set()
    now = {(w.fd, w.address, w.client_id) for w in cur.workers}
    for worker in cur.workers:
        if worker.state == "busy" or worker.state_seconds < dt:
            active.update(worker.functions)
    for worker in prev.workers:  # a worker that left may have run jobs first
        if (worker.fd, worker.address, worker.client_id) not in now:
            active.update(worker.functions)
    return active


class History:
    """Per-function jobs/s out over the last ``HISTORY`` refreshes."""

    def __init__(self, length: int = HISTORY) -> None:
        self.length = length
        self._series: dict[str, deque[float]] = {}

    def record(self, rates: Mapping[str, Rates]) -> None:
        """Append one refresh; functions without a known rate get no point."""
        for name, rate in rates.items():
            if rate.known:
                series = self._series.setdefault(name, deque(maxlen=self.length))
                series.append(rate.outbound)

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the series of functions no server lists any more."""
        wanted = set(keep)
        for name in [n for n in self._series if n not in wanted]:
            del self._series[name]

    def of(self, name: str) -> tuple[float, ...]:
        """The series of ``name``, oldest first."""
        return tuple(self._series.get(name, ()))
