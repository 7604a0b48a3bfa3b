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


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a network namespace"
    for tool in ("unshare", "tc", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up && tc qdisc add dev lo root blackhole"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"no network namespace with a blackhole qdisc here: {probe.stderr.decode()}"
    return None


def test_a_peer_vanishing_without_fin_is_reaped_by_keepalive() -> None:
    reason = _can_unshare()
    if reason is not None:
        pytest.skip(reason)
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.hardening.stalled_peer"],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert status_table(result["running"])["stalled"] == [1, 1, 1]
    assert "connection from 127.0.0.1 lost" in result["lost"]
    assert "timed out" in result["lost"].lower()
    assert result["reaped_after"] < 20
    assert status_table(result["after"])["stalled"] == [1, 0, 0]  # queued again, no worker


def _can_mount() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare for a private tmpfs"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"mounting a tmpfs is not permitted here: {probe.stderr.decode().strip()}"
    return None


def test_sqlite_disk_full_then_read_only_then_back() -> None:
    reason = _can_mount()
    if reason is not None:
        pytest.skip(reason)
    done = subprocess.run(
        ["unshare", "-m", sys.executable, "-m", "tests.hardening.store_outage"],
        capture_output=True,
        timeout=TIMEOUT * 2,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert result["acked_before_full"] > 0
    assert result["refusal_when_full"].startswith("QUEUE_ERROR Could not store the job")
    assert "full" in result["refusal_when_full"]
    assert result["acked_after_growing"] == 50 and result["refusal_after_growing"] == ""
    assert result["read_only_start"].startswith("StoreError: cannot open the sqlite store")
    assert result["replayed"] == result["acked"] == result["ran"]
    assert result["lost"] == 0 and result["unexpected"] == 0
    assert b"works again after" in done.stderr and b"Traceback" not in done.stderr
