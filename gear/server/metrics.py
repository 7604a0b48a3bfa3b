"""``gear serve --metrics``: Prometheus metrics and a health check, read at scrape time.

Strategy: nothing is recorded for the metrics.  The broker keeps plain
integer counters on the objects it already has (``Stats``, each
``Function``'s per-priority ``Tally`` and its two ``Histogram``s, the
store's commit histograms), and ``BrokerCollector`` (a prometheus-client
custom collector) turns that state into metric families when ``/metrics``
is scraped.  A job costs a few integer increments whether or not anyone
scrapes; a scrape costs one pass over the functions and sessions.

The first four families carry the names, labels and help of the community
exporter (bakins/gearman-exporter: ``gearman_up``, ``gearman_status_total``,
``gearman_status_running``, ``gearman_status_workers``), so its dashboards
work unchanged; the values are exactly the admin ``status`` columns.  Every
other family is ``gear_*``; docs/operations.md lists them.

``/healthz`` answers 200 ``ok``, or 503 while the job store is failing
(a load balancer then sends submits elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterator
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
#: (metric name, help, Tally attribute) of the per function and priority counters
JOB_COUNTERS = (
    ("gear_jobs_submitted", "New jobs created (a coalesced submit is not one).", "submitted"),
    ("gear_jobs_coalesced", "Submits that joined a job with the same unique.", "coalesced"),
    ("gear_jobs_completed", "Jobs ended by WORK_COMPLETE.", "completed"),
    ("gear_jobs_failed", "Jobs ended by WORK_FAIL, the retry limit or a timeout.", "failed"),
    ("gear_jobs_exceptions", "Jobs ended by WORK_EXCEPTION.", "exceptions"),
    ("gear_jobs_timed_out", "Jobs failed because they ran past CAN_DO_TIMEOUT.", "timed_out"),
    ("gear_jobs_cancelled", "Jobs cancelled by the admin.", "cancelled"),
)


def label(name: bytes) -> str:
    """A function name as a label value (names are bytes; not every one is UTF-8)."""
    return name.decode("utf-8", "backslashreplace")


def histogram_buckets(h: Histogram) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs, ending with ``+Inf``."""
    out = []
    running = 0
    for bound, count in zip(h.bounds, h.counts, strict=False):
        running += count
        out.append((repr(float(bound)), float(running)))
    out.append(("+Inf", float(running + h.counts[-1])))
    return out


