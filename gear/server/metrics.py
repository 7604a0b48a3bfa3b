"""``gear serve --metrics``: Prometheus metrics and a health check, read at scrape time.

Strategy: nothing is recorded for the metrics.  The broker keeps plain
integer counters on the objects it already has (``Stats``, each
``Function``'s per-priority ``Tally`` and its two ``Histogram``s, the
store's commit histograms); a job costs a few integer increments whether or
not anyone scrapes.  A scrape copies those numbers into a ``Snapshot`` on
the event loop (a few microseconds per function), then renders it with
prometheus-client (a custom collector over the snapshot, and the standard
process collector) in a worker thread: formatting is most of a scrape's
cost, and there it shares the interpreter with the loop instead of
stopping it.

The first four families carry the names, labels and help of the community
exporter (bakins/gearman-exporter: ``gearman_up``, ``gearman_status_total``,
``gearman_status_running``, ``gearman_status_workers``), so its dashboards
work unchanged; the values are exactly the admin ``status`` columns.  Every
other family is ``gear_*`` (docs/operations.md lists them).  A function's
per-priority series appear once a job of that priority was submitted for
it, so the usual one-priority function exports one series per counter.

``/healthz`` answers 200 ``ok``, or 503 while the job store is failing
(a load balancer then sends submits elsewhere).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from gear.server.state import Function, Histogram

if TYPE_CHECKING:
    from gear.server.http_gateway import Gateway
    from gear.server.server import Server

PRIORITIES = ("high", "normal", "low")
#: (metric name, help) of the per function and priority counters, in ``Tally`` order
JOB_COUNTERS = (
    ("gear_jobs_submitted", "New jobs created (a coalesced submit is not one)."),
    ("gear_jobs_coalesced", "Submits that joined a job with the same unique."),
    ("gear_jobs_completed", "Jobs ended by WORK_COMPLETE."),
    ("gear_jobs_failed", "Jobs ended by WORK_FAIL, the retry limit or a timeout."),
    ("gear_jobs_exceptions", "Jobs ended by WORK_EXCEPTION."),
    ("gear_jobs_timed_out", "Jobs failed because they ran past CAN_DO_TIMEOUT."),
    ("gear_jobs_cancelled", "Jobs cancelled by the admin."),
)
TALLY_FIELDS = (
    "submitted",
    "coalesced",
    "completed",
    "failed",
    "exceptions",
    "timed_out",
    "cancelled",
)

#: (bounds, per-bucket counts, sum) of a histogram, copied
HistogramCopy = tuple[tuple[float, ...], tuple[int, ...], float]


def label(name: bytes) -> str:
    """A function name as a label value (names are bytes; not every one is UTF-8)."""
    return name.decode("utf-8", "backslashreplace")


def copy_histogram(h: Histogram) -> HistogramCopy:
    return h.bounds, tuple(h.counts), h.total


def histogram_buckets(h: HistogramCopy) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs, ending with ``+Inf``."""
    bounds, counts, _ = h
    out = []
    running = 0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        out.append((repr(float(bound)), float(running)))
    out.append(("+Inf", float(running + counts[-1])))
    return out


