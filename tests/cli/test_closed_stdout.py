"""A reader that goes away (``| head -1``) and Ctrl-C, with real processes and pipes.

A closed stdout ends every command quietly with 141 (128 + SIGPIPE, what a
shell reports for ``seq`` in ``seq 300 | head -1``); Ctrl-C ends ``gear
submit`` with 130 and one line saying how far it got.  The reader is made
to go away at a known point: the test reads what it waits for, closes its
end of the pipe, and only then lets the command produce more.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess

import pytest

from tests.cli.conftest import GEAR, Peer, Processes, gear_env, run_gear

#: what a shell reports for a command that a closed pipe ended
EXIT_PIPE = 141

#: a worker command: echoes its input, or says so and hangs on "hang"
ECHO_OR_HANG = 'read x; if [ "$x" = hang ]; then echo hanging >&2; sleep 30; fi; echo "$x"'


def run_with_closed_stdout(
    server: Peer, *args: str, timeout: float = 20
) -> subprocess.CompletedProcess[bytes]:
    """``gear ARGS`` with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*GEAR, *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=gear_env(server),
            timeout=timeout,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("window", ["100", "1"])
def test_submit_ends_quietly_once_the_reader_is_gone(
    job_server: Peer, procs: Processes, window: str
) -> None:
    procs.gear(job_server, "work", "reverse", "--concurrency", "2", "--", "rev")
    submit = procs.gear(job_server, "submit", "-n", "-w", window, "reverse")
    assert submit.stdin and submit.stdout and submit.stderr
    submit.stdin.write(b"ab\n")
    submit.stdin.flush()
    assert submit.stdout.readline() == b"ba\n"
    submit.stdout.close()  # `head -1` is done
    submit.stdin.write(b"".join(b"%d\n" % i for i in range(300)))
    submit.stdin.close()
    assert submit.wait(20) == EXIT_PIPE
    assert submit.stderr.read() == b""


def test_seq_into_submit_into_head(gear_server: Peer, procs: Processes) -> None:
    """The pipeline of the report, as a shell runs it."""
    procs.gear(gear_server, "work", "reverse", "--concurrency", "4", "--", "rev")
    gear = " ".join(GEAR)
    script = f'seq 300 | {gear} submit -n reverse | head -1; echo "${{PIPESTATUS[1]}}" >&2'
    shell = procs.start(["bash", "-c", script], env=gear_env(gear_server), start_new_session=True)
    try:
        out, err = shell.communicate(timeout=30)
    finally:  # a hung pipeline goes as a whole, not just the shell
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
    assert (out, err) == (b"1\n", f"{EXIT_PIPE}\n".encode())


def test_work_stops_and_loses_no_job_once_the_reader_is_gone(job_server: Peer) -> None:
    for data in ("a", "b", "c"):
        assert run_gear(job_server, "submit", "-b", "echoer", data).returncode == 0
    done = run_with_closed_stdout(job_server, "work", "echoer")
    assert (done.returncode, done.stderr) == (EXIT_PIPE, b"")
    status = run_gear(job_server, "admin", "-s", job_server.address, "status")
    assert "echoer\t3\t0\t0\n" in status.stdout.decode()  # the job it held went back


@pytest.mark.parametrize(
    "args",
    [
        ("admin", "{address}", "status"),
        ("admin", "{address}", "workers"),
        ("status", "--unique", "no-such-job"),
        ("top", "--once", "-s", "{address}"),
    ],
    ids=["admin-status", "admin-workers", "status", "top-once"],
)
def test_one_shots_end_quietly_once_the_reader_is_gone(
    gear_server: Peer, args: tuple[str, ...]
) -> None:
    assert run_gear(gear_server, "submit", "-b", "queued", "x").returncode == 0
    argv = [a.format(address=gear_server.address) for a in args]
    if argv[0] == "admin":
        argv[1:2] = ["-s", argv[1]]
    done = run_with_closed_stdout(gear_server, *argv)
    assert (done.returncode, done.stderr) == (EXIT_PIPE, b"")


def echo_or_hang(server: Peer, procs: Processes, lines: bytes) -> subprocess.Popen[bytes]:
    """``gear submit -n echo`` fed ``lines``, once the worker holds the job "hang".

    Stdin stays open: submit must not wait for it to end.
    """
    worker = procs.gear(
        server, "work", "echo", "--concurrency", "4", "--", "sh", "-c", ECHO_OR_HANG
    )
    submit = procs.gear(server, "submit", "-n", "echo")
    assert submit.stdin and worker.stderr
    submit.stdin.write(lines)
    submit.stdin.flush()
    assert worker.stderr.readline() == b"hanging\n"
    return submit


def test_ctrl_c_says_how_far_submit_got_and_exits_130(job_server: Peer, procs: Processes) -> None:
    submit = echo_or_hang(job_server, procs, b"a\nb\nhang\n")
    assert submit.stdout and submit.stderr
    assert submit.stdout.readline() == b"a\n"
    assert submit.stdout.readline() == b"b\n"
    submit.send_signal(signal.SIGINT)
    assert submit.wait(20) == 130
    assert submit.stdout.read() == b""
    assert submit.stderr.read() == b"gear submit: interrupted: 3 jobs submitted, 2 answered\n"


def test_ctrl_c_with_the_reader_gone_too(gear_server: Peer, procs: Processes) -> None:
    """Ctrl-C reaches the whole pipeline: `| cat` is gone when the answers behind "hang" flush."""
    submit = echo_or_hang(gear_server, procs, b"hang\nb\nc\n")
    assert submit.stdout and submit.stderr
    submit.stdout.close()
    submit.send_signal(signal.SIGINT)
    assert submit.wait(20) == 130
    err = submit.stderr.read().decode()
    # how many lines submit had read when the signal came is a race; "hang" is never answered
    match = re.fullmatch(r"gear submit: interrupted: (\d+) jobs? submitted, (\d+) answered\n", err)
    assert match is not None, err
    submitted, answered = int(match[1]), int(match[2])
    assert 1 <= submitted <= 3 and answered < submitted


def test_errors_of_gear_work_name_the_command(gear_server: Peer) -> None:
    missing = run_gear(gear_server, "work", "f", "--", "no-such-command-gear")
    assert (missing.returncode, missing.stderr) == (
        2,
        b"gear work: command not found: no-such-command-gear\n",
    )
    down = run_gear(Peer("down", gear_server.proc, 1), "work", "f")
    assert down.returncode == 3
    assert down.stderr.startswith(b"gear work: ") and down.stderr.count(b"\n") == 1
