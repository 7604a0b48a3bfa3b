"""The dashboard driven by keys and the mouse, over a FakeSource."""

from __future__ import annotations

import asyncio

from textual.message import Message

from gear.tui.app import GearDashboard
from gear.tui.fake import GEAR, FakeSource
from gear.tui.messages import ActionDone, StatsUpdated
from gear.tui.model import Snapshot
from gear.tui.screens.confirm import ConfirmScreen
from gear.tui.screens.help import HelpScreen
from gear.tui.screens.main import MainScreen
from gear.tui.screens.maxqueue import MaxQueueScreen
from gear.tui.widgets.filter_bar import FilterBar
from gear.tui.widgets.functions_table import FunctionsTable
from gear.tui.widgets.jobs_table import JobsTable
from gear.tui.widgets.servers_panel import ServersPanel
from gear.tui.widgets.status_bar import StatusBar
from gear.tui.widgets.workers_table import WorkersTable

from .conftest import refresh, settle


def names(app: GearDashboard) -> list[str | None]:
    table = app.main.query_one(FunctionsTable)
    return [key.value for key in table.rows]


def make() -> tuple[GearDashboard, FakeSource]:
    source = FakeSource()
    return GearDashboard(source, interval=3600), source


async def test_first_refresh_fills_every_panel() -> None:
    app, source = make()
    messages: list[Message] = []
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await settle(pilot)
        assert any(isinstance(m, StatsUpdated) for m in messages)
        assert names(app)[0] == "index_document"
        assert app.main.query_one("#servers", ServersPanel).row_count == 3
        assert app.main.query_one("#workers", WorkersTable).row_count == 8
        assert ("poll", None) in source.calls
        assert ("poll", "index_document") in source.calls  # selecting fetched its jobs


async def test_arrows_select_a_function_and_its_jobs_are_listed() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        assert app.selected == "resize_image"
        jobs = app.main.query_one(JobsTable)
        assert jobs.row_count == 12  # 10 of gear, 2 of C gearmand (no function told)
        assert "jobs of resize_image 10 · all 2 jobs of 10.0.0.6:4730" in str(jobs.border_title)
        assert "names no job's function" in str(jobs.border_title)


async def test_s_cycles_the_sort_and_a_header_click_sorts_too() -> None:
    app, _ = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert app.main.sort_key == "queued"
        assert names(app)[:3] == ["resize_image", "index_document", "thumbnail"]
        await pilot.press("s", "s")
        await pilot.pause()
        assert app.main.sort_key == "workers"
        assert names(app)[0] == "resize_image"
        table = app.main.query_one(FunctionsTable)
        assert await pilot.click(FunctionsTable, offset=(3, 1))  # the "function" header
        await pilot.pause()
        assert app.main.sort_key == "name"
        assert names(app) == sorted(names(app))  # type: ignore[type-var]
        assert "sort name" in str(table.border_title)


async def test_slash_filters_and_escape_clears() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        bar = app.main.query_one(FilterBar)
        assert bar.has_focus and bar.has_class("-open")
        await pilot.press(*"im")
        await pilot.pause()
        assert names(app) == ["resize_image"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.query_one(FunctionsTable).has_focus
        assert bar.has_class("-open")  # a kept filter stays visible
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert len(names(app)) == 5
        assert not bar.has_class("-open")


async def test_glob_filter_and_breakdown_rows() -> None:
    app, _ = make()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"re*", "enter", "b")
        await pilot.pause()
        assert names(app) == [
            "reports.nightly",
            "reports.nightly\t10.0.0.6:4730",
            "resize_image",
            "resize_image\t10.0.0.5:4730",
            "resize_image\t10.0.0.6:4730",
        ]


async def test_p_pauses_r_still_refreshes() -> None:
    app, source = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert app.paused and app.main.paused
        status = app.main.query_one(StatusBar)
        assert "PAUSED" in str(status.render().columns[1]._cells[0])
        polls = len(source.calls)
        await refresh(pilot)
        assert len(source.calls) == polls + 1
        await pilot.press("p")
        assert not app.paused


async def test_help_opens_and_closes() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert any("Cancel" in line for line in app.screen.keys)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_q_quits_and_closes_the_source() -> None:
    app, source = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert source.closed


async def test_cancel_asks_first_and_no_changes_nothing() -> None:
    app, source = make()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        jobs = app.main.query_one(JobsTable)
        assert next(iter(jobs.rows)).value == "10.0.0.5:4730\tH:web1-4f2a:1009"  # oldest first
        job = jobs.selected_job
        assert job is not None
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Cancel job {job.handle} " in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert not [c for c in source.calls if c[0] == "cancel_job"]


async def test_cancel_confirmed_with_the_mouse() -> None:
    app, source = make()
    messages: list[Message] = []
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        jobs = app.main.query_one(JobsTable)
        before = jobs.selected_job
        await pilot.click(JobsTable, offset=(2, 3))  # the second row on screen
        await pilot.pause()
        clicked = jobs.selected_job
        assert clicked is not None and clicked != before
        await pilot.press("c")
        await pilot.pause()
        await pilot.click("#yes")
        await settle(pilot)
        assert ("cancel_job", GEAR, clicked.handle) in source.calls
        done = [m for m in messages if isinstance(m, ActionDone)]
        assert done and done[0].results[0].ok


async def test_drop_and_maxqueue_go_through_their_modals() -> None:
    app, source = make()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert ("drop_function", "index_document") in source.calls
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MaxQueueScreen)
        await pilot.press("1", "space", "2")  # two sizes: not valid
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MaxQueueScreen)
        await pilot.press("space", "3", "enter")
        await settle(pilot)
        assert ("set_maxqueue", "index_document", (1, 2, 3)) in source.calls
        await pilot.press("m", "escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_failed_action_is_reported() -> None:
    source = FakeSource(ok=False)
    app = GearDashboard(source, interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        await pilot.press("c", "y")
        await settle(pilot)
        assert any("ERR UNKNOWN_JOB" in n.message for n in app._notifications)


async def test_cancel_without_a_job_warns_and_o_flips_the_order() -> None:
    app, _ = make()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("c")  # index_document has no listed job
        await pilot.pause()
        assert app.screen is app.main
        assert any("No job selected" in n.message for n in app._notifications)
        await pilot.press("down", "down")
        await settle(pilot)
        await pilot.press("o")
        await pilot.pause()
        keys = [key.value for key in app.main.query_one(JobsTable).rows]
        assert keys[0] == "10.0.0.5:4730\tH:web1-4f2a:1000"  # the newest
        assert keys[-1] == "10.0.0.6:4730\tH:web2:17"  # C gearmand: no age, handle order


class CountingSource(FakeSource):
    """A FakeSource that says when it has been polled ``target`` times."""

    def __init__(self, target: int) -> None:
        super().__init__()
        self.target = target
        self.reached = asyncio.Event()

    async def poll(self, selected: str | None) -> Snapshot:
        snapshot = await super().poll(selected)
        if sum(1 for call in self.calls if call[0] == "poll") >= self.target:
            self.reached.set()
        return snapshot


async def test_the_timer_refreshes_and_pause_stops_it() -> None:
    source = CountingSource(target=5)
    app = GearDashboard(source, interval=0.02)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(source.reached.wait(), 10)
        await pilot.press("p")
        await settle(pilot)
        polls = len(source.calls)
        for _ in range(5):  # several timer periods pass while paused
            await pilot.pause(0.02)
        assert len(source.calls) == polls
