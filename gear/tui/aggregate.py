"""Readings of several servers → one ``Snapshot`` (pure).

Strategy: each server's rows become per-server views first
(``FunctionOnServer``, ``JobView``, ``WorkerView``), each field filled only
from a command that server answered; the functions table then sums the
per-server rows by name.  A sum over servers of which one cannot tell a
field (a priority split from the Perl server, say) is ``None``, not a
partial sum.  Jobs are listed for the selected function only: gear's
``show queue`` rows in full, the Perl server's ``jobs`` rows of that
function, and C gearmand's ``show jobs`` rows, which name no function (nor
whether the job runs), with a note saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gear.client.admin import QueuedJob
from gear.tui.model import (
    FunctionOnServer,
    FunctionView,
    JobView,
    Rates,
    ServerView,
    Snapshot,
    WorkerView,
)
from gear.tui.poller import ServerReading
from gear.tui.rates import ServerRates

__all__ = ["MAX_JOBS", "build_snapshot"]

#: jobs listed at most (the rest are counted in ``Snapshot.jobs_hidden``)
MAX_JOBS = 1000

#: why a C gearmand's jobs are all listed: its ``show jobs`` cannot be filtered
C_NOTE = "gearmand names no job's function"


def build_snapshot(
    readings: Sequence[ServerReading],
    *,
    wall: float,
    selected: str | None,
    rates: Mapping[str, ServerRates],
    down_since: Mapping[str, float],
) -> Snapshot:
    """The snapshot of one refresh.

    Args:
        readings: one per server, in the order the user gave them.
        wall: wall-clock time of the refresh.
        selected: the function whose jobs to list.
        rates: per server address, the rates since the previous refresh.
        down_since: per down server, the monotonic time it was last seen up.
    """
    parts = [_functions_on(r, rates.get(r.address, ServerRates(Rates()))) for r in readings if r.up]
    functions = _merge(parts)
    jobs, note = _jobs(readings, selected)
    servers = (_server(r, rates.get(r.address), down_since.get(r.address)) for r in readings)
    return Snapshot(
        taken=wall,
        servers=tuple(servers),
        functions=functions,
        selected=selected,
        jobs=tuple(jobs[:MAX_JOBS]),
        jobs_hidden=max(len(jobs) - MAX_JOBS, 0),
        jobs_note=note,
        workers=tuple(w for r in readings if r.up for w in _workers(r)),
    )


def _server(r: ServerReading, rates: ServerRates | None, since: float | None) -> ServerView:
    if not r.up:
        down_for = r.taken - since if since is not None else None
        return ServerView(address=r.address, up=False, error=r.error, down_for=down_for)
    stats = r.stats or {}
    workers = None
    if r.workers is not None:
        workers = sum(1 for w in r.workers if w.functions)
    return ServerView(
        address=r.address,
        up=True,
        kind=r.kind,
        version=r.version,
        latency=r.latency,
        uptime=_float(stats.get("uptime")),
        connections=len(r.workers) if r.workers is not None else None,
        functions=len(r.status),
        queued=sum(s.queued for s in r.status),
        running=sum(s.running for s in r.status),
        workers=workers,
        rates=rates.total if rates is not None else Rates(),
    )


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _functions_on(r: ServerReading, rates: ServerRates) -> dict[str, FunctionOnServer]:
    priority = {p.function: p for p in r.priority} if r.priority is not None else None
    sleeping: dict[str, int] | None = None
    if r.worker_details is not None:
        sleeping = {}
        for w in r.worker_details:
            if w.state == "sleeping":
                for name in w.functions:
                    sleeping[name] = sleeping.get(name, 0) + 1
    rows = {}
    for s in r.status:
        split = priority.get(s.function) if priority is not None else None
        rows[s.function] = FunctionOnServer(
            server=r.address,
            queued=s.queued,
            high=split.high if split else (0 if priority is not None else None),
            normal=split.normal if split else (0 if priority is not None else None),
            low=split.low if split else (0 if priority is not None else None),
            running=s.running,
            workers=s.workers,
            sleeping=sleeping.get(s.function, 0) if sleeping is not None else None,
            rates=rates.of(s.function),
        )
    return rows


def _merge(parts: Iterable[Mapping[str, FunctionOnServer]]) -> tuple[FunctionView, ...]:
    by_name: dict[str, list[FunctionOnServer]] = {}
    for server_rows in parts:
        for name, row in server_rows.items():
            by_name.setdefault(name, []).append(row)
    return tuple(_function(name, rows) for name, rows in by_name.items())


def _function(name: str, rows: list[FunctionOnServer]) -> FunctionView:
    rates = rows[0].rates
    for row in rows[1:]:
        rates = rates + row.rates
    return FunctionView(
        name=name,
        queued=sum(r.queued for r in rows),
        high=_sum(r.high for r in rows),
        normal=_sum(r.normal for r in rows),
        low=_sum(r.low for r in rows),
        running=sum(r.running for r in rows),
        workers=sum(r.workers for r in rows),
        sleeping=_sum(r.sleeping for r in rows),
        rates=rates,
        servers=tuple(rows),
    )


def _sum(values: Iterable[int | None]) -> int | None:
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _jobs(readings: Sequence[ServerReading], selected: str | None) -> tuple[list[JobView], str]:
    if selected is None:
        return [], ""
    jobs: list[JobView] = []
    note = ""
    for r in readings:
        if not r.up:
            continue
        if r.queue is not None:
            jobs += [_gear_job(r.address, q) for q in r.queue if q.function == selected]
        elif r.perl_jobs is not None:
            jobs += [
                JobView(
                    server=r.address,
                    handle=None,
                    function=p.function,
                    unique=p.unique,
                    priority=None,
                    state="running" if p.worker else "queued",
                    age=None,
                    size=None,
                    clients=p.listeners,
                )
                for p in r.perl_jobs
                if p.function == selected
            ]
        elif r.show_jobs is not None and any(s.function == selected for s in r.status):
            note = C_NOTE
            jobs += [
                JobView(
                    server=r.address,
                    handle=j.handle,
                    function=None,
                    unique=None,
                    priority=None,
                    state=None,  # JOB_QUEUED is set for background jobs, running or not
                    age=None,
                    size=None,
                    clients=None,
                )
                for j in r.show_jobs
                if not j.ignored
            ]
    return jobs, note


def _gear_job(server: str, q: QueuedJob) -> JobView:
    return JobView(
        server=server,
        handle=q.handle,
        function=q.function,
        unique=q.unique,
        priority=q.priority,
        state=q.state,
        age=q.age,
        size=q.size,
        clients=q.clients,
        background=q.background,
    )


def _workers(r: ServerReading) -> list[WorkerView]:
    if r.worker_details is not None:
        return [
            WorkerView(
                server=r.address,
                fd=w.fd,
                address=w.address,
                client_id=w.client_id,
                functions=w.functions,
                state=w.state,
                state_seconds=w.state_seconds,
                handles=w.handles,
                connected=w.connected_seconds,
            )
            for w in r.worker_details
        ]
    return [
        WorkerView(
            server=r.address,
            fd=w.fd,
            address=w.address,
            client_id=w.client_id,
            functions=w.functions,
        )
        for w in (r.workers or ())
        if w.functions
    ]
