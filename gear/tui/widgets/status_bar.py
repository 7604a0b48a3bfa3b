"""The one-line summary at the top: totals, alerts, refresh state and time.

Strategy: the screen binds ``snapshot``, ``paused`` and ``interval`` down;
the line is rebuilt from them and nothing else.  The time shown is the
snapshot's, not the clock's, so a paused dashboard shows when its data is
from (and snapshot tests need no frozen clock here).
"""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from gear.tui.cells import NA, PENDING, rate
from gear.tui.model import Quality, Rates, Snapshot

__all__ = ["StatusBar", "summary"]


def summary(snapshot: Snapshot | None, *, paused: bool, interval: float) -> tuple[Text, Text]:
    """The status line: totals on the left, time and refresh state on the right."""
    line, right = Text(no_wrap=True, overflow="ellipsis"), Text(no_wrap=True, justify="right")
    line.append(" gear top ", style="bold reverse")
    if paused:
        right.append(" PAUSED ", style="bold reverse")
    else:
        right.append(f"every {interval:g}s", style="dim")
    if snapshot is None:
        line.append("  connecting…")
        return line, right
    right.append("  " + time.strftime("%H:%M:%S", time.localtime(snapshot.taken)) + " ")
    functions = snapshot.functions
    up, total = snapshot.servers_up, len(snapshot.servers)
    line.append(f" {up}/{total} up", style="bold red" if up < total else "")
    if snapshot.alerts:
        line.append(f"  ! {snapshot.alerts} no worker", style="bold red")
    line.append(f"  {sum(f.queued for f in functions)} queued")
    line.append(f"  {sum(f.running for f in functions)} run")
    workers = sum(s.workers or 0 for s in snapshot.servers if s.up)
    asleep = [w for w in snapshot.workers if w.state == "sleeping"]
    known = any(w.state is not None for w in snapshot.workers)
    line.append(f"  {workers} wrk" + (f" ({len(asleep)} zzz)" if known else ""))
    line.append(f"  {_throughput(snapshot.rates)}")
    return line, right


def _throughput(rates: Rates) -> str:
    """``36.0/s in 26.0/s out``; ``jobs/s n/a`` (or ``…``) when there is no number."""
    if rates.quality is Quality.PENDING:
        return f"jobs/s {PENDING}"
    if not rates.known:
        return f"jobs/s {NA}"
    return f"{rate(rates, outbound=False)}/s in {rate(rates, outbound=True)}/s out"


class StatusBar(Static):
    """Totals over every server."""

    snapshot: reactive[Snapshot | None] = reactive(None)
    paused: reactive[bool] = reactive(False)
    interval: reactive[float] = reactive(1.0)

    def render(self) -> Table:
        left, right = summary(self.snapshot, paused=self.paused, interval=self.interval)
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(no_wrap=True, justify="right")
        grid.add_row(left, right)
        return grid
