"""The main screen: status line, servers, functions, jobs and workers.

Strategy: the screen owns the view state (filter, sort, jobs order,
per-server breakdown) and the latest ``snapshot`` as reactives, and binds
them down to the widgets with ``data_bind``; it never touches the network.
Keys that change a server (`c`, `d`, `m`) open a modal first and, once the
user confirmed, post a request message up to the app, which runs it.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input

from gear.tui.messages import (
    CancelJobRequested,
    DropFunctionRequested,
    FilterChanged,
    MaxQueueRequested,
    SortRequested,
)
from gear.tui.model import CAPABILITIES, FunctionView, JobView, ServerKind, Snapshot
from gear.tui.screens.confirm import ConfirmScreen
from gear.tui.screens.maxqueue import MaxQueueScreen
from gear.tui.widgets.filter_bar import FilterBar
from gear.tui.widgets.functions_table import SORT_KEYS, FunctionsTable
from gear.tui.widgets.jobs_table import JobsTable
from gear.tui.widgets.servers_panel import ServersPanel
from gear.tui.widgets.status_bar import StatusBar
from gear.tui.widgets.workers_table import WorkersTable

__all__ = ["MainScreen"]

#: screen heights from which a class applies: "-tall" stacks jobs over workers
BREAKPOINTS = ((0, "-short"), (30, "-tall"))


class MainScreen(Screen[None]):
    """Everything at once."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("c", "cancel_job", "Cancel"),
        Binding("d", "drop_function", "Drop"),
        Binding("m", "maxqueue", "Maxq"),
        Binding("o", "order", "Jobs newest/oldest first", show=False),
        Binding("b", "breakdown", "Per-server rows", show=False),
    ]
    AUTO_FOCUS = "#functions"

    snapshot: reactive[Snapshot | None] = reactive(None)
    paused: reactive[bool] = reactive(False)
    interval: reactive[float] = reactive(1.0)
    filter_text: reactive[str] = reactive("")
    sort_key: reactive[str] = reactive("name")
    newest_first: reactive[bool] = reactive(False)
    breakdown: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        #: from 30 lines on, jobs and workers stand one above the other (dashboard.tcss)
        self.VERTICAL_BREAKPOINTS = list(BREAKPOINTS)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status").data_bind(
            MainScreen.snapshot, MainScreen.paused, MainScreen.interval
        )
        yield FilterBar(id="filter")
        yield ServersPanel(id="servers").data_bind(MainScreen.snapshot)
        yield FunctionsTable(id="functions").data_bind(
            MainScreen.snapshot, MainScreen.filter_text, MainScreen.sort_key, MainScreen.breakdown
        )
        with Container(id="details"):
            yield JobsTable(id="jobs").data_bind(MainScreen.snapshot, MainScreen.newest_first)
            yield WorkersTable(id="workers").data_bind(MainScreen.snapshot)
        yield Footer()

    # ------------------------------------------------------- view state --
    def action_filter(self) -> None:
        """Open the filter bar."""
        bar = self.query_one(FilterBar)
        bar.add_class("-open")
        bar.focus()

    def on_filter_changed(self, message: FilterChanged) -> None:
        self.filter_text = message.text

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not isinstance(event.input, FilterBar):
            return
        event.stop()
        if not event.value:
            event.input.remove_class("-open")
        self.query_one(FunctionsTable).focus()

    def action_sort(self) -> None:
        """Sort functions by the next column."""
        index = SORT_KEYS.index(self.sort_key) if self.sort_key in SORT_KEYS else -1
        self.sort_key = SORT_KEYS[(index + 1) % len(SORT_KEYS)]

    def on_sort_requested(self, message: SortRequested) -> None:
        self.sort_key = message.column

    def action_order(self) -> None:
        """List jobs newest first, or oldest first."""
        self.newest_first = not self.newest_first

    def action_breakdown(self) -> None:
        """Show or hide one row per server under each function."""
        self.breakdown = not self.breakdown

    # ---------------------------------------------------------- actions --
    def _server_kind_allows(self, address: str, what: str) -> bool:
        snap = self.snapshot
        server = next((s for s in snap.servers if s.address == address), None) if snap else None
        return server is not None and getattr(CAPABILITIES[server.kind], what)

    def action_cancel_job(self) -> None:
        """Cancel the job under the jobs cursor, after asking."""
        job = self.query_one(JobsTable).selected_job
        if job is None:
            self.notify("No job selected: pick a function, then a job", severity="warning")
            return
        if job.handle is None or not self._server_kind_allows(job.server, "cancel"):
            self.notify(f"{job.server} cannot cancel jobs", severity="warning")
            return
        question = f"Cancel job {job.handle} ({_describe(job)}) on {job.server}?"
        handle, server = job.handle, job.server

        def done(yes: bool | None) -> None:
            if yes:
                self.post_message(CancelJobRequested(server, handle))

        self.app.push_screen(ConfirmScreen(question, yes="Cancel job"), done)

    def action_drop_function(self) -> None:
        """Drop the selected function, after asking."""
        function = self.query_one(FunctionsTable).current_function
        view = self.snapshot.function(function) if self.snapshot else None
        if function is None or view is None:
            self.notify("No function selected", severity="warning")
            return
        where = ", ".join(p.server for p in view.servers)
        kinds = {s.kind for s in self.snapshot.servers} if self.snapshot else set()
        question = f"Drop function {function} on {where}?\n" + _drop_rules(view, kinds)

        def done(yes: bool | None) -> None:
            if yes:
                self.post_message(DropFunctionRequested(function))

        self.app.push_screen(ConfirmScreen(question, yes="Drop"), done)

    def action_maxqueue(self) -> None:
        """Set the selected function's queue limit."""
        function = self.query_one(FunctionsTable).current_function
        if function is None:
            self.notify("No function selected", severity="warning")
            return
        snap = self.snapshot
        up = snap.servers if snap else ()
        servers = sum(1 for s in up if s.up and CAPABILITIES[s.kind].maxqueue)
        if not servers:
            self.notify("No server here has maxqueue", severity="warning")
            return

        def done(sizes: tuple[int, ...] | None) -> None:
            if sizes is not None:
                self.post_message(MaxQueueRequested(function, sizes))

        self.app.push_screen(MaxQueueScreen(function, servers), done)


#: what makes each server kind refuse a drop, and what it throws away
DROP_RULES = {
    ServerKind.GEAR: "gear refuses while the function has workers or queued jobs.",
    ServerKind.GEARMAND: "C gearmand refuses while it has workers or running jobs, "
    "and throws its queued jobs away.",
}


def _drop_rules(view: FunctionView, kinds: set[ServerKind]) -> str:
    rules = [DROP_RULES[k] for k in DROP_RULES if k in kinds]
    return "\n".join(rules) or "Servers refuse while the function has workers."


def _describe(job: JobView) -> str:
    parts = [job.function or "function n/a", job.state or "state n/a"]
    if job.unique:
        parts.append(f"unique {job.unique}")
    return ", ".join(parts)
