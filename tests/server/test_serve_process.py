"""``gear serve`` as a real process: options, signals, shutdown (issue #2, scope 5 and 7)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gear.protocol import RES, Decoder, Packet, PacketType, request
from tests.conftest import ServerProcess, start_gear_process


def exchange(port: int, data: bytes, want: int = 1, host: str = "127.0.0.1") -> list[Packet]:
    """Send bytes, read ``want`` packets back."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.settimeout(5)
        sock.connect((host, port))
        sock.sendall(data)
        decoder = Decoder(expect=RES, allow_text=False)
        out: list[Packet] = []
        while len(out) < want:
            event = decoder.next_event()
            if isinstance(event, Packet):
                out.append(event)
                continue
            chunk = sock.recv(65536)
            assert chunk, "server closed the connection"
            decoder.feed(chunk)
        return out


def admin(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(line.encode() + b"\n")
        data = b""
        while not (data.endswith(b".\n") or data.endswith(b"\r\n") or data.startswith(b"OK ")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode()


def wait_exit(proc: subprocess.Popen[bytes], limit: float) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        code = proc.wait(limit)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


@pytest.fixture
def proc_factory():  # type: ignore[no-untyped-def]
    started: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        srv = start_gear_process(*args)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
        for stream in (srv.proc.stdout, srv.proc.stderr):
            if stream is not None:
                stream.close()


def test_port_zero_is_reported_on_the_first_line_and_serves(proc_factory) -> None:  # type: ignore[no-untyped-def]
    srv = proc_factory()
    assert srv.port > 0
    (echo,) = exchange(srv.port, request(PacketType.ECHO_REQ, b"hi"))
    assert echo == Packet(PacketType.ECHO_RES, (b"hi",))


def test_sigterm_exits_zero_within_a_second(proc_factory) -> None:  # type: ignore[no-untyped-def]
    srv = proc_factory()
    srv.proc.send_signal(signal.SIGTERM)
    code, secs = wait_exit(srv.proc, 5)
    assert code == 0 and secs < 1.0


def test_sigusr1_waits_for_the_running_job(proc_factory) -> None:  # type: ignore[no-untyped-def]
    srv = proc_factory()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as w:
        w.sendall(request(PacketType.CAN_DO, b"f"))
        exchange(srv.port, request(PacketType.SUBMIT_JOB_BG, b"f", b"", b"x"))
        w.sendall(request(PacketType.GRAB_JOB))
        decoder = Decoder(expect=RES, allow_text=False)
        decoder.feed(w.recv(65536))
        job = decoder.next_event()
        assert isinstance(job, Packet) and job.type == PacketType.JOB_ASSIGN
        srv.proc.send_signal(signal.SIGUSR1)
        code, _ = wait_exit(srv.proc, 0.3)
        assert code is None, "graceful shutdown must wait for the running job"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        w.sendall(request(PacketType.WORK_COMPLETE, job.args[0], b"done"))
        code, _ = wait_exit(srv.proc, 5)
        assert code == 0


def test_admin_shutdown_needs_allow_shutdown(proc_factory) -> None:  # type: ignore[no-untyped-def]
    srv = proc_factory()
    assert admin(srv.port, "shutdown").startswith("ERR SHUTDOWN_DISABLED")
    allowed = proc_factory("--allow-shutdown")
    assert admin(allowed.port, "shutdown") == "OK\r\n"
    code, _ = wait_exit(allowed.proc, 5)
    assert code == 0


def test_pid_file_and_log_file(proc_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid_file, log_file = tmp_path / "g.pid", tmp_path / "g.log"
    srv = proc_factory(
        "--pid-file", str(pid_file), "--log-file", str(log_file), "--log-level", "INFO"
    )
    assert int(pid_file.read_text()) == srv.proc.pid
    assert admin(srv.port, "getpid") == f"OK {srv.proc.pid}\n"
    assert admin(srv.port, "verbose") == "OK INFO\n"
    srv.proc.send_signal(signal.SIGTERM)
    assert wait_exit(srv.proc, 5)[0] == 0
    assert not pid_file.exists()
    assert "started" in log_file.read_text()


def test_listen_on_ipv6_loopback(proc_factory) -> None:  # type: ignore[no-untyped-def]
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    srv = proc_factory("--listen", "127.0.0.1", "--listen", "::1")
    for host in ("127.0.0.1", "::1"):
        (echo,) = exchange(srv.port, request(PacketType.ECHO_REQ, b"6"), host=host)
        assert echo.args == (b"6",)


def run_gear(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gear", *args], capture_output=True, text=True, timeout=10
    )


def test_bad_option_values_are_one_line_errors() -> None:
    result = run_gear("serve", "--job-retries", "-5")
    assert result.returncode == 2
    assert "--job-retries" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_a_one_line_error(proc_factory) -> None:  # type: ignore[no-untyped-def]
    srv = proc_factory()
    result = run_gear("serve", "--port", str(srv.port))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot serve") and "Traceback" not in result.stderr


def test_admin_extensions_show_workers_queue_and_stats(proc_factory) -> None:  # type: ignore[no-untyped-def]
    srv = proc_factory()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as w:
        w.sendall(request(PacketType.CAN_DO, b"f") + request(PacketType.PRE_SLEEP))
        (created,) = exchange(srv.port, request(PacketType.SUBMIT_JOB_BG, b"g", b"u 1", b"data"))
        workers = admin(srv.port, "show workers").splitlines()
        assert len(workers) == 2 and workers[-1] == "."
        fields = workers[0].split("\t")
        assert fields[3] == "sleeping" and fields[7] == "f"
        queue = admin(srv.port, "show queue g").splitlines()
        fields = queue[0].split("\t")
        assert fields[:5] == [created.args[0].decode(), "g", "u%201", "normal", "queued"]
        assert fields[6:9] == ["4", "0", "1"]
        stats = dict(line.split("\t") for line in admin(srv.port, "stats").splitlines()[:-1])
        assert stats["jobs_submitted"] == "1" and stats["jobs_queued"] == "1"
        assert stats["workers"] == "1" and int(stats["pid"]) == srv.proc.pid
    assert os.path.exists(f"/proc/{srv.proc.pid}")
