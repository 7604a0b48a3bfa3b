"""The jobs panel: the jobs of the function selected in the functions table.

Strategy: the screen binds ``snapshot`` and ``newest_first`` down; rows are
ordered by age where the server tells it (gear), else in handle order.  The
SERVER column appears only when several servers are watched.  Values a
server cannot tell (C gearmand has no function, state, unique or age per
job; the Perl server has no handle) are drawn as n/a.  The title says what
is listed, and it is the only place that can (the panel has no bottom
border): the selected function's jobs, and every job of a server that names
no job's function (C gearmand), per server.  ``selected_job`` is what `c`
cancels.
"""

from __future__ import annotations

import re

from textual.reactive import reactive

from gear.tui.cells import NA, count, duration
from gear.tui.model import JobView, Snapshot
from gear.tui.widgets.live_table import LiveTable, Row

__all__ = ["JobsTable", "order_jobs"]

#: most telling first: a narrow panel scrolls the rest
COLUMNS = (
    ("handle", "handle"),
    ("state", "state"),
    ("age", "age"),
    ("priority", "prio"),
    ("unique", "unique"),
    ("size", "size"),
    ("clients", "wait"),
)
SERVER = ("server", "server")
#: uniques longer than this are cut, the table stays readable
UNIQUE_WIDTH = 24


def _natural(text: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def order_jobs(jobs: tuple[JobView, ...], newest_first: bool) -> list[JobView]:
    """Oldest (or newest) first by age; jobs of unknown age after, in handle order.

    Equal ages (gear rounds them to milliseconds) fall back on handle order,
    which is submission order on every server.
    """
    aged = sorted(
        (j for j in jobs if j.age is not None),
        key=lambda j: (-(j.age or 0.0), j.server, _natural(j.handle or "")),
    )
    rest = sorted(
        (j for j in jobs if j.age is None), key=lambda j: (j.server, _natural(j.handle or ""))
    )
    if newest_first:
        aged.reverse()
        rest.reverse()
    return aged + rest


def _short(text: str | None) -> str:
    if text is None:
        return NA
    return text if len(text) <= UNIQUE_WIDTH else text[: UNIQUE_WIDTH - 1] + "…"


class JobsTable(LiveTable):
    """Jobs of the selected function."""

    snapshot: reactive[Snapshot | None] = reactive(None)
    newest_first: reactive[bool] = reactive(False)

    #: the function whose jobs are shown; another one starts at the top again
    _function: str | None = None

    def on_mount(self) -> None:
        self.refill()

    def watch_snapshot(self) -> None:
        self.refill()

    def watch_newest_first(self) -> None:
        self.refill()

    @property
    def several_servers(self) -> bool:
        """Whether more than one server is watched."""
        return self.snapshot is not None and len(self.snapshot.servers) > 1

    def _jobs(self) -> list[JobView]:
        return order_jobs(self.snapshot.jobs if self.snapshot else (), self.newest_first)

    @property
    def selected_job(self) -> JobView | None:
        """The job under the cursor."""
        key = self.current_key
        for index, job in enumerate(self._jobs()):
            if self._key(job, index) == key:
                return job
        return None

    @staticmethod
    def _key(job: JobView, index: int) -> str:
        return f"{job.server}\t{job.handle or job.unique or index}"

    def refill(self) -> None:
        """Redraw every row from the current attributes."""
        if not self.is_mounted:
            return
        self.set_columns(COLUMNS + ((SERVER,) if self.several_servers else ()))
        jobs = self._jobs()
        rows: list[Row] = []
        for index, job in enumerate(jobs):
            cells = [
                _short(job.handle),
                job.state or NA,
                duration(job.age),
                job.priority or NA,
                _short(job.unique),
                count(job.size),
                count(job.clients),
            ]
            if self.several_servers:
                cells.append(job.server)
            rows.append((self._key(job, index), cells))
        self.set_rows(rows)
        selected = self.snapshot.selected if self.snapshot else None
        if selected != self._function:
            self._function = selected
            self.move_cursor(row=0, animate=False)
        self._titles(len(jobs))

    def _titles(self, shown: int) -> None:
        snap = self.snapshot
        if snap is None or snap.selected is None:
            self.border_title = "jobs · select a function"
            return
        self.border_title = " · ".join(
            [*_listed(snap), "newest first" if self.newest_first else "oldest first"]
        )


def _listed(snap: Snapshot) -> list[str]:
    """What the panel lists: ``jobs of F 10``, ``all 2 jobs of SERVER, any function`` …"""
    own = sum(1 for j in snap.jobs if j.function is not None)
    every: dict[str, int] = {}
    for job in snap.jobs:
        if job.function is None:
            every[job.server] = every.get(job.server, 0) + 1
    parts = [f"jobs of {snap.selected} {own}"] if own or not every else []
    parts += [f"all {n} jobs of {server}, any function" for server, n in every.items()]
    if every and snap.jobs_note:
        parts.append(snap.jobs_note)
    if snap.jobs_hidden:
        parts.append(f"{snap.jobs_hidden} more not listed")
    return parts
