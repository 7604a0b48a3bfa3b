"""Merging parts and formatting results, from made-up figures."""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from gear.bench.config import BenchConfig
from gear.bench.report import format_header, format_table, notes, to_json
from gear.bench.results import COUNTERS, PartResult, ScenarioResult, merge_parts
from gear.bench.stats import Phase

S = 1_000_000_000


def counters(**kw: int) -> dict[str, int]:
    out = dict.fromkeys(COUNTERS, 0)
    out.update(kw)
    return out


def part(
    *phases: Phase,
    lat: Sequence[int] = (),
    c: dict[str, int] | None = None,
    failure: str = "",
    timed_out: bool = False,
    first_error: str = "",
) -> PartResult:
    return PartResult(
        phases=phases,
        counters=counters(**(c or {})),
        latencies=array("q", lat).tobytes(),
        failure=failure,
        timed_out=timed_out,
        first_error=first_error,
    )


def rt(count: int, t0: int = 0, t1: int = S) -> Phase:
    return Phase(name="rt", count=count, t0=t0, t1=t1, gen_cpu=0.2, srv_cpu=(1.0, 1.9))


def fg_result(**kw: Any) -> ScenarioResult:
    config = BenchConfig(scenario="herd", idle=10, count=4000, function="f")
    parts = [
        part(rt(1500), lat=[1000, 2000], c={"completed": 1500, "noops": 300, "noops_idle": 150}),
        part(rt(2500, 0, 2 * S), lat=[3000], c={"completed": 2500, "noops": 100, "noops_idle": 50}),
    ]
    result = merge_parts(config, parts)
    return replace(result, **kw)


def test_merge_parts_sums_and_pools() -> None:
    r = fg_result()
    assert r.counters["completed"] == 4000
    assert r.phases[0].count == 4000 and r.phases[0].rate == 2000
    assert r.latency is not None and r.latency["n"] == 3 and r.latency["max"] == 3.0
    assert r.jobs == 4000
    assert r.per_job("noops_idle") == pytest.approx(0.05)
    assert r.ok


def test_merge_parts_keeps_the_first_failure_and_any_timeout() -> None:
    config = BenchConfig(scenario="fg")
    r = merge_parts(
        config,
        [part(rt(1)), part(rt(1), failure="server closed", timed_out=True, first_error="E: x")],
    )
    assert (r.failure, r.timed_out, r.first_error, r.ok) == ("server closed", True, "E: x", False)
    with pytest.raises(ValueError):
        merge_parts(config, [])


def test_merge_parts_orders_phases_of_bg() -> None:
    submit = Phase(name="submit", count=10, t0=0, t1=S, gen_cpu=0.1)
    drain = Phase(name="drain", count=10, t0=S, t1=2 * S, gen_cpu=0.1)
    r = merge_parts(BenchConfig(scenario="bg"), [part(submit, drain, c={"assigned": 10})] * 2)
    assert [p.name for p in r.phases] == ["submit", "drain"]
    assert r.jobs == 20


def test_to_json_uses_gearbench_names() -> None:
    d = to_json(fg_result())
    json.dumps(d)
    assert d["tool"] == "gear bench" and d["scenario"] == "herd" and d["idle"] == 10
    assert d["rt_rate"] == 2000 and d["rt_count"] == 4000
    assert d["rt_srv_cpu_pct"] == 45.0
    assert set(d["lat_us"]) == {"n", "mean", "p50", "p90", "p99", "max"}
    assert d["noops_per_job"] == 0.1 and d["noops_idle_per_job"] == 0.05
    assert d["timed_out"] is False and "fail" not in d


def test_to_json_of_echo_has_no_worker_fields() -> None:
    echo = Phase(name="echo", count=100, t0=0, t1=S, gen_cpu=0.1)
    d = to_json(merge_parts(BenchConfig(scenario="echo"), [part(echo)]))
    assert d["echo_rate"] == 100
    assert "workers" not in d and "noops_per_job" not in d and "lat_us" not in d


