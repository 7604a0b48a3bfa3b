"""The servers panel: one row per watched server, up or down.

Strategy: the screen binds ``snapshot`` down.  A server that is down keeps
its row, in the alert style, with why and for how long; it turns back to
normal when it answers again.  The version cell names the implementation
(gear, gearmand, perl) so the n/a cells elsewhere can be understood.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive

from gear.tui.cells import count, duration, latency, rate
from gear.tui.model import ServerKind, ServerView, Snapshot
from gear.tui.widgets.live_table import Cell, LiveTable

__all__ = ["ServersPanel", "describe_version"]

COLUMNS = (
    ("server", "server"),
    ("version", "version"),
    ("uptime", "uptime"),
    ("latency", "latency"),
    ("connections", "conns"),
    ("in", "in/s"),
    ("out", "out/s"),
    ("queued", "queued"),
    ("running", "run"),
    ("workers", "wrk"),
)


def describe_version(server: ServerView) -> str:
    """``gear 0.1.0``, ``gearmand 1.1.20+ds``, ``perl 1.130.1``."""
    version = server.version or ""
    if server.kind is ServerKind.GEAR and "-gear-" in version:
        version = version.split("-gear-", 1)[1]
    return f"{server.kind.value} {version}".strip()


class ServersPanel(LiveTable):
    """The watched servers."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"servers-panel--down"}

    snapshot: reactive[Snapshot | None] = reactive(None)

    def on_mount(self) -> None:
        self.set_columns(COLUMNS)
        self.refill()

    def watch_snapshot(self) -> None:
        self.refill()

    def refill(self) -> None:
        """Redraw every row from the snapshot."""
        if not self.is_mounted:
            return
        servers = self.snapshot.servers if self.snapshot else ()
        self.set_rows([(s.address, self._server_cells(s)) for s in servers])
        up = sum(1 for s in servers if s.up)
        self.border_title = f"servers {up}/{len(servers)} up"

    def _server_cells(self, s: ServerView) -> list[Cell]:
        if not s.up:
            style = self.get_component_rich_style("servers-panel--down", partial=True)
            reason = s.error.removeprefix(s.address + ": ") or "unreachable"
            since = duration(s.down_for) if s.down_for is not None else ""
            texts = [s.address, f"DOWN: {reason}", since] + [""] * (len(COLUMNS) - 3)
            return [Text(t, style=style) for t in texts]
        texts = [
            s.address,
            describe_version(s),
            duration(s.uptime),
            latency(s.latency),
            count(s.connections),
            rate(s.rates, outbound=False),
            rate(s.rates, outbound=True),
            count(s.queued),
            count(s.running),
            count(s.workers),
        ]
        return [
            Text(t, style=Style(), justify="left" if i < 2 else "right")
            for i, t in enumerate(texts)
        ]
