"""``gear top --once`` end to end: real server processes, the command as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from gear.client.servers import SERVER_ENV_VARS

from ..conftest import ServerProcess, running_c_gearmand
from .wire import Wire


def gear_top(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``gear top ARGS`` with stdout a pipe (not a terminal)."""
    environ = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    return subprocess.run(
        [sys.executable, "-m", "gear", "top", *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={**environ, **(env or {})},
    )


def rows(output: str) -> dict[str, list[str]]:
    """The function table's rows by name."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FUNCTION"))
    return {line.split()[0]: line.split()[1:] for line in lines[start + 1 :] if line.strip()}


def load(port: int) -> list[Wire]:
    """Three queued jobs (one without a worker anywhere) and two sleeping workers."""
    client = Wire(port)
    client.submit_background("resize", "a")
    client.submit_background("resize", "b")
    client.submit_background("orphan", "c")
    sleepers = [Wire(port), Wire(port)]
    for sleeper in sleepers:
        sleeper.sleep_for("mail")
    client.admin("status")
    return [client, *sleepers]


def test_once_against_gear_serve_with_queued_jobs_and_sleeping_workers(
    gear_process: ServerProcess,
) -> None:
    conns = load(gear_process.port)
    done = gear_top("--once", "-s", gear_process.address)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert f"{gear_process.address}  up     gear" in done.stdout
    table = rows(done.stdout)
    # QUEUED HIGH NORMAL LOW RUNNING WORKERS SLEEPING [ALERT]
    assert table["resize"] == ["2", "0", "2", "0", "0", "0", "0", "NO", "WORKER"]
    assert table["orphan"] == ["1", "0", "1", "0", "0", "0", "0", "NO", "WORKER"]
    assert table["mail"] == ["0", "0", "0", "0", "0", "2", "2"]
    for conn in conns:
        conn.close()


def test_once_against_c_gearmand_shows_what_it_cannot_tell_as_n_a() -> None:
    with running_c_gearmand() as server:
        conns = load(server.port)
        done = gear_top("-s", server.address)  # stdout is not a TTY: one snapshot
        assert done.returncode == 0, done.stderr
        assert f"{server.address}  up     gearmand  1.1.20" in done.stdout
        table = rows(done.stdout)
        assert table["resize"] == ["2", "0", "2", "0", "0", "0", "n/a", "NO", "WORKER"]
        assert table["mail"] == ["0", "0", "0", "0", "0", "2", "n/a"]
        for conn in conns:
            conn.close()


def test_unreachable_servers_are_reported_without_a_traceback(
    gear_process: ServerProcess,
) -> None:
    done = gear_top("--once", "-s", "127.0.0.1:1")
    assert done.returncode == 3
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout.splitlines()[2].split() == ["127.0.0.1:1", "down", "Connection", "refused"]
    mixed = gear_top("--once", "-s", f"{gear_process.address},127.0.0.1:1")
    assert mixed.returncode == 0
    assert "1/2 servers up" in mixed.stdout


def test_bad_server_address_is_a_usage_error() -> None:
    done = gear_top("--once", "-s", "host:99999")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "port" in done.stderr


def test_servers_come_from_gear_servers_when_not_given() -> None:
    done = gear_top(env={"GEAR_SERVERS": "127.0.0.1:1,127.0.0.1:2"})
    assert "0/2 servers up" in done.stdout
    assert done.returncode == 3