def test_table_has_a_row_per_phase_and_aligned_columns() -> None:
    submit = Phase(name="submit", count=50_000, t0=0, t1=S // 2, gen_cpu=0.1)
    drain = Phase(name="drain", count=50_000, t0=S, t1=2 * S, gen_cpu=0.4)
    bg = merge_parts(BenchConfig(scenario="bg"), [part(submit, drain, c={"assigned": 50_000})])
    lines = format_table([bg, fg_result()]).splitlines()
    assert lines[0].split()[:5] == ["scenario", "phase", "count", "seconds", "rate/s"]
    assert lines[1].split()[:5] == ["bg", "submit", "50,000", "0.500", "100,000"]
    assert lines[2].split()[:4] == ["drain", "50,000", "1.000", "50,000"]
    assert lines[3].startswith("herd") and "idle NOOPs/job 0.05" in lines[3]
    assert lines[1].index("100,000") + len("100,000") == lines[0].index("rate/s") + len("rate/s")


def test_notes_name_failures() -> None:
    r = fg_result(timed_out=True, failure="server closed the connection", first_error="E: boom")
    r.counters["errors"] = 2
    text = notes(r)
    assert "errors 2" in text and "TIMED OUT" in text
    assert "FAILED: server closed" in text and "E: boom" in text


def test_table_of_a_scenario_without_phases() -> None:
    r = merge_parts(BenchConfig(scenario="fg"), [part(failure="x", timed_out=True)])
    (row,) = format_table([r]).splitlines()[1:]
    assert row.startswith("fg") and "FAILED: x" in row


def test_header_line() -> None:
    line = format_header(BenchConfig(port=4731, processes=2), "uvloop")
    assert line.startswith("gear bench: 127.0.0.1:4731, 4 clients x 16 in flight")
    assert line.endswith("2 processes (uvloop)")
    assert format_header(BenchConfig(), "asyncio", "spawned gear serve").startswith(
        "gear bench: spawned gear serve,"
    )


def two_server_result(lost: dict[str, int] | None = None) -> ScenarioResult:
    config = BenchConfig(scenario="fg", servers=(("127.0.0.1", 4731), ("127.0.0.1", 4732)))
    a = Phase(name="rt", count=300, t0=0, t1=S, gen_cpu=0.1, per_server=(100, 200))
    b = Phase(name="rt", count=30, t0=0, t1=S, gen_cpu=0.1, per_server=(10, 20))
    parts = [part(a, c={"completed": 300}), replace(part(b), lost=lost or {})]
    return merge_parts(config, parts)


def test_several_servers_get_a_row_each_and_their_rates_in_json() -> None:
    r = two_server_result()
    lines = format_table([r]).splitlines()
    assert lines[1].split()[:5] == ["fg", "rt", "330", "1.000", "330"]
    assert lines[2].split() == ["127.0.0.1:4731", "110", "110"]
    assert lines[3].split() == ["127.0.0.1:4732", "220", "220"]
    d = to_json(r)
    assert d["servers"] == ["127.0.0.1:4731", "127.0.0.1:4732"] and d["spread"] == "unique"
    assert d["rt_per_server"] == [
        {"server": "127.0.0.1:4731", "count": 110, "rate": 110},
        {"server": "127.0.0.1:4732", "count": 220, "rate": 220},
    ]
    assert r.ok and "lost" not in d


def test_a_lost_server_is_named_with_its_jobs_and_the_run_is_not_ok() -> None:
    r = two_server_result(lost={"127.0.0.1:4732": 16})
    assert not r.ok and r.lost == {"127.0.0.1:4732": 16}
    assert "LOST 127.0.0.1:4732 mid-run: 16 jobs lost with it" in notes(r)
    assert to_json(r)["lost"] == {"127.0.0.1:4732": 16}


def test_many_notes_its_size() -> None:
    many = merge_parts(BenchConfig().for_scenario("many"), [part(rt(10))])
    assert notes(many).startswith("1,000 clients x 1, 100 workers")
