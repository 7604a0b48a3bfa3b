"""libgearman's ``gearman`` and ``gearadmin`` tools against gear serve (survey §4).

Workers run as background processes (``spawn``, killed at the end); a test
waits for a worker to register by polling ``status`` over a socket
(``wait_for_workers``), never by sleeping.  Every command has a timeout.
Each test uses its own function names on the module's gear server.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from gear import __version__
from tests.interop.conftest import Peer, Spawn
from tests.interop.wire import (
    AdminSocket,
    P,
    packet,
    packets,
    status_table,
    wait_for_admin,
    wait_for_workers,
)

pytestmark = pytest.mark.peer

TIMEOUT = 15


@pytest.fixture
def gearman(gearman_cli: str, module_gear: Peer) -> list[str]:
    """``gearman`` pointed at the module's gear server."""
    return [gearman_cli, "-h", "127.0.0.1", "-p", str(module_gear.port)]


@pytest.fixture
def gearadmin(gearadmin_cli: str, module_gear: Peer) -> list[str]:
    """``gearadmin`` pointed at the module's gear server."""
    return [gearadmin_cli, "-h", "127.0.0.1", "-p", str(module_gear.port)]


def run(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run a tool to completion with a timeout; stdout and stderr captured."""
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=TIMEOUT, check=False)


def admin(argv: list[str], *options: str) -> str:
    """gearadmin's stdout for ``options``; it must exit 0."""
    result = run([*argv, *options])
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_reverse_round_trip(gearman: list[str], spawn: Spawn, module_gear: Peer) -> None:
    """`gearman -w -f reverse -- rev` serves `echo hello | gearman -f reverse` → olleh."""
    spawn(*gearman, "-w", "-f", "cli-reverse", "--", "rev")
    wait_for_workers(module_gear.port, "cli-reverse")
    result = run([*gearman, "-f", "cli-reverse"], stdin=b"hello\n")
    assert (result.returncode, result.stdout) == (0, b"olleh\n"), result.stderr
    # one job per line (-n): each line is reversed by its own job, output in order
    result = run([*gearman, "-n", "-f", "cli-reverse"], stdin=b"abc\nxyz\n")
    assert (result.returncode, result.stdout) == (0, b"cba\nzyx\n"), result.stderr


def test_worker_exits_after_count(gearman: list[str], spawn: Spawn, module_gear: Peer) -> None:
    """`gearman -w -c 1` (no command) prints one workload, completes it and exits 0."""
    worker = spawn(*gearman, "-w", "-c", "1", "-f", "cli-count")
    wait_for_workers(module_gear.port, "cli-count")
    result = run([*gearman, "-f", "cli-count", "ping"])
    assert (result.returncode, result.stdout) == (0, b""), result.stderr
    out, _ = worker.communicate(timeout=TIMEOUT)
    assert (worker.returncode, out) == (0, b"ping")
    final = wait_for_admin(
        module_gear.port, "status", lambda r: status_table(r)["cli-count"] == [0, 0, 0]
    )
    assert status_table(final)["cli-count"] == [0, 0, 0]


def test_failing_command_fails_the_job(gearman: list[str], spawn: Spawn, module_gear: Peer) -> None:
    """A worker command exiting non-zero: its output arrives as data, then WORK_FAIL (rc 1)."""
    spawn(*gearman, "-w", "-f", "cli-fail", "--", "sh", "-c", "echo partial; exit 3")
    wait_for_workers(module_gear.port, "cli-fail")
    result = run([*gearman, "-f", "cli-fail", "x"])
    assert (result.returncode, result.stdout) == (1, b"partial\n")
    assert b"Job failed" in result.stderr


def test_worker_streams_lines_as_work_data(
    gearman: list[str], spawn: Spawn, module_gear: Peer
) -> None:
    """`gearman -w -n` sends each output line as WORK_DATA, relayed to a raw client.

    libgearman 1.1.20's worker does not clear its buffer (survey §4.1, §7
    #23), so packet k holds lines 1..k; gear must relay exactly those bytes.
    """
    spawn(*gearman, "-w", "-n", "-f", "cli-lines", "--", "printf", "a\\nb\\nc\\n")
    wait_for_workers(module_gear.port, "cli-lines")
    with AdminSocket(module_gear.port) as conn:
        conn.sock.sendall(packet(P.SUBMIT_JOB, b"cli-lines", b"", b"input"))
        received = b""
        while not any(t == P.WORK_COMPLETE for t, _ in packets(received)):
            chunk = conn.sock.recv(65536)
            assert chunk, "server closed the client connection"
            received += chunk
    kinds = [(P(t).name, args[1:]) for t, args in packets(received)]
    assert kinds == [
        ("JOB_CREATED", []),
        ("WORK_DATA", [b"a\n"]),
        ("WORK_DATA", [b"a\nb\n"]),
        ("WORK_DATA", [b"a\nb\nc\n"]),
        ("WORK_COMPLETE", [b""]),
    ]


def test_background_priority_unique(
    gearman: list[str], gearadmin: list[str], module_gear: Peer
) -> None:
    """-b jobs at -I/normal/-L priority are counted; a repeated -u unique coalesces."""
    fn = "cli-bg"
    created = []
    for flags in (["-I", "-u", "cli-u1"], ["-L"], [], ["-u", "cli-u1"]):
        result = run([*gearman, "-v", "-b", "-f", fn, *flags, "payload"])
        assert result.returncode == 0, result.stderr
        created += re.findall(r"Task created: (\S+)", result.stdout.decode())
    assert len(created) == 4
    assert created[3] == created[0], "same unique, same job"
    assert len(set(created)) == 3
    status = status_table(admin(gearadmin, "--status"))
    assert status[fn] == [3, 0, 0]
    assert status_table(admin(gearadmin, "--priority-status"))[fn] == [1, 1, 1, 0]
    uniques = admin(gearadmin, "--show-unique-jobs").splitlines()
    assert "cli-u1" in uniques
    jobs = {line.split("\t")[0] for line in admin(gearadmin, "--show-jobs").splitlines()}
    assert set(created) <= jobs


def test_gearadmin_cancel_job(gearman: list[str], gearadmin: list[str], module_gear: Peer) -> None:
    """gearadmin --cancel-job removes a queued job; a second cancel reports an error."""
    result = run([*gearman, "-v", "-b", "-f", "cli-cancel", "doomed"])
    (handle,) = re.findall(r"Task created: (\S+)", result.stdout.decode())
    assert admin(gearadmin, "--cancel-job", handle).strip() == "OK"
    assert status_table(admin(gearadmin, "--status"))["cli-cancel"] == [0, 0, 0]
    assert handle not in admin(gearadmin, "--show-jobs")
    again = run([*gearadmin, "--cancel-job", handle])
    assert b"UNKNOWN_JOB" in again.stdout + again.stderr


def test_gearadmin_create_and_drop_function(gearadmin: list[str], module_gear: Peer) -> None:
    """--create-function makes an empty function; --drop-function removes it, once."""
    assert admin(gearadmin, "--create-function", "cli-made").strip() == "OK"
    assert status_table(admin(gearadmin, "--status"))["cli-made"] == [0, 0, 0]
    assert admin(gearadmin, "--drop-function", "cli-made").strip() == "OK"
    assert "cli-made" not in status_table(admin(gearadmin, "--status"))
    again = run([*gearadmin, "--drop-function", "cli-made"])
    assert b"function not found" in again.stdout + again.stderr


def test_gearadmin_workers(
    gearman: list[str], gearadmin: list[str], spawn: Spawn, module_gear: Peer
) -> None:
    """--workers lists a running `gearman -w` worker with its function."""
    spawn(*gearman, "-w", "-f", "cli-listed", "-f", "cli-listed2")
    wait_for_workers(module_gear.port, "cli-listed2")
    lines = admin(gearadmin, "--workers").splitlines()
    worker_lines = [line for line in lines if "cli-listed" in line]
    assert len(worker_lines) == 1
    assert re.fullmatch(r"\d+ 127\.0\.0\.1 \S+ : (cli-listed2? ?){2}", worker_lines[0])
    assert set(worker_lines[0].split(" : ")[1].split()) == {"cli-listed", "cli-listed2"}


def test_gearadmin_version_pid_verbose(gearadmin: list[str], module_gear: Peer) -> None:
    """--server-version, --getpid and --server-verbose print the values without OK."""
    assert admin(gearadmin, "--server-version").strip() == f"1.1.20-gear-{__version__}"
    assert admin(gearadmin, "--getpid").strip() == str(module_gear.pid)
    assert admin(gearadmin, "--server-verbose").strip() == "WARNING"