class BrokerCollector:
    """Metric families built from the server's state at each scrape."""

    def __init__(self, server: Server, gateway: Gateway | None = None) -> None:
        self.server = server
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        """Every family (prometheus-client calls this on each scrape)."""
        functions = list(self.server.broker.functions.values())
        yield from self._exporter(functions)
        yield from self._jobs(functions)
        yield from self._latency(functions)
        yield from self._connections()
        yield from self._store()

    def _exporter(self, functions: list[Function]) -> Iterator[Metric]:
        """gearman-exporter's families: same names, labels and help."""
        up = GaugeMetricFamily("gearman_up", "is gearman up", labels=["version"])
        up.add_metric([self.server.info.version], 1.0)
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
        for f in functions:
            name = [label(f.name)]
            total.add_metric(name, f.total)
            running.add_metric(name, f.running)
            workers.add_metric(name, len(f.workers))
        yield from (total, running, workers)

    def _jobs(self, functions: list[Function]) -> Iterator[Metric]:
        labels = ["function", "priority"]
        queued = GaugeMetricFamily(
            "gear_jobs_queued", "Jobs waiting for a worker, runnable now.", labels=labels
        )
        scheduled = GaugeMetricFamily(
            "gear_jobs_scheduled", "Jobs waiting for their time (epoch, cron).", labels=["function"]
        )
        for f in functions:
            name = label(f.name)
            scheduled.add_metric([name], f.scheduled)
            for priority, count in zip(PRIORITIES, f.queued, strict=True):
                queued.add_metric([name, priority], count)
        yield from (queued, scheduled)
        for metric, text, attr in JOB_COUNTERS:
            family = CounterMetricFamily(metric, text, labels=labels)
            for f in functions:
                name = label(f.name)
                for priority, tally in zip(PRIORITIES, f.tallies, strict=True):
                    family.add_metric([name, priority], getattr(tally, attr))
            yield family
        broker = self.server.broker
        yield CounterMetricFamily(
            "gear_jobs_requeued",
            "Jobs queued again after their worker left.",
            value=broker.stats.jobs_requeued,
        )
        yield CounterMetricFamily(
            "gear_wakeups", "NOOPs sent to wake sleeping workers.", value=broker.wakeups_sent
        )
        yield GaugeMetricFamily("gear_jobs", "Jobs the server holds.", value=len(broker.jobs))

    def _latency(self, functions: list[Function]) -> Iterator[Metric]:
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
        for f in functions:
            name = [label(f.name)]
            wait.add_metric(name, histogram_buckets(f.queue_wait), f.queue_wait.total)
            run.add_metric(name, histogram_buckets(f.run_time), f.run_time.total)
        yield from (wait, run)

    def _connections(self) -> Iterator[Metric]:
        broker = self.server.broker
        http = self.gateway.session_ids if self.gateway is not None else set()
        counts = {"worker": 0, "client": 0, "http": 0}
        for session in broker.sessions.values():
            if session.id in http:
                counts["http"] += 1
            elif session.funcs:
                counts["worker"] += 1
            else:
                counts["client"] += 1
        family = GaugeMetricFamily(
            "gear_connections",
            "Open connections: workers (registered a function), clients (the rest), "
            "and HTTP gateway requests in progress.",
            labels=["role"],
        )
        for role, count in counts.items():
            family.add_metric([role], count)
        yield family
        yield CounterMetricFamily(
            "gear_connections_accepted",
            "Connections opened since start (each HTTP gateway request counts one).",
            value=broker.stats.connections_total,
        )

    def _store(self) -> Iterator[Metric]:
        broker = self.server.broker
        store = broker.store
        yield GaugeMetricFamily(
            "gear_store_failing", "1 while the job store cannot write.", value=int(store.failing)
        )
        yield CounterMetricFamily(
            "gear_store_errors",
            "Store operations that failed (each refused submit counts one).",
            value=broker.stats.store_errors,
        )
        commits: Histogram | None = getattr(store, "commit_seconds", None)
        sizes: Histogram | None = getattr(store, "batch_sizes", None)
        if commits is not None:
            family = HistogramMetricFamily(
                "gear_store_commit_seconds", "Seconds each store commit (one batch) took."
            )
            family.add_metric([], histogram_buckets(commits), commits.total)
            yield family
        if sizes is not None:
            family = HistogramMetricFamily(
                "gear_store_batch_size", "Operations (adds, starts, removes) per store commit."
            )
            family.add_metric([], histogram_buckets(sizes), sizes.total)
            yield family


class MetricsEndpoint:
    """The ``--metrics`` listener's requests: ``/metrics``, ``/healthz``."""

    def __init__(self, server: Server, gateway: Gateway | None = None) -> None:
        self.server = server
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BrokerCollector(server, gateway))
        ProcessCollector(registry=self.registry)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request."""
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="use GET\n", headers={"Allow": "GET, HEAD"})
        if request.path == "/metrics":
            encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
            body = encoder(self.registry)
            return web.Response(body=body, headers={"Content-Type": content_type})
        if request.path == "/healthz":
            if self.server.broker.store.failing:
                return web.Response(status=503, text="store failing\n")
            return web.Response(text="ok\n")
        if request.path == "/":
            return web.Response(text="gear serve: /metrics (Prometheus), /healthz\n")
        return web.Response(status=404, text="not found: try /metrics or /healthz\n")
