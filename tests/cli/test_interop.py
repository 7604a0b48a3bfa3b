"""gear with reference peers: libgearman's `gearman` CLI and Perl's Gearman::Client."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli.conftest import Peer, Processes, run_gear
from tests.conftest import require_peer, require_program

pytestmark = pytest.mark.peer


def gearman_argv(server: Peer, *args: str) -> list[str]:
    path = require_program("gearman", "gearman-tools")
    return [path, "-h", "127.0.0.1", "-p", str(server.port), *args]


def test_gear_submit_to_a_gearman_worker(job_server: Peer, procs: Processes) -> None:
    procs.start(gearman_argv(job_server, "-w", "-f", "greverse", "--", "rev"))
    done = run_gear(job_server, "submit", "greverse", stdin=b"hello\n")
    assert (done.returncode, done.stdout) == (0, b"olleh\n")
    lines = run_gear(job_server, "submit", "-n", "greverse", stdin=b"ab\ncd\n")
    assert lines.stdout == b"ba\ndc\n"


def test_gear_work_serves_gearman_clients(job_server: Peer, procs: Processes) -> None:
    procs.gear(job_server, "work", "wreverse", "--concurrency", "2", "--", "rev")
    one = subprocess.run(
        gearman_argv(job_server, "-f", "wreverse"),
        input=b"hello\n",
        capture_output=True,
        timeout=20,
    )
    assert (one.returncode, one.stdout) == (0, b"olleh\n")
    many = subprocess.run(
        gearman_argv(job_server, "-n", "-f", "wreverse"),
        input=b"12\n34\n",
        capture_output=True,
        timeout=20,
    )
    assert sorted(many.stdout.splitlines()) == [b"21", b"43"]


def test_gear_work_serves_perl_gearman_client(gear_server: Peer, procs: Processes) -> None:
    perl = require_program("perl", "perl")
    has_module = subprocess.run([perl, "-MGearman::Client", "-e", "1"], capture_output=True)
    require_peer(
        "Gearman::Client", has_module.returncode == 0, "apt-get install libgearman-client-perl"
    )
    procs.gear(gear_server, "work", "preverse", "--", "rev")
    script = (
        "my $c = Gearman::Client->new; $c->job_servers($ARGV[0]);"
        ' my $r = $c->do_task("preverse", "hello\\n"); print defined $r ? $$r : "FAILED";'
    )
    done = subprocess.run(
        [perl, "-MGearman::Client", "-e", script, gear_server.address],
        capture_output=True,
        timeout=20,
    )
    assert (done.returncode, done.stdout) == (0, b"olleh\n")
