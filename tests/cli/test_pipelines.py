"""`gear work` + `gear submit` as real processes, against gear serve and C gearmand.

Workers always run as real processes.  The key pipelines run `gear submit`
as a process too; variations drive it in-process through click's CliRunner
(same code, no interpreter start-up per call).
"""

from __future__ import annotations

import os
import signal

from click.testing import CliRunner, Result

from gear.cli import main
from tests.cli.conftest import Peer, Processes, run_gear, start_gear_process

#: one worker command for several functions: it dispatches on $GEAR_FUNCTION
DISPATCH = r"""
case "$GEAR_FUNCTION" in
  env) printf '%s:%s\n' "$GEAR_FUNCTION" "$GEAR_UNIQUE"; cat ;;
  lines) printf 'a\nb\nc\n' ;;
  fail) echo partial; exit 3 ;;
  exc) echo broken >&2; exit 3 ;;
esac
"""


def cli(server: Peer, *args: str, stdin: bytes = b"") -> Result:
    """`gear ARGS` in-process against ``server``."""
    runner = CliRunner()
    env = {"GEAR_SERVERS": server.address, "GEARMAN_SERVER": None}
    return runner.invoke(main, list(args), input=stdin, env=env)  # type: ignore[arg-type]


def test_reverse_pipeline_in_input_order(job_server: Peer, procs: Processes) -> None:
    worker = procs.gear(job_server, "work", "reverse", "--concurrency", "4", "--", "rev")
    done = run_gear(job_server, "submit", "reverse", stdin=b"hello\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"olleh\n", b"")
    lines = b"".join(f"{i}x\n".encode() for i in range(40))
    many = cli(job_server, "submit", "-n", "reverse", stdin=lines)
    assert many.exit_code == 0
    assert many.stdout_bytes == b"".join(f"{i}x"[::-1].encode() + b"\n" for i in range(40))
    stripped = cli(job_server, "submit", "-N", "-P", "reverse", stdin=b"ab\ncd\n")
    assert stripped.stdout_bytes == b"reverse: bareverse: dc"
    assert worker.poll() is None


def test_worker_lines_env_and_failures(job_server: Peer, procs: Processes) -> None:
    names = ["env", "lines", "fail", "exc"]
    procs.gear(job_server, "work", *names, "-n", "--concurrency", "2", "--", "sh", "-c", DISPATCH)
    env = cli(job_server, "submit", "-u", "key1", "env", "data\n")
    assert env.stdout_bytes == b"env:key1\ndata\n"
    lines = cli(job_server, "submit", "lines", "-s")
    assert (lines.exit_code, lines.stdout_bytes) == (0, b"a\nb\nc\n")
    fail = run_gear(job_server, "submit", "fail", "x")
    assert (fail.returncode, fail.stdout, fail.stderr) == (1, b"partial\n", b"Job failed\n")
    exc = cli(job_server, "submit", "exc", "x")
    assert (exc.exit_code, exc.stderr_bytes) == (4, b"broken\n")


def test_background_status_and_echo_worker(job_server: Peer) -> None:
    queued = cli(job_server, "submit", "-b", "-v", "-u", "bg-1", "echoer", "payload")
    assert queued.exit_code == 0
    handle = queued.stdout.strip()
    status = cli(job_server, "status", handle)
    assert status.exit_code == 0 and "known=1 running=0" in status.stdout
    by_unique = cli(job_server, "status", "--unique", "bg-1")
    assert by_unique.exit_code == 0 and "clients=0" in by_unique.stdout
    burst = run_gear(job_server, "work", "echoer", "--burst")
    assert (burst.returncode, burst.stdout) == (0, b"payload")
    gone = cli(job_server, "status", handle)
    assert gone.exit_code == 1 and "known=0" in gone.stdout


def test_timeout_kills_the_command(gear_server: Peer, procs: Processes) -> None:
    procs.gear(gear_server, "work", "slow", "--timeout", "0.3", "--", "sleep", "30")
    slow = cli(gear_server, "submit", "slow", "x")
    assert (slow.exit_code, slow.stderr_bytes) == (1, b"Job failed\n")


def test_sigterm_finishes_the_running_job(job_server: Peer, procs: Processes, tmp_path) -> None:
    go = tmp_path / "go"
    os.mkfifo(go)
    script = f'echo started >&2; read line < "{go}"; echo "finished $line"'
    worker = procs.gear(job_server, "work", "hold", "--", "sh", "-c", script)
    client = procs.gear(job_server, "submit", "hold", "x")
    assert worker.stderr is not None
    assert worker.stderr.readline() == b"started\n"
    worker.send_signal(signal.SIGTERM)
    with open(go, "w") as fifo:
        fifo.write("ok\n")
    assert worker.wait(10) == 0
    out, _ = client.communicate(timeout=10)
    assert (client.returncode, out) == (0, b"finished ok\n")


def test_worker_survives_a_server_restart(procs: Processes) -> None:
    first = start_gear_process()
    port = first.port
    peer = Peer("gear", first.proc, port)
    try:
        worker = procs.gear(peer, "work", "reverse", "--", "rev")
        assert cli(peer, "submit", "reverse", "ab").stdout_bytes == b"ba"
    finally:
        first.stop()
    assert worker.stderr is not None
    lost = worker.stderr.readline()
    assert lost.startswith(f"gear work: connection to 127.0.0.1:{port} lost".encode()), lost
    second = start_gear_process("--port", str(port))
    try:
        again = cli(Peer("gear", second.proc, port), "submit", "reverse", "cd")
        assert again.stdout_bytes == b"dc"
        assert worker.stderr.readline() == f"gear work: reconnected to 127.0.0.1:{port}\n".encode()
    finally:
        second.stop()


def test_user_errors_are_one_line_with_documented_codes(gear_server: Peer) -> None:
    down = Peer("down", gear_server.proc, 1)
    unreachable = run_gear(down, "submit", "f", "x")
    assert unreachable.returncode == 3
    assert unreachable.stderr.count(b"\n") == 1 and b"Connection refused" in unreachable.stderr
    worker_down = cli(down, "work", "f")
    assert worker_down.exit_code == 3 and worker_down.stderr.count("\n") == 1
    missing = cli(gear_server, "work", "f", "--", "no-such-command-gear")
    assert missing.exit_code == 2
    assert missing.stderr == "gear work: command not found: no-such-command-gear\n"
    bad = cli(gear_server, "submit", "--no-such-option")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    timeout = cli(gear_server, "submit", "-t", "0.2", "nobody", "x")
    assert timeout.exit_code == 3 and timeout.stderr.count("\n") == 1
