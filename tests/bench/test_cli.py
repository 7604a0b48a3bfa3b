"""``gear bench`` as users run it: a subprocess against ``gear serve``.

Smoke tests only: tiny counts, sane fields, never a speed assertion.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ServerProcess, start_gear_process

TINY = ["-n", "200", "-c", "2", "-k", "2", "-w", "4", "-d", "2", "-t", "20", "--idle", "3"]


def gear_bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gear", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def json_lines(out: str) -> dict[str, dict[str, Any]]:
    objs = [json.loads(line) for line in out.splitlines()]
    return {o["scenario"]: o for o in objs}


def check_sane(d: dict[str, Any]) -> None:
    assert d["tool"] == "gear bench" and d["timed_out"] is False and "fail" not in d
    assert d["errors"] == d["unexpected"] == d["failed"] == 0
    phases = {
        "bg": ["submit", "drain"],
        "fg": ["rt"],
        "herd": ["rt"],
        "many": ["rt"],
        "echo": ["echo"],
    }
    for phase in phases[d["scenario"]]:
        assert d[f"{phase}_count"] == 200
        assert d[f"{phase}_rate"] > 0 and d[f"{phase}_s"] > 0
        assert d[f"{phase}_gen_cpu_pct"] >= 0
    lat = d["lat_us"]
    assert lat["n"] == 200
    assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


@pytest.fixture(scope="module")
def served() -> Iterator[ServerProcess]:
    srv = start_gear_process()
    yield srv
    srv.stop()


def test_spawn_runs_every_scenario_as_json() -> None:
    out = gear_bench("--spawn", "--json", *TINY)
    assert out.returncode == 0, out.stderr
    got = json_lines(out.stdout)
    assert list(got) == ["bg", "fg", "echo", "herd"]
    for d in got.values():
        check_sane(d)
        assert d["server"].startswith("127.0.0.1:")
    assert got["bg"]["created"] == got["bg"]["assigned"] == 200
    assert got["herd"]["idle"] == 3 and got["herd"]["noops_idle_per_job"] >= 0
    assert got["fg"]["rt_srv_cpu_pct"] >= 0  # --spawn samples the server's CPU


def test_server_option_prints_a_table(served: ServerProcess) -> None:
    out = gear_bench("-s", served.address, "fg", "bg", *TINY)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"gear bench: {served.address}, 2 clients x 4 in flight")
    assert lines[1].split()[:5] == ["scenario", "phase", "count", "seconds", "rate/s"]
    assert [line.split()[0] for line in lines[2:]] == ["fg", "bg", "drain"]
    assert lines[2].split()[1:3] == ["rt", "200"]


@pytest.fixture(scope="module")
def served2() -> Iterator[ServerProcess]:
    srv = start_gear_process()
    yield srv
    srv.stop()


def test_many_connections_scenario(served: ServerProcess) -> None:
    out = gear_bench("-s", served.address, "--json", "many", *TINY, "-c", "300", "-k", "20")
    assert out.returncode == 0, out.stderr
    d = json_lines(out.stdout)["many"]
    check_sane(d)
    assert (d["clients"], d["window"], d["workers"]) == (300, 4, 20)  # what was given wins


def test_several_servers_report_each_one(served: ServerProcess, served2: ServerProcess) -> None:
    args = ["-s", served.address, "-s", served2.address, "fg", "bg", *TINY]
    out = gear_bench("--json", *args)
    assert out.returncode == 0, out.stderr
    got = json_lines(out.stdout)
    for d in got.values():
        check_sane(d)
        assert d["servers"] == [served.address, served2.address]
    for key in ("rt_per_server", "submit_per_server", "drain_per_server"):
        rows = got["fg" if key.startswith("rt") else "bg"][key]
        assert [r["server"] for r in rows] == [served.address, served2.address]
        assert sum(r["count"] for r in rows) == 200
    table = gear_bench(*args).stdout.splitlines()
    assert table[0].startswith(f"gear bench: {served.address} + {served2.address}, 2 clients")
    assert [line.split()[0] for line in table[2:]] == [
        "fg",
        served.address,
        served2.address,
        "bg",
        served.address,
        served2.address,
        "drain",
        served.address,
        served2.address,
    ]


def test_processes_merge_into_one_result(served: ServerProcess) -> None:
    out = gear_bench("-s", served.address, "-P", "2", "--json", "fg", *TINY)
    assert out.returncode == 0, out.stderr
    d = json_lines(out.stdout)["fg"]
    check_sane(d)
    assert d["processes"] == 2 and d["completed"] == 200


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-c", "0"], "'--clients'"),
        (["--bogus"], "No such option"),
        (["nope"], "'nope' is not one of"),
        (["-s", "host:abc"], "port must be a number from 1 to 65535"),
        (["--spawn", "-s", "127.0.0.1:4730"], "exclude each other"),
        (["-t", "0"], "'--timeout'"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], words: str) -> None:
    out = gear_bench(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("Error: ")
    assert words in out.stderr


def test_unreachable_server_exits_3_with_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = gear_bench("-s", f"127.0.0.1:{port}", "fg")
    assert out.returncode == 3
    assert out.stdout == ""
    assert out.stderr == f"Error: cannot connect to 127.0.0.1:{port}: Connection refused\n"


def test_the_generator_never_imports_the_server() -> None:
    code = "import sys, gear.cli.bench; print(sorted(m for m in sys.modules if 'server' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "gear.server" not in out.stdout
