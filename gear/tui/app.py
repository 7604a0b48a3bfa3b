"""``GearDashboard``: the Textual app behind ``gear top``.

Strategy: the app is built on a ``StatsSource`` (the real admin clients or
a fake) and does the app's two jobs only: run the network in workers, and
pass results down.  A ``set_interval`` timer starts a refresh each tick
unless one is still running (a slow server must not starve the others);
`r`, or selecting another function, starts one at once and, being an
``exclusive`` worker, cancels the one in flight.  The worker posts
``StatsUpdated``; its handler hands the snapshot to the main screen (an
attribute, bound onward to every widget) and turns server state changes
into ``ServerLost``/``ServerBack`` notices.  Confirmed admin actions arrive
as messages from the screen and run in their own worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from gear.tui.messages import (
    ActionDone,
    CancelJobRequested,
    DropFunctionRequested,
    FunctionSelected,
    MaxQueueRequested,
    ServerBack,
    ServerLost,
    StatsUpdated,
)
from gear.tui.model import ActionResult, Snapshot
from gear.tui.screens.help import HelpScreen
from gear.tui.screens.main import MainScreen
from gear.tui.source import StatsSource

__all__ = ["GearDashboard"]


class GearDashboard(App[None]):
    """A live view of one or several Gearman job servers.

    Args:
        source: where snapshots come from and admin actions go.
        interval: seconds between refreshes.
    """

    CSS_PATH = Path(__file__).with_name("dashboard.tcss")
    TITLE = "gear top"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        # like every terminal tool (Textual's default only says "press ctrl+q")
        Binding("ctrl+c", "quit", show=False, priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh"),
    ]

    def __init__(self, source: StatsSource, *, interval: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        #: the function whose jobs are listed
        self.selected: str | None = None
        #: the latest snapshot
        self.snapshot: Snapshot | None = None
        self.paused = False
        self._timer: Timer | None = None
        self._poll_worker: Worker[None] | None = None
        self._main: MainScreen | None = None

    @property
    def main(self) -> MainScreen:
        """The main screen (under any modal)."""
        assert self._main is not None, "the app is not mounted"
        return self._main

    def on_mount(self) -> None:
        # kept by reference: a refresh that ends while the app shuts down
        # still finds it (the screen stack is already gone by then)
        self._main = MainScreen()
        self._main.interval = self.interval
        self.push_screen(self._main)
        self._timer = self.set_interval(self.interval, self._tick)
        self.action_refresh_now()

    async def on_unmount(self) -> None:
        await self.source.close()

    # ---------------------------------------------------------- polling --
    def _tick(self) -> None:
        if self._poll_worker is None or self._poll_worker.state not in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        ):
            self._poll_worker = self.poll()

    def action_refresh_now(self) -> None:
        """Refresh now, dropping a refresh in flight."""
        self._poll_worker = self.poll()

    @work(exclusive=True, group="poll")
    async def poll(self) -> None:
        """Read every server once (a Textual worker: the network stays off the UI)."""
        snapshot = await self.source.poll(self.selected)
        self.post_message(StatsUpdated(snapshot))

    def on_stats_updated(self, message: StatsUpdated) -> None:
        before = {s.address: s.up for s in self.snapshot.servers} if self.snapshot else {}
        self.snapshot = message.snapshot
        for server in message.snapshot.servers:
            if before.get(server.address) and not server.up:
                self.post_message(ServerLost(server.address, server.error))
            elif before.get(server.address) is False and server.up:
                self.post_message(ServerBack(server.address))
        self.main.snapshot = message.snapshot

    def on_server_lost(self, message: ServerLost) -> None:
        reason = message.error.removeprefix(f"{message.address}: ") or "unreachable"
        self.notify(f"{message.address} is down: {reason}", severity="error")

    def on_server_back(self, message: ServerBack) -> None:
        self.notify(f"{message.address} is back")

    def on_function_selected(self, message: FunctionSelected) -> None:
        if message.function == self.selected:
            return
        self.selected = message.function
        self.action_refresh_now()  # its jobs are wanted now, paused or not

    def action_toggle_pause(self) -> None:
        """Stop or resume the periodic refresh (`r` still refreshes)."""
        self.paused = not self.paused
        if self._timer is not None:
            if self.paused:
                self._timer.pause()
            else:
                self._timer.resume()
        self.main.paused = self.paused

    def action_help(self) -> None:
        """Show the keys and the legend."""
        self.push_screen(HelpScreen(self.BINDINGS, MainScreen.BINDINGS))

    # ---------------------------------------------------------- actions --
    def on_cancel_job_requested(self, message: CancelJobRequested) -> None:
        self.send_action(
            f"cancel job {message.handle}",
            lambda: self.source.cancel_job(message.server, message.handle),
        )

    def on_drop_function_requested(self, message: DropFunctionRequested) -> None:
        self.send_action(
            f"drop function {message.function}",
            lambda: self.source.drop_function(message.function),
        )

    def on_max_queue_requested(self, message: MaxQueueRequested) -> None:
        sizes = " ".join(map(str, message.sizes)) or "unlimited"
        self.send_action(
            f"maxqueue {message.function} {sizes}",
            lambda: self.source.set_maxqueue(message.function, message.sizes),
        )

    @work(group="action")
    async def send_action(
        self, label: str, call: Callable[[], Awaitable[tuple[ActionResult, ...]]]
    ) -> None:
        """Send one admin action (a worker) and report what the servers said."""
        self.post_message(ActionDone(label, await call()))

    def on_action_done(self, message: ActionDone) -> None:
        for result in message.results:
            where = f" on {result.server}" if result.server else ""
            if result.ok:
                self.notify(f"{message.label}{where}: OK")
            else:
                self.notify(f"{message.label}{where}: {result.message}", severity="error")
        self.action_refresh_now()
