"""Fixtures of the dashboard tests: frozen clocks, no blinking, app helpers.

Snapshot tests must draw the same pixels on every machine: the status
line's time is the snapshot's (``FakeSource`` has a fixed one) shown in
UTC, the sparklines come from ``FakeSource``'s fixed series, and the
input cursor does not blink.  Pilot tests drive refreshes with `r` and
wait for the poll worker, so nothing depends on the timer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from gear.tui.app import GearDashboard


@pytest.fixture(autouse=True)
def utc_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Show times in UTC, whatever the machine's zone (frozen clock text)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text cursor that never blinks (harlequin's no_cursor_blink)."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture(autouse=True)
def frozen_sparklines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sparkline width capped at the demo series' length, whatever HISTORY becomes."""
    monkeypatch.setattr("gear.tui.widgets.functions_table.HISTORY", 60)


async def settle(pilot: Pilot[None]) -> None:
    """Wait for running workers (a refresh, an action) and their messages."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def refresh(pilot: Pilot[None]) -> None:
    """Press `r` and wait for the new snapshot to be drawn."""
    await pilot.press("r")
    await settle(pilot)


def dashboard(app: object) -> GearDashboard:
    assert isinstance(app, GearDashboard)
    return app
