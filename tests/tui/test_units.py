"""The dashboard's pure parts: rates, aggregation, cells, plain text, grammar."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gear.protocol.admin_replies import (
    FunctionStatus,
    JobInfo,
    PerlJob,
    PriorityStatus,
    QueuedJob,
    ServerKind,
    WorkerDetail,
    WorkerInfo,
)
from gear.tui.aggregate import C_NOTE, build_snapshot
from gear.tui.cells import duration, rate, sparkline
from gear.tui.fake import demo_snapshot
from gear.tui.model import Quality, Rates
from gear.tui.plain import render
from gear.tui.poller import ServerReading
from gear.tui.rates import History, RateInput, ServerRates, counters_from_stats, estimate
from gear.tui.screens.maxqueue import parse_sizes
from gear.tui.widgets.functions_table import matches
from gear.tui.widgets.jobs_table import order_jobs


def worker(state: str, seconds: float, *functions: str, fd: int = 7) -> WorkerDetail:
    return WorkerDetail(
        fd=fd,
        address="127.0.0.1",
        client_id="-",
        state=state,
        state_seconds=seconds,
        handles=(),
        connected_seconds=100.0,
        functions=functions,
    )


# ------------------------------------------------------------------ rates --
def test_first_refresh_is_pending_and_no_stats_is_unavailable() -> None:
    assert estimate(None, RateInput(taken=1, counters=(5, 5))).total.quality is Quality.PENDING
    assert estimate(None, RateInput(taken=1)).total.quality is Quality.UNAVAILABLE


def test_seen_handles_give_exact_per_function_rates() -> None:
    prev = RateInput(taken=10, counters=(2, 0), handles={"H:1": "a", "H:2": "b"})
    cur = RateInput(taken=12, counters=(4, 1), handles={"H:2": "b", "H:3": "a", "H:4": "b"})
    found = estimate(prev, cur)
    assert found.total == Rates(1.0, 0.5, Quality.EXACT)
    assert found.of("a") == Rates(0.5, 0.5, Quality.EXACT)
    assert found.of("b") == Rates(0.5, 0.0, Quality.EXACT)
    assert found.of("idle") == Rates(0.0, 0.0, Quality.EXACT)


def test_unseen_jobs_go_to_the_only_function_whose_workers_were_active() -> None:
    workers = (worker("sleeping", 50, "idle"), worker("busy", 0.1, "hot", fd=8))
    prev = RateInput(taken=0, counters=(0, 0), handles={}, workers=workers)
    cur = RateInput(taken=2, counters=(10, 10), handles={}, workers=workers)
    found = estimate(prev, cur)
    assert found.of("hot") == Rates(5.0, 5.0, Quality.EXACT)
    assert found.of("idle") == Rates(0.0, 0.0, Quality.EXACT)


def test_unseen_jobs_with_several_active_functions_make_their_lower_bounds() -> None:
    workers = (
        worker("busy", 0.1, "a"),
        worker("awake", 0.5, "b", fd=8),
        worker("sleeping", 60, "c", fd=9),
    )
    prev = RateInput(taken=0, counters=(0, 0), handles={}, workers=workers)
    cur = RateInput(taken=1, counters=(3, 3), handles={"H:9": "a", "H:8": "c"}, workers=workers)
    found = estimate(prev, cur)
    assert found.of("a") == Rates(1.0, 0.0, Quality.AT_LEAST)
    assert found.of("b") == Rates(0.0, 0.0, Quality.AT_LEAST)
    assert found.of("c") == Rates(1.0, 0.0, Quality.EXACT)  # idle: nothing unseen is its
    assert found.of("d") == Rates(0.0, 0.0, Quality.EXACT)


def test_jobs_gone_without_any_active_worker_make_every_rate_a_lower_bound() -> None:
    workers = (worker("sleeping", 60, "a"),)
    prev = RateInput(taken=0, counters=(0, 0), handles={}, workers=workers)
    cur = RateInput(taken=1, counters=(2, 2), handles={}, workers=workers)
    assert estimate(prev, cur).of("a").quality is Quality.AT_LEAST


def test_a_restarted_server_makes_the_interval_pending() -> None:
    prev = RateInput(taken=0, counters=(100, 100))
    assert estimate(prev, RateInput(taken=1, counters=(1, 0))).total.quality is Quality.PENDING


def test_without_a_queue_listing_only_an_idle_server_has_per_function_rates() -> None:
    quiet = estimate(RateInput(taken=0, counters=(4, 4)), RateInput(taken=1, counters=(4, 4)))
    assert quiet.of("x") == Rates(0.0, 0.0, Quality.EXACT)
    busy = estimate(RateInput(taken=0, counters=(4, 4)), RateInput(taken=1, counters=(9, 4)))
    assert busy.of("x").quality is Quality.UNAVAILABLE


def test_counters_and_history() -> None:
    stats = {
        "jobs_submitted": "9",
        "jobs_completed": "3",
        "jobs_failed": "1",
        "jobs_exceptions": "1",
        "jobs_cancelled": "2",
    }
    assert counters_from_stats(stats) == (9, 7)
    assert counters_from_stats({}) is None
    history = History(length=3)
    for value in (1.0, 2.0, 3.0, 4.0):
        history.record({"f": Rates(0, value, Quality.EXACT), "g": Rates()})
    assert history.of("f") == (2.0, 3.0, 4.0)
    assert history.of("g") == ()
    history.forget(["g"])
    assert history.of("f") == ()


def test_adding_rates_keeps_the_weaker_quality() -> None:
    exact, bound = Rates(1, 1, Quality.EXACT), Rates(2, 2, Quality.AT_LEAST)
    assert exact + bound == Rates(3, 3, Quality.AT_LEAST)
    assert exact + Rates() == Rates(1, 1, Quality.AT_LEAST)
    assert Rates() + Rates(quality=Quality.PENDING) == Rates(quality=Quality.PENDING)


# -------------------------------------------------------------- aggregate --
def reading(address: str, kind: ServerKind, **fields: object) -> ServerReading:
    return ServerReading(address=address, up=True, taken=5.0, kind=kind, **fields)  # type: ignore[arg-type]


def test_functions_are_summed_over_servers_and_n_a_is_never_a_partial_sum() -> None:
    gear = reading(
        "g:1",
        ServerKind.GEAR,
        status=(FunctionStatus(function="f", total=5, running=1, workers=0),),
        priority=(PriorityStatus(function="f", high=1, normal=3, low=0, workers=0),),
        worker_details=(),
        workers=(WorkerInfo(fd=1, address="a", client_id="", functions=()),),
    )
    perl = reading(
        "p:1",
        ServerKind.PERL,
        status=(FunctionStatus(function="f", total=2, running=0, workers=1),),
        workers=(WorkerInfo(fd=3, address="b", client_id="w", functions=("f",)),),
        perl_jobs=(PerlJob(function="f", unique="u", worker="", listeners=1),),
    )
    down = ServerReading(address="d:1", up=False, taken=5.0, error="d:1: refused")
    snap = build_snapshot(
        [gear, perl, down], wall=0.0, selected="f", rates={}, down_since={"d:1": 2.0}
    )
    (f,) = snap.functions
    assert (f.queued, f.running, f.workers) == (6, 1, 1)
    assert f.high is None and f.sleeping is None  # Perl cannot tell them
    assert f.alert  # jobs wait on g:1, whose server has no worker for them
    assert [s.up for s in snap.servers] == [True, True, False]
    assert snap.servers[2].down_for == 3.0
    assert snap.servers[1].connections == 1 and snap.servers[1].uptime is None
    (job,) = snap.jobs
    assert (job.unique, job.handle, job.clients, job.age) == ("u", None, 1, None)
    assert [w.client_id for w in snap.workers] == ["w"]


def test_c_gearmand_jobs_are_listed_with_a_note_and_gear_jobs_in_full() -> None:
    c = reading(
        "c:1",
        ServerKind.GEARMAND,
        status=(FunctionStatus(function="f", total=2, running=1, workers=1),),
        show_jobs=(
            JobInfo(handle="H:c:1", retries=0, ignored=False, queued=True),
            JobInfo(handle="H:c:2", retries=0, ignored=True, queued=True),
        ),
    )
    queued = QueuedJob(
        handle="H:g:1",
        function="f",
        unique="u1",
        priority="high",
        state="queued",
        age=2.5,
        size=3,
        clients=0,
        background=True,
        when=0,
    )
    g = reading(
        "g:1",
        ServerKind.GEAR,
        status=(FunctionStatus(function="f", total=1, running=0, workers=0),),
        queue=(queued, replace(queued, handle="H:g:2", function="other")),
        queue_complete=True,
    )
    snap = build_snapshot([c, g], wall=0.0, selected="f", rates={}, down_since={})
    assert snap.jobs_note == C_NOTE
    assert [j.handle for j in snap.jobs] == ["H:c:1", "H:g:1"]
    assert snap.jobs[0].function is None and snap.jobs[1].age == 2.5


def test_server_rates_reach_the_views() -> None:
    g = reading(
        "g:1",
        ServerKind.GEAR,
        status=(FunctionStatus(function="f", total=0, running=0, workers=1),),
    )
    rates = {"g:1": ServerRates(Rates(4, 4, Quality.EXACT), {"f": Rates(4, 3, Quality.EXACT)})}
    snap = build_snapshot([g], wall=0.0, selected=None, rates=rates, down_since={})
    assert snap.servers[0].rates.inbound == 4
    assert snap.functions[0].rates == Rates(4, 3, Quality.EXACT)
    assert snap.rates == Rates(4, 4, Quality.EXACT)


# ---------------------------------------------------------- cells, plain --
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "n/a"),
        (0.25, "0.2s"),
        (42.9, "42s"),
        (303, "5m03s"),
        (7620, "2h07m"),
        (273600, "3d04h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_rate_and_sparkline_cells() -> None:
    assert rate(Rates(1.25, 20000, Quality.EXACT), outbound=False) == "1.2"
    assert rate(Rates(1.25, 20000, Quality.EXACT), outbound=True) == "20k"
    assert rate(Rates(3, 3, Quality.AT_LEAST), outbound=True) == "≥3.0"
    assert rate(Rates(quality=Quality.PENDING), outbound=True) == "…"
    assert rate(Rates(), outbound=True) == "n/a"
    assert sparkline((), 5) == "n/a"
    assert sparkline((0, 0), 5) == "▁▁"
    assert sparkline((0, 1, 2, 4, 8), 4) == "▂▃▅█"


def test_plain_render_of_the_demo() -> None:
    text = render(demo_snapshot())
    lines = text.splitlines()
    assert lines[0] == "gear top - 2024-06-01 12:00:00 - 2/3 servers up"
    (down,) = [line for line in lines if line.startswith("10.0.0.7:4730")]
    assert down.split() == ["10.0.0.7:4730", "down", "Connection", "refused"]
    (index,) = [line for line in lines if line.startswith("index_document")]
    assert index.split() == ["index_document", "12", "0", "11", "1", "0", "0", "0", "NO", "WORKER"]
    (nightly,) = [line for line in lines if line.startswith("reports.nightly")]
    assert nightly.split()[-1] == "n/a"  # sleeping workers: C gearmand cannot tell


# --------------------------------------------------------------- grammar --
@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        ("", ()),
        ("5", (5,)),
        ("1 2 3", (1, 2, 3)),
        ("1,2,3", (1, 2, 3)),
        ("1 2", None),
        ("x", None),
        ("-1", None),
    ],
)
def test_maxqueue_sizes(text: str, sizes: tuple[int, ...] | None) -> None:
    assert parse_sizes(text) == sizes


def test_filter_matching() -> None:
    assert matches("resize_image", "")
    assert matches("resize_image", "IMAGE")
    assert matches("resize_image", "res*e")
    assert not matches("resize_image", "thumb")
    assert not matches("resize_image", "image*x")


def test_jobs_order() -> None:
    jobs = demo_snapshot().jobs
    oldest = order_jobs(jobs, newest_first=False)
    assert [j.age for j in oldest[:2]] == [71.5, 64.0]
    assert oldest[-1].handle == "H:web2:18"  # unknown ages last, in handle order
    newest = order_jobs(jobs, newest_first=True)
    assert newest[0].age == 4.0


def test_the_plain_snapshot_path_loads_no_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gear.cli.top, gear.tui.fake; print(any(m == 'textual' for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"  # `gear top --once` starts no terminal UI


def test_function_counters_make_every_per_function_rate_exact() -> None:
    """gear's ``show functions``: exact rates even when many functions were busy."""
    prev = RateInput(taken=10, counters=(10, 4), function_counters={"a": (6, 2), "b": (4, 2)})
    cur = RateInput(
        taken=12,
        counters=(20, 14),
        function_counters={"a": (10, 8), "b": (8, 4), "new": (2, 2)},
    )
    found = estimate(prev, cur)
    assert found.of("a") == Rates(2.0, 3.0, Quality.EXACT)
    assert found.of("b") == Rates(2.0, 1.0, Quality.EXACT)
    assert found.of("new") == Rates(1.0, 1.0, Quality.EXACT), "a new function counts from 0"
    assert found.of("idle") == Rates(0.0, 0.0, Quality.EXACT)


def test_function_counters_that_went_back_wait_for_the_next_reading() -> None:
    """A function dropped and created again between two readings restarts its counters."""
    prev = RateInput(taken=1, counters=(9, 9), function_counters={"a": (9, 9)})
    cur = RateInput(taken=2, counters=(10, 10), function_counters={"a": (1, 1)})
    assert estimate(prev, cur).of("a").quality is Quality.PENDING
