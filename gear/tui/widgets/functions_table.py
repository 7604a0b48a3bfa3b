"""The functions panel: one row per function, queues, workers and throughput.

Strategy: the screen binds ``snapshot``, ``filter_text``, ``sort_key`` and
``breakdown`` down to it; any change refills the rows through
``LiveTable.set_rows``.  The user's picks go up as messages: the row under
the cursor as ``FunctionSelected``, a clicked header as ``SortRequested``.
With ``breakdown`` on, each function is followed by one indented row per
server (the per-server breakdown).  A function whose jobs wait with no
worker on some server is drawn in the alert style with a "!" mark.
"""

from __future__ import annotations

import fnmatch
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from gear.tui.cells import NA, count, rate, sparkline
from gear.tui.messages import FunctionSelected, SortRequested
from gear.tui.model import FunctionOnServer, FunctionView, Snapshot
from gear.tui.rates import HISTORY
from gear.tui.widgets.live_table import Cell, LiveTable, Row

__all__ = ["COLUMNS", "SORT_KEYS", "FunctionsTable", "matches"]

#: (key, header) of every column
COLUMNS = (
    ("name", "function"),
    ("queued", "queued"),
    ("split", "hi/nor/lo"),
    ("running", "run"),
    ("workers", "wrk"),
    ("sleeping", "zzz"),
    ("in", "in/s"),
    ("out", "out/s"),
    ("trend", "out/s trend"),
)
#: sort orders `s` cycles through; numbers sort largest first
SORT_KEYS = ("name", "queued", "running", "workers", "sleeping", "in", "out")
#: separates a function's name from a server in breakdown row keys
SEP = "\t"


def matches(name: str, pattern: str) -> bool:
    """Whether a function passes the filter: a glob if it has wildcards, else a substring."""
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name.lower(), pattern.lower())
    return pattern.lower() in name.lower()


def _sort_value(f: FunctionView, key: str) -> float:
    values: dict[str, float | None] = {
        "queued": f.queued,
        "running": f.running,
        "workers": f.workers,
        "sleeping": f.sleeping,
        "in": f.rates.inbound if f.rates.known else None,
        "out": f.rates.outbound if f.rates.known else None,
    }
    value = values.get(key)
    return -1.0 if value is None else float(value)


def _texts(f: FunctionView | FunctionOnServer) -> list[str]:
    """Every cell but the sparkline, for a function or one server's part of it."""
    name = "  └ " + f.server if isinstance(f, FunctionOnServer) else f.name
    return [
        ("! " if f.alert else "") + name,
        count(f.queued),
        _split(f.high, f.normal, f.low),
        count(f.running),
        count(f.workers),
        count(f.sleeping),
        rate(f.rates, outbound=False),
        rate(f.rates, outbound=True),
    ]


def _cells(texts: list[str], style: Style) -> list[Cell]:
    last = len(texts) - 1
    return [
        Text(text, style=style, justify="left" if i in (0, last) else "right")
        for i, text in enumerate(texts)
    ]


def _split(high: int | None, normal: int | None, low: int | None) -> str:
    if high is None or normal is None or low is None:
        return NA
    return f"{high}/{normal}/{low}"


class FunctionsTable(LiveTable):
    """Functions with their queues, workers and jobs/s."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"functions-table--alert", "functions-table--part"}

    snapshot: reactive[Snapshot | None] = reactive(None)
    filter_text: reactive[str] = reactive("")
    sort_key: reactive[str] = reactive("name")
    breakdown: reactive[bool] = reactive(False)

    def on_mount(self) -> None:
        self.set_columns(COLUMNS)
        self.refill()

    def on_resize(self) -> None:
        self.refill()

    def watch_snapshot(self) -> None:
        self.refill()

    def watch_filter_text(self) -> None:
        self.refill()

    def watch_sort_key(self) -> None:
        self.refill()

    def watch_breakdown(self) -> None:
        self.refill()

    @property
    def current_function(self) -> str | None:
        """The function of the row under the cursor."""
        key = self.current_key
        return key.split(SEP, 1)[0] if key is not None else None

    def shown_functions(self) -> list[FunctionView]:
        """The functions that pass the filter, in the chosen order."""
        functions = self.snapshot.functions if self.snapshot else ()
        shown = [f for f in functions if matches(f.name, self.filter_text)]
        shown.sort(key=lambda f: f.name)
        if self.sort_key != "name":
            shown.sort(key=lambda f: _sort_value(f, self.sort_key), reverse=True)
        return shown

    def refill(self) -> None:
        """Redraw every row from the current attributes."""
        if not self.is_mounted:
            return
        shown = self.shown_functions()
        lines: list[tuple[str, list[str], str, FunctionView | None]] = []
        for function in shown:
            look = "functions-table--alert" if function.alert else ""
            lines.append((function.name, _texts(function), look, function))
            if self.breakdown:
                for p in function.servers:
                    look = "functions-table--alert" if p.alert else "functions-table--part"
                    lines.append((function.name + SEP + p.server, _texts(p), look, None))
        trend = self._trend_width([texts for _, texts, _, _ in lines])
        rows: list[Row] = []
        for key, texts, look, view in lines:
            spark = sparkline(view.history, trend) if view is not None else ""
            style = self.get_component_rich_style(look, partial=True) if look else Style()
            rows.append((key, _cells([*texts, spark], style)))
        self.set_rows(rows)
        self._titles(shown)
        self.post_message(FunctionSelected(self.current_function))

    def _titles(self, shown: list[FunctionView]) -> None:
        total = len(self.snapshot.functions) if self.snapshot else 0
        title = f"functions {len(shown)}/{total}" if self.filter_text else f"functions {total}"
        if self.filter_text:
            title += f" · filter {self.filter_text!r}"
        alerts = sum(1 for f in shown if f.alert)
        alert = f" · ! {alerts} with jobs and no worker" if alerts else ""
        self.border_title = f"{title} · sort {self.sort_key}{alert}"

    def _trend_width(self, rows: list[list[str]]) -> int:
        # the sparkline takes the room the other columns leave, within limits
        used = 0
        for index, (_, label) in enumerate(COLUMNS[:-1]):
            used += max([len(label)] + [len(r[index]) for r in rows]) + 2
        room = self.size.width - used - 2 - 2  # trend padding, scrollbar
        return max(8, min(HISTORY, room))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(FunctionSelected(self.current_function))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value in SORT_KEYS:
            self.post_message(SortRequested(event.column_key.value))
