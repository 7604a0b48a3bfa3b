"""A ``StatsSource`` without servers, for tests, snapshots and demos.

Strategy: ``FakeSource`` returns a fixed snapshot (jobs filtered to the
selected function, like the real source) and records the admin actions it
is asked for, answering each with a configurable result.  ``demo_snapshot``
is a deterministic picture with every kind of cell: a gear server, a C
gearmand, a server that is down, a function with jobs and no worker, lower
bounds and n/a values, and sparklines made from fixed series.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gear.tui.aggregate import C_NOTE
from gear.tui.model import (
    ActionResult,
    FunctionOnServer,
    FunctionView,
    JobView,
    Quality,
    Rates,
    ServerKind,
    ServerView,
    Snapshot,
    WorkerView,
)

__all__ = ["FakeSource", "demo_snapshot"]

#: 2024-06-01 12:00:00 UTC, the demo's fixed time
DEMO_TIME = 1_717_243_200.0
GEAR = "10.0.0.5:4730"
GEARMAND = "10.0.0.6:4730"
DOWN = "10.0.0.7:4730"


class FakeSource:
    """A StatsSource that serves fixed snapshots.

    Args:
        snapshot: what ``poll`` returns, its jobs filtered to the selection
            (a ``JobView`` with ``function`` None, as from C gearmand, is kept
            when its server lists the function).
        ok: whether the admin actions succeed.
    """

    def __init__(self, snapshot: Snapshot | None = None, *, ok: bool = True) -> None:
        self.snapshot = snapshot or demo_snapshot()
        self.ok = ok
        #: every call: ("poll", selected) or (action, *args)
        self.calls: list[tuple[object, ...]] = []
        self.closed = False

    async def poll(self, selected: str | None) -> Snapshot:
        """The snapshot, with the jobs of ``selected``."""
        self.calls.append(("poll", selected))
        view = self.snapshot.function(selected)
        servers = {p.server for p in view.servers} if view else set()
        jobs = tuple(
            j
            for j in self.snapshot.jobs
            if j.function == selected or (j.function is None and j.server in servers)
        )
        jobs = jobs if selected else ()
        note = C_NOTE if any(j.function is None for j in jobs) else ""
        return replace(self.snapshot, selected=selected, jobs=jobs, jobs_note=note)

    def _answer(self, server: str) -> tuple[ActionResult, ...]:
        message = "OK" if self.ok else "ERR UNKNOWN_JOB"
        return (ActionResult(server, self.ok, message),)

    async def cancel_job(self, server: str, handle: str) -> tuple[ActionResult, ...]:
        """Record the call."""
        self.calls.append(("cancel_job", server, handle))
        return self._answer(server)

    async def drop_function(self, function: str) -> tuple[ActionResult, ...]:
        """Record the call."""
        self.calls.append(("drop_function", function))
        return self._answer(GEAR)

    async def set_maxqueue(self, function: str, sizes: tuple[int, ...]) -> tuple[ActionResult, ...]:
        """Record the call."""
        self.calls.append(("set_maxqueue", function, sizes))
        return self._answer(GEAR)

    async def close(self) -> None:
        """Record that the app closed it."""
        self.closed = True


def _series(phase: float, scale: float, length: int = 60) -> tuple[float, ...]:
    return tuple(
        round(scale * (1 + math.sin(i / 5 + phase)) / 2 + scale / 10, 1) for i in range(length)
    )


def _part(server: str, queued: int, running: int, workers: int, **kw: object) -> FunctionOnServer:
    c_like = server == GEARMAND
    values: dict[str, object] = {
        "high": 0,
        "normal": queued,
        "low": 0,
        "sleeping": None if c_like else 0,
        "rates": Rates(quality=Quality.UNAVAILABLE) if c_like else Rates(0, 0, Quality.EXACT),
    }
    values.update(kw)
    return FunctionOnServer(
        server=server,
        queued=queued,
        running=running,
        workers=workers,
        **values,  # type: ignore[arg-type]
    )


def _function(
    name: str, parts: tuple[FunctionOnServer, ...], history: tuple[float, ...]
) -> FunctionView:
    def total(field: str) -> int | None:
        values = [getattr(p, field) for p in parts]
        return None if None in values else sum(values)

    rates = parts[0].rates
    for p in parts[1:]:
        rates = rates + p.rates
    return FunctionView(
        name=name,
        queued=sum(p.queued for p in parts),
        high=total("high"),
        normal=total("normal"),
        low=total("low"),
        running=sum(p.running for p in parts),
        workers=sum(p.workers for p in parts),
        sleeping=total("sleeping"),
        rates=rates,
        history=history,
        servers=parts,
    )


def demo_snapshot() -> Snapshot:
    """A fixed, many-sided picture of three servers."""
    functions = (
        _function(
            "resize_image",
            (
                _part(GEAR, 42, 4, 4, high=2, normal=40, rates=Rates(38.5, 36.0, Quality.EXACT)),
                _part(GEARMAND, 7, 1, 1, normal=7),
            ),
            _series(0.0, 40.0),
        ),
        _function(
            "send_email",
            (_part(GEAR, 0, 0, 3, sleeping=3, rates=Rates(0.0, 0.0, Quality.EXACT)),),
            _series(2.0, 0.0),
        ),
        _function(
            "index_document",
            (_part(GEAR, 12, 0, 0, normal=11, low=1),),
            (),
        ),
        _function(
            "thumbnail",
            (_part(GEAR, 3, 2, 2, normal=3, rates=Rates(5.0, 4.0, Quality.AT_LEAST)),),
            _series(1.0, 6.0),
        ),
        _function("reports.nightly", (_part(GEARMAND, 0, 0, 1),), ()),
    )
    return Snapshot(
        taken=DEMO_TIME,
        servers=_servers(),
        functions=functions,
        jobs=_jobs(),
        workers=_workers(),
    )


def _servers() -> tuple[ServerView, ...]:
    return (
        ServerView(
            address=GEAR,
            up=True,
            kind=ServerKind.GEAR,
            version="1.1.20-gear-0.1.0",
            latency=0.00042,
            uptime=93_784.0,
            connections=14,
            functions=4,
            queued=57,
            running=6,
            workers=9,
            rates=Rates(43.5, 40.0, Quality.EXACT),
        ),
        ServerView(
            address=GEARMAND,
            up=True,
            kind=ServerKind.GEARMAND,
            version="1.1.20+ds",
            latency=0.00091,
            connections=4,
            functions=2,
            queued=7,
            running=1,
            workers=2,
        ),
        ServerView(address=DOWN, up=False, error=f"{DOWN}: Connection refused", down_for=125.0),
    )


def _jobs() -> tuple[JobView, ...]:
    gear = tuple(
        JobView(
            server=GEAR,
            handle=f"H:web1-4f2a:{1000 + i}",
            function="resize_image",
            unique=f"img-{7731 + i}.png",
            priority="high" if i < 2 else "normal",
            state="running" if i in (2, 3, 4, 5) else "queued",
            age=4.0 + 7.5 * i,
            size=2048 + 97 * i,
            clients=0 if i % 3 else 1,
            background=bool(i % 3),
        )
        for i in range(10)
    )
    return gear + tuple(
        JobView(
            server=GEARMAND,
            handle=f"H:web2:{i}",
            function=None,
            unique=None,
            priority=None,
            state=None,
            age=None,
            size=None,
            clients=None,
        )
        for i in (17, 18)
    )


def _workers() -> tuple[WorkerView, ...]:
    busy = tuple(
        WorkerView(
            server=GEAR,
            fd=20 + i,
            address=f"10.0.1.{11 + i}",
            client_id=f"resizer-{i}",
            functions=("resize_image", "thumbnail"),
            state="busy",
            state_seconds=0.4 + i,
            handles=(f"H:web1-4f2a:{1002 + i}",),
            connected=3600.0 + 60 * i,
        )
        for i in range(4)
    )
    asleep = tuple(
        WorkerView(
            server=GEAR,
            fd=30 + i,
            address="10.0.1.40",
            client_id=f"mailer-{i}",
            functions=("send_email",),
            state="sleeping",
            state_seconds=312.0,
            handles=(),
            connected=86_000.0,
        )
        for i in range(3)
    )
    c_worker = (
        WorkerView(
            server=GEARMAND,
            fd=33,
            address="10.0.1.50",
            client_id="",
            functions=("resize_image", "reports.nightly"),
        ),
    )
    return busy + asleep + c_worker
