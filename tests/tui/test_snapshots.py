"""What the dashboard looks like (pytest-textual-snapshot), over the demo FakeSource.

The demo has every kind of cell: a gear server, a C gearmand, a server that
is down, an alert row, lower bounds and n/a.  Clocks and sparklines are
frozen by the autouse fixtures and the fake's fixed data.  After a change
that is meant to alter the pictures, look at the report, then run with
``--snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.pilot import Pilot

from gear.tui.app import GearDashboard
from gear.tui.fake import GEARMAND, FakeSource, demo_snapshot

from .conftest import settle

SnapCompare = Callable[..., bool]


def app() -> GearDashboard:
    return GearDashboard(FakeSource(), interval=3600)


async def select_resize_image(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("down", "down")
    await settle(pilot)


async def ask_to_cancel(pilot: Pilot[Any]) -> None:
    await select_resize_image(pilot)
    await pilot.press("c")
    await pilot.pause()


async def filter_and_break_down(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("slash", *"re", "enter", "b", "s")
    await settle(pilot)


def test_main_screen_80x24(snap_compare: SnapCompare) -> None:
    """Every panel fits a classic 80x24 terminal."""
    assert snap_compare(app(), terminal_size=(80, 24), run_before=select_resize_image)


def test_main_screen_160x50(snap_compare: SnapCompare) -> None:
    """A big terminal gets more rows and wider sparklines."""
    assert snap_compare(app(), terminal_size=(160, 50), run_before=select_resize_image)


def test_cancel_confirmation_modal(snap_compare: SnapCompare) -> None:
    """Cancelling a job asks first, naming the job and its server."""
    assert snap_compare(app(), terminal_size=(80, 24), run_before=ask_to_cancel)


def test_filtered_breakdown_sorted_by_queued(snap_compare: SnapCompare) -> None:
    """A kept filter, per-server rows under each function, and the sort in the title."""
    assert snap_compare(app(), terminal_size=(120, 30), run_before=filter_and_break_down)


async def open_help(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await pilot.pause()


def test_main_screen_120x40(snap_compare: SnapCompare) -> None:
    """From 30 lines on, jobs stand over workers: every column shows, no row stays blank."""
    assert snap_compare(app(), terminal_size=(120, 40), run_before=select_resize_image)


def gearmand_alone() -> GearDashboard:
    demo = demo_snapshot()
    servers = tuple(s for s in demo.servers if s.address == GEARMAND)
    functions = tuple(
        replace(f, servers=tuple(p for p in f.servers if p.server == GEARMAND))
        for f in demo.functions
        if any(p.server == GEARMAND for p in f.servers)
    )
    jobs = tuple(j for j in demo.jobs if j.server == GEARMAND)
    workers = tuple(w for w in demo.workers if w.server == GEARMAND)
    alone = replace(demo, servers=servers, functions=functions, jobs=jobs, workers=workers)
    return GearDashboard(FakeSource(alone), interval=3600)


def test_c_gearmand_jobs_title_says_every_function(snap_compare: SnapCompare) -> None:
    """C gearmand cannot list jobs by function: the title says all its jobs are listed."""
    assert snap_compare(gearmand_alone(), terminal_size=(120, 40), run_before=settle)


def test_help_fits_80x24(snap_compare: SnapCompare) -> None:
    """The help lists every key and the legend without scrolling at 80x24."""
    assert snap_compare(app(), terminal_size=(80, 24), run_before=open_help)
