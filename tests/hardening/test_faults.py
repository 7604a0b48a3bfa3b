"""Faults (issue #14, scope 5): peers that die or vanish, and what the server does.

Each test's outcome is written up in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, start_gear_process
from tests.interop.wire import admin_query, status_table, wait_for_admin

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30


@pytest.fixture
def gear_server() -> Iterator[ServerProcess]:
    srv = start_gear_process("--log-level", "INFO")
    srv.drain_stderr()
    yield srv
    srv.stop()


def gear(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gear", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


def status_of(port: int, function: str) -> list[int]:
    return status_table(admin_query(port, "status")).get(function, [0, 0, 0])


def test_worker_killed_mid_job_the_job_runs_again(gear_server: ServerProcess) -> None:
    port = gear_server.port
    server = f"127.0.0.1:{port}"
    sub = gear("submit", "-S", server, "-b", "slow", "payload")
    sub.communicate(timeout=TIMEOUT)
    assert sub.returncode == 0
    hung = gear("work", "-S", server, "slow", "--", "sleep", "60")
    try:
        wait_for_admin(port, "status", lambda r: status_table(r).get("slow", [0, 0])[1] == 1)
        hung.send_signal(signal.SIGKILL)
        hung.communicate(timeout=TIMEOUT)
        reply = wait_for_admin(port, "status", lambda r: status_table(r)["slow"] == [1, 0, 0])
        assert status_table(reply)["slow"] == [1, 0, 0]  # queued again, nobody running it
    finally:
        hung.kill()
        hung.communicate()
    good = gear("work", "-S", server, "slow", "--count", "1", "--", "cat")
    good.communicate(timeout=TIMEOUT)
    assert good.returncode == 0
    assert wait_for_admin(port, "status", lambda r: status_table(r)["slow"][0] == 0)


def test_client_killed_while_waiting_drops_its_queued_job(gear_server: ServerProcess) -> None:
    port = gear_server.port
    waiting = gear("submit", "-S", f"127.0.0.1:{port}", "nobody", "data")
    try:
        wait_for_admin(port, "status", lambda r: status_table(r).get("nobody", [0])[0] == 1)
        waiting.send_signal(signal.SIGKILL)
        waiting.communicate(timeout=TIMEOUT)
        reply = wait_for_admin(port, "status", lambda r: status_table(r)["nobody"][0] == 0)
        assert status_table(reply)["nobody"] == [0, 0, 0]
    finally:
        waiting.kill()
        waiting.communicate()
    assert gear_server.proc.poll() is None


def in_namespace(flag: str, tools: tuple[str, ...], probe: str, module: str) -> dict[str, Any]:
    """Run ``python -m module`` under ``unshare flag``; its JSON line.

    Skips, saying why, when not root, a tool is missing, or ``probe`` (a
    shell line run in a namespace of the same kind) fails here.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root for a namespace of its own")
    for tool in ("unshare", *tools):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    tried = subprocess.run(["unshare", flag, "sh", "-c", probe], capture_output=True, check=False)
    if tried.returncode != 0:
        pytest.skip(f"not permitted here: {probe}: {tried.stderr.decode().strip()}")
    done = subprocess.run(
        ["unshare", flag, sys.executable, "-m", module],
        capture_output=True,
        timeout=TIMEOUT * 2,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    result["stderr"] = done.stderr.decode()
    return result


def test_a_peer_vanishing_without_fin_is_reaped_by_keepalive() -> None:
    result = in_namespace(
        "-n",
        ("ip", "tc"),
        "ip link set lo up && tc qdisc add dev lo root blackhole",
        "tests.hardening.stalled_peer",
    )
    assert status_table(result["running"])["stalled"] == [1, 1, 1]
    assert "connection from 127.0.0.1 lost" in result["lost"]
    assert "timed out" in result["lost"].lower()
    assert result["reaped_after"] < 20
    assert status_table(result["after"])["stalled"] == [1, 0, 0]  # queued again, no worker


def test_sqlite_disk_full_then_read_only_then_back() -> None:
    result = in_namespace(
        "-m", ("mount",), "mount -t tmpfs -o size=64k tmpfs /mnt", "tests.hardening.store_outage"
    )
    assert result["acked_before_full"] > 0
    assert result["refusal_when_full"].startswith("QUEUE_ERROR Could not store the job")
    assert "full" in result["refusal_when_full"]
    assert result["acked_after_growing"] == 50 and result["refusal_after_growing"] == ""
    assert result["read_only_start"].startswith("StoreError: cannot open the sqlite store")
    assert result["replayed"] == result["acked"] == result["ran"]
    assert result["lost"] == 0 and result["unexpected"] == 0
    assert "works again after" in result["stderr"]
