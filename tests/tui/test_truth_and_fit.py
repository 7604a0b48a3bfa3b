"""What the dashboard says is true, fits 120x40, and quits as terminal tools do.

The C gearmand case runs against a real gearmand (its ``show jobs`` names no
function); the rest drives the app over a ``FakeSource`` with Pilot.
"""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Label

from gear.testing import RawConnection
from gear.tui.app import GearDashboard
from gear.tui.fake import DOWN, GEAR, GEARMAND, FakeSource, demo_snapshot
from gear.tui.model import ServerView, Snapshot
from gear.tui.plain import render
from gear.tui.screens.confirm import ConfirmScreen
from gear.tui.source import AdminClientSource
from gear.tui.widgets.functions_table import FunctionsTable
from gear.tui.widgets.jobs_table import JobsTable
from gear.tui.widgets.status_bar import summary
from gear.tui.widgets.workers_table import WorkersTable

from ..conftest import running_c_gearmand
from .conftest import refresh, settle
from .test_live import submit_background


def cells(table: JobsTable, column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_c_gearmand_jobs_panel_says_it_lists_every_function() -> None:
    with running_c_gearmand() as gearmand:
        client = await RawConnection.open(gearmand.port)
        await submit_background(client, b"slow", b"s1")
        await submit_background(client, b"slow", b"s2")
        await submit_background(client, b"failer", b"f1")
        app = GearDashboard(AdminClientSource([gearmand.address]), interval=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.selected == "failer"  # the first function
            jobs = app.main.query_one(JobsTable)
            assert jobs.row_count == 3  # its one job and slow's two: gearmand cannot tell
            title = str(jobs.border_title)
            assert "jobs of failer" not in title
            assert f"all 3 jobs of {gearmand.address}, any function" in title, title
            assert "gearmand names no job's function" in title, title
            assert cells(jobs, 1) == ["n/a"] * 3  # JOB_QUEUED is no state (set for bg jobs)
        await client.close()


async def test_mixed_servers_title_both_kinds_of_rows() -> None:
    app = GearDashboard(FakeSource(), interval=3600)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")  # resize_image
        await settle(pilot)
        title = str(app.main.query_one(JobsTable).border_title)
        assert title.startswith(f"jobs of resize_image 10 · all 2 jobs of {GEARMAND}"), title


async def test_ctrl_c_quits_and_home_end_go_to_the_first_and_last_row() -> None:
    source = FakeSource()
    app = GearDashboard(source, interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.main.query_one(FunctionsTable)
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.return_code == 0
        assert not any("quit" in n.message for n in app._notifications)


async def test_at_120x40_nothing_is_cut_and_no_rows_stay_blank() -> None:
    app = GearDashboard(FakeSource(), interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        functions = app.main.query_one(FunctionsTable)
        assert functions.size.height <= functions.row_count + 2  # header and border
        for panel in (app.main.query_one(JobsTable), app.main.query_one(WorkersTable)):
            assert panel.virtual_size.width <= panel.scrollable_content_region.width, panel.id


def gearmand_only(snapshot: Snapshot) -> Snapshot:
    (server,) = [s for s in snapshot.servers if s.address == GEARMAND]
    return replace(snapshot, servers=(server,), functions=snapshot.functions[-1:])


def test_status_line_without_known_rates_says_so_once() -> None:
    line, _ = summary(gearmand_only(demo_snapshot()), paused=False, interval=1)
    assert "n/a/s" not in line.plain
    assert line.plain.endswith("jobs/s n/a")
    known, _ = summary(demo_snapshot(), paused=False, interval=1)
    assert known.plain.endswith("≥43.5/s in ≥40.0/s out")  # gearmand's are not known


async def test_a_down_server_is_named_once_in_the_toast() -> None:
    source = FakeSource()
    app = GearDashboard(source, interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        lost = ServerView(address=GEAR, up=False, error=f"{GEAR}: Connection refused")
        servers = tuple(lost if s.address == GEAR else s for s in source.snapshot.servers)
        source.snapshot = replace(source.snapshot, servers=servers)
        await refresh(pilot)
        assert [n.message for n in app._notifications] == [f"{GEAR} is down: Connection refused"]


def test_once_puts_the_down_reason_under_its_own_header() -> None:
    lines = render(demo_snapshot()).splitlines()
    header = lines[1]
    (down,) = [line for line in lines if line.startswith(DOWN)]
    assert down.split()[:2] == [DOWN, "down"]
    assert down.index("Connection refused") == header.index("ERROR")
    assert header.split()[2] == "KIND" and down[header.index("KIND")] == " "


async def test_drop_dialog_names_what_blocks_a_drop_and_confirms_say_y() -> None:
    app = GearDashboard(FakeSource(), interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")  # resize_image: on gear and C gearmand
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        question = dialog.question
        assert "gear refuses while the function has workers or queued jobs" in question
        assert "C gearmand refuses while it has workers or running jobs" in question
        assert "throws its queued jobs away" in question
        assert str(dialog.query_one("#hint", Label).render()) == "y: Drop · n or Esc: No"
