"""The workers panel: every connection that registered a function.

Strategy: the screen binds ``snapshot`` down.  Against gear each worker
shows its state (sleeping / awake / busy with which jobs) and for how long,
and how long it has been connected; other servers only tell the
``workers`` line, so those columns are n/a.  Workers of the selected
function come first and are drawn in the highlight style.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive

from gear.tui.cells import NA, duration
from gear.tui.model import Snapshot, WorkerView
from gear.tui.widgets.live_table import Cell, LiveTable, Row

__all__ = ["WorkersTable"]

#: most telling first: a narrow panel scrolls the rest
COLUMNS = (
    ("id", "id"),
    ("state", "state"),
    ("for", "for"),
    ("functions", "functions"),
    ("jobs", "running"),
    ("address", "address"),
    ("connected", "conn"),
)
SERVER = ("server", "server")


def _jobs(worker: WorkerView) -> str:
    if worker.handles is None:
        return NA
    return ",".join(worker.handles) or "-"


class WorkersTable(LiveTable):
    """Workers with their state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"workers-table--selected", "workers-table--sleeping"}

    snapshot: reactive[Snapshot | None] = reactive(None)

    def on_mount(self) -> None:
        self.refill()

    def watch_snapshot(self) -> None:
        self.refill()

    def refill(self) -> None:
        """Redraw every row from the snapshot."""
        if not self.is_mounted:
            return
        snap = self.snapshot
        several = snap is not None and len(snap.servers) > 1
        self.set_columns(COLUMNS + ((SERVER,) if several else ()))
        selected = snap.selected if snap else None
        workers = list(snap.workers) if snap else []
        workers.sort(key=lambda w: (selected not in w.functions, w.server, w.fd))
        rows: list[Row] = []
        for worker in workers:
            style = Style()
            if worker.state == "sleeping":
                style = self.get_component_rich_style("workers-table--sleeping", partial=True)
            if selected in worker.functions:
                style += self.get_component_rich_style("workers-table--selected", partial=True)
            texts = [
                worker.client_id or "-",
                worker.state or NA,
                duration(worker.state_seconds),
                " ".join(worker.functions),
                _jobs(worker),
                worker.address,
                duration(worker.connected),
            ]
            if several:
                texts.append(worker.server)
            cells: list[Cell] = [Text(t, style=style) for t in texts]
            rows.append((f"{worker.server}\t{worker.fd}", cells))
        self.set_rows(rows)
        asleep = sum(1 for w in workers if w.state == "sleeping")
        known = any(w.state is not None for w in workers)
        self.border_title = f"workers {len(workers)}" + (f" · {asleep} asleep" if known else "")