@dataclass(frozen=True, slots=True)
class FunctionCopy:
    """One function's numbers at the moment of a scrape."""

    name: str
    total: int
    running: int
    workers: int
    scheduled: int
    #: runnable jobs per priority
    queued: tuple[int, ...]
    #: per priority: the ``Tally`` fields in ``TALLY_FIELDS`` order
    tallies: tuple[tuple[int, ...], ...]
    queue_wait: HistogramCopy
    run_time: HistogramCopy

    @classmethod
    def of(cls, f: Function) -> FunctionCopy:
        return cls(
            name=label(f.name),
            total=f.total,
            running=f.running,
            workers=len(f.workers),
            scheduled=f.scheduled,
            queued=tuple(f.queued),
            tallies=tuple(tuple(getattr(t, k) for k in TALLY_FIELDS) for t in f.tallies),
            queue_wait=copy_histogram(f.queue_wait),
            run_time=copy_histogram(f.run_time),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a scrape reports, copied from the server on its event loop."""

    version: str
    functions: tuple[FunctionCopy, ...]
    jobs: int
    requeued: int
    wakeups: int
    #: open connections by role: worker, client, http
    connections: tuple[tuple[str, int], ...]
    accepted: int
    store_failing: bool
    store_errors: int
    commit_seconds: HistogramCopy | None
    batch_sizes: HistogramCopy | None

    @classmethod
    def take(cls, server: Server, gateway: Gateway | None = None) -> Snapshot:
        broker = server.broker
        http = gateway.session_ids if gateway is not None else set()
        roles = {"worker": 0, "client": 0, "http": 0}
        for session in broker.sessions.values():
            if session.id in http:
                roles["http"] += 1
            elif session.funcs:
                roles["worker"] += 1
            else:
                roles["client"] += 1
        store = broker.store
        commits: Histogram | None = getattr(store, "commit_seconds", None)
        sizes: Histogram | None = getattr(store, "batch_sizes", None)
        return cls(
            version=server.info.version,
            functions=tuple(FunctionCopy.of(f) for f in broker.functions.values()),
            jobs=len(broker.jobs),
            requeued=broker.stats.jobs_requeued,
            wakeups=broker.wakeups_sent,
            connections=tuple(roles.items()),
            accepted=broker.stats.connections_total,
            store_failing=store.failing,
            store_errors=broker.stats.store_errors,
            commit_seconds=copy_histogram(commits) if commits is not None else None,
            batch_sizes=copy_histogram(sizes) if sizes is not None else None,
        )


class SnapshotCollector:
    """prometheus-client's custom collector interface over one ``Snapshot``."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Every family."""
        yield from self._exporter()
        yield from self._jobs()
        yield from self._latency()
        yield from self._connections()
        yield from self._store()

    def _exporter(self) -> Iterator[Metric]:
        """gearman-exporter's families: same names, labels and help."""
        up = GaugeMetricFamily("gearman_up", "is gearman up", labels=["version"])
        up.add_metric([self.snapshot.version], 1.0)
        yield up
        total = GaugeMetricFamily(
            "gearman_status_total", "number of jobs in the queue", labels=["function"]
        )
        running = GaugeMetricFamily(
            "gearman_status_running", "number of running jobs", labels=["function"]
        )
        workers = GaugeMetricFamily(
            "gearman_status_workers", "number of number of capable workers", labels=["function"]
        )
        for f in self.snapshot.functions:
            total.add_metric([f.name], f.total)
            running.add_metric([f.name], f.running)
            workers.add_metric([f.name], f.workers)
        yield from (total, running, workers)

    def _jobs(self) -> Iterator[Metric]:
        labels = ["function", "priority"]
        queued = GaugeMetricFamily(
            "gear_jobs_queued", "Jobs waiting for a worker, runnable now.", labels=labels
        )
        scheduled = GaugeMetricFamily(
            "gear_jobs_scheduled", "Jobs waiting for their time (epoch, cron).", labels=["function"]
        )
        counters = [CounterMetricFamily(name, text, labels=labels) for name, text in JOB_COUNTERS]
        for f in self.snapshot.functions:
            scheduled.add_metric([f.name], f.scheduled)
            for priority, count, tally in zip(PRIORITIES, f.queued, f.tallies, strict=True):
                if not (tally[0] or tally[1] or count):
                    continue  # no job of this priority yet
                queued.add_metric([f.name, priority], count)
                for family, value in zip(counters, tally, strict=True):
                    family.add_metric([f.name, priority], value)
        yield from (queued, scheduled, *counters)
        snap = self.snapshot
        yield CounterMetricFamily(
            "gear_jobs_requeued", "Jobs queued again after their worker left.", value=snap.requeued
        )
        yield CounterMetricFamily(
            "gear_wakeups", "NOOPs sent to wake sleeping workers.", value=snap.wakeups
        )
        yield GaugeMetricFamily("gear_jobs", "Jobs the server holds.", value=snap.jobs)

    def _latency(self) -> Iterator[Metric]:
        wait = HistogramMetricFamily(
            "gear_queue_wait_seconds",
            "Seconds from submission (or due time) to a job's first start.",
            labels=["function"],
        )
        run = HistogramMetricFamily(
            "gear_job_run_seconds",
            "Seconds from a job's start to its WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION.",
            labels=["function"],
        )
        for f in self.snapshot.functions:
            wait.add_metric([f.name], histogram_buckets(f.queue_wait), f.queue_wait[2])
            run.add_metric([f.name], histogram_buckets(f.run_time), f.run_time[2])
        yield from (wait, run)

    def _connections(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "gear_connections",
            "Open connections: workers (registered a function), clients (the rest), "
            "and HTTP gateway requests in progress.",
            labels=["role"],
        )
        for role, count in self.snapshot.connections:
            family.add_metric([role], count)
        yield family
        yield CounterMetricFamily(
            "gear_connections_accepted",
            "Connections opened since start (each HTTP gateway request counts one).",
            value=self.snapshot.accepted,
        )

    def _store(self) -> Iterator[Metric]:
        snap = self.snapshot
        yield GaugeMetricFamily(
            "gear_store_failing",
            "1 while the job store cannot write.",
            value=int(snap.store_failing),
        )
        yield CounterMetricFamily(
            "gear_store_errors",
            "Store operations that failed (each refused submit counts one).",
            value=snap.store_errors,
        )
        commit = "Seconds each store commit (one batch) took."
        batch = "Operations (adds, starts, removes) per store commit."
        for name, text, h in (
            ("gear_store_commit_seconds", commit, snap.commit_seconds),
            ("gear_store_batch_size", batch, snap.batch_sizes),
        ):
            if h is not None:
                family = HistogramMetricFamily(name, text)
                family.add_metric([], histogram_buckets(h), h[2])
                yield family


def render(snapshot: Snapshot, accept: str) -> tuple[bytes, str]:
    """The exposition of ``snapshot`` (and the process's own metrics), and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    ProcessCollector(registry=registry)
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class MetricsEndpoint:
    """The ``--metrics`` listener's requests: ``/metrics``, ``/healthz``."""

    def __init__(self, server: Server, gateway: Gateway | None = None) -> None:
        self.server = server
        self.gateway = gateway

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request."""
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="use GET\n", headers={"Allow": "GET, HEAD"})
        if request.path == "/metrics":
            snapshot = Snapshot.take(self.server, self.gateway)
            accept = request.headers.get("Accept", "")
            body, content_type = await asyncio.to_thread(render, snapshot, accept)
            return web.Response(body=body, headers={"Content-Type": content_type})
        if request.path == "/healthz":
            if self.server.broker.store.failing:
                return web.Response(status=503, text="store failing\n")
            return web.Response(text="ok\n")
        if request.path == "/":
            return web.Response(text="gear serve: /metrics (Prometheus), /healthz\n")
        return web.Response(status=404, text="not found: try /metrics or /healthz\n")
