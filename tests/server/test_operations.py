"""Running ``gear serve`` as a service: JSON logs, SIGHUP reopens the log, sd_notify (issue #15).

Real ``gear serve`` processes; readiness is the first line of output (or
systemd's READY=1 datagram, which is what this checks), and a log line is
waited for by reading the file until it appears, with a deadline.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gear.server import logs, systemd
from tests.conftest import start_gear_process


def wait_for_line(path: Path, text: str, limit: float = 15.0) -> list[str]:
    """The file's lines once one of them contains ``text``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if any(text in line for line in lines):
                return lines
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_json_log_lines_and_sighup_reopens_the_file(tmp_path: Path) -> None:
    log = tmp_path / "gear.log"
    srv = start_gear_process("--log-file", str(log), "--log-format", "json", "--log-level", "info")
    try:
        entries = [json.loads(line) for line in wait_for_line(log, "started (")]
        [started] = [e for e in entries if e["msg"].startswith("started (")]
        assert started["level"] == "INFO" and started["logger"] == "gear.server"
        assert started["msg"].startswith("started (") and started["ts"].endswith("Z")
        rotated = tmp_path / "gear.log.1"
        log.rename(rotated)  # what logrotate does before it signals the server
        os.kill(srv.proc.pid, signal.SIGHUP)
        entries = [json.loads(line) for line in wait_for_line(log, "SIGHUP")]
        [reopened] = [e for e in entries if "SIGHUP" in e["msg"]]
        assert reopened["msg"] == "SIGHUP: 1 log file(s) reopened"
        assert "SIGHUP" not in rotated.read_text()  # the old file got nothing more
        assert srv.proc.poll() is None  # SIGHUP did not stop it
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_json_formatter_keeps_tracebacks_on_one_line() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord("gear.x", logging.ERROR, __file__, 1, "failed %s", ("it",), None)
        record.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "failed it" and "ValueError: bad value" in entry["exc"]


def test_readiness_and_stopping_reach_notify_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(20)
        monkeypatch.setenv("NOTIFY_SOCKET", address)  # what systemd sets for Type=notify
        srv = start_gear_process()
        try:
            ready = listener.recv(4096).decode().splitlines()
            assert ready == ["READY=1", f"STATUS=listening on port {srv.port}"]
            srv.proc.send_signal(signal.SIGTERM)
            assert listener.recv(4096) == b"STOPPING=1"
        finally:
            srv.stop()


def test_notify_abstract_socket_and_no_systemd() -> None:
    name = f"gear-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        assert systemd.notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert listener.recv(100) == b"READY=1"
    assert not systemd.notify("READY=1", environ={})
    assert not systemd.notify("READY=1", environ={"NOTIFY_SOCKET": "/nonexistent/socket"})


def test_a_taken_metrics_port_is_one_line_and_nothing_listens() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["serve", "--port", "0", "--metrics", f"127.0.0.1:{port}"]
        done = subprocess.run(
            [sys.executable, "-m", "gear", *argv],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Error: cannot serve: ")
    assert "address already in use" in done.stderr
    assert done.stderr.count("\n") == 1
