"""Perl's Gearman::Client and Gearman::Worker (2.004) against gear serve.

The Perl worker grabs with GRAB_JOB (not _UNIQ) and sleeps with PRE_SLEEP
until a NOOP; the client uses SUBMIT_JOB(_BG), GET_STATUS and OPTION_REQ.
Scripts are inline (``perl -e``) and take the port and function names as
arguments.  Workers stop after a given number of jobs (``stop_if``); tests
wait for a worker to register by polling ``status`` (``wait_for_workers``).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import require_peer, require_program
from tests.interop.conftest import Peer, Spawn
from tests.interop.wire import admin_query, status_table, wait_for_admin, wait_for_workers

pytestmark = pytest.mark.peer

TIMEOUT = 20

#: a worker that serves ARGV[1] (reverse; data "fail" fails the job) until
#: ARGV[2] jobs are done, printing "done <arg>" per job
WORKER = r"""
use strict; use warnings; use Gearman::Worker;
$| = 1;
my ($port, $func, $max) = @ARGV;
my $worker = Gearman::Worker->new(job_servers => ["127.0.0.1:$port"], client_id => "perl-worker");
my $done = 0;
$worker->register_function($func => sub {
    my $arg = $_[0]->arg;
    print "done $arg\n";
    $done++;
    return undef if $arg eq "fail";
    return scalar reverse $arg;
});
$worker->work(stop_if => sub { $done >= $max });
"""

#: do_task for each of ARGV[2..]: prints "<result>" or "FAILED"
DO_TASK = r"""
use strict; use warnings; use Gearman::Client;
$| = 1;
my ($port, $func, @args) = @ARGV;
my $client = Gearman::Client->new(job_servers => ["127.0.0.1:$port"]);
for my $arg (@args) {
    my $res = $client->do_task($func => $arg);
    print defined $res ? "$$res\n" : "FAILED\n";
}
"""

#: dispatch_background for each of ARGV[2..] with unique "bg-<arg>"; prints
#: each handle, then "<known> <running>" from get_status of the first one
DISPATCH = r"""
use strict; use warnings; use Gearman::Client;
$| = 1;
my ($port, $func, @args) = @ARGV;
my $client = Gearman::Client->new(job_servers => ["127.0.0.1:$port"]);
my @handles = map { $client->dispatch_background($func => $_, {uniq => "bg-$_"}) } @args;
print "$_\n" for @handles;
my $status = $client->get_status($handles[0]);
printf "%d %d\n", $status->known, $status->running;
"""

#: a task set of ARGV[2..]: on_complete prints "<arg>=<result>", on_fail "<arg>!"
TASK_SET = r"""
use strict; use warnings; use Gearman::Client;
$| = 1;
my ($port, $func, @args) = @ARGV;
my $client = Gearman::Client->new(job_servers => ["127.0.0.1:$port"]);
my $set = $client->new_task_set;
for my $arg (@args) {
    $set->add_task($func => $arg, {
        on_complete => sub { print "$arg=${$_[0]}\n" },
        on_fail     => sub { print "$arg!\n" },
    });
}
$set->wait(timeout => 15);
print "waited\n";
"""


@pytest.fixture(scope="module")
def perl() -> str:
    """perl with Gearman::Client and Gearman::Worker installed."""
    perl = require_program("perl", "perl")
    probe = subprocess.run(
        [perl, "-MGearman::Client", "-MGearman::Worker", "-e", "1"],
        capture_output=True,
        check=False,
    )
    require_peer(
        "Perl Gearman::Client/Worker",
        probe.returncode == 0,
        "apt-get install libgearman-client-perl",
    )
    return perl


def perl_run(perl: str, script: str, *args: str | int) -> list[str]:
    """Run a Perl script to completion; its stdout lines (it must exit 0)."""
    result = subprocess.run(
        [perl, "-e", script, *map(str, args)], capture_output=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().splitlines()


def start_worker(
    perl: str, spawn: Spawn, port: int, func: str, jobs: int, *, registered: bool = True
) -> subprocess.Popen[bytes]:
    """A Perl worker for ``func`` that exits after ``jobs`` jobs; by default, once registered.

    With jobs already queued, pass ``registered=False``: the worker may do
    them all and leave before a ``status`` poll could see it registered.
    """
    worker = spawn(perl, "-e", WORKER, str(port), func, str(jobs))
    if registered:
        wait_for_workers(port, func)
    return worker


def worker_output(worker: subprocess.Popen[bytes]) -> list[str]:
    """Wait for a worker to finish its jobs and exit 0; its stdout lines."""
    out, err = worker.communicate(timeout=TIMEOUT)
    assert worker.returncode == 0, err.decode()
    return out.decode().splitlines()


def test_do_task_round_trip(perl: str, spawn: Spawn, module_gear: Peer) -> None:
    """Perl do_task → Perl worker (GRAB_JOB) → result back; undef result fails the task."""
    worker = start_worker(perl, spawn, module_gear.port, "perl-rev", 2)
    assert perl_run(perl, DO_TASK, module_gear.port, "perl-rev", "hello", "fail") == [
        "olleh",
        "FAILED",
    ]
    assert worker_output(worker) == ["done hello", "done fail"]
    workers = wait_for_admin(module_gear.port, "workers", lambda r: "perl-worker" not in r)
    assert "perl-worker" not in workers, "the worker disconnected after its jobs"


def test_dispatch_background_then_drain(perl: str, spawn: Spawn, module_gear: Peer) -> None:
    """dispatch_background queues jobs (get_status: known, not running); a worker drains them."""
    lines = perl_run(perl, DISPATCH, module_gear.port, "perl-bg", "a", "b", "c", "a")
    handles, status = lines[:4], lines[4]
    assert all("//H:" in h for h in handles), handles
    assert handles[3] == handles[0], "same unique, same job"
    assert len(set(handles)) == 3
    assert status == "1 0"
    port = module_gear.port
    assert status_table(admin_query(port, "prioritystatus"))["perl-bg"] == [0, 3, 0, 0]
    worker = start_worker(perl, spawn, port, "perl-bg", 3, registered=False)
    assert worker_output(worker) == ["done a", "done b", "done c"]
    final = wait_for_admin(port, "status", lambda r: status_table(r)["perl-bg"] == [0, 0, 0])
    assert status_table(final)["perl-bg"] == [0, 0, 0]


def test_task_set(perl: str, spawn: Spawn, module_gear: Peer) -> None:
    """new_task_set + add_task x N + wait: every task's own on_complete/on_fail runs."""
    args = ["one", "two", "three", "fail", "four"]
    worker = start_worker(perl, spawn, module_gear.port, "perl-set", len(args))
    lines = perl_run(perl, TASK_SET, module_gear.port, "perl-set", *args)
    assert lines[-1] == "waited"
    assert sorted(lines[:-1]) == sorted(["one=eno", "two=owt", "three=eerht", "fail!", "four=ruof"])
    assert sorted(worker_output(worker)) == sorted(f"done {a}" for a in args)


def test_perl_worker_serves_gearman_cli(
    perl: str, spawn: Spawn, gearman_cli: str, module_gear: Peer
) -> None:
    """A Perl worker serves libgearman's `gearman` client, one job per argument."""
    worker = start_worker(perl, spawn, module_gear.port, "perl-cli", 2)
    argv = [gearman_cli, "-h", "127.0.0.1", "-p", str(module_gear.port), "-f", "perl-cli"]
    result = subprocess.run(
        [*argv, "abc", "12345"],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, b"cba54321"), result.stderr
    assert worker_output(worker) == ["done abc", "done 12345"]


# ---------------------------------------------------- issue #11: Perl's own tests --
#: a worker whose job gives up its function (CANT_DO) and then finishes the job
CANT_DO_WORKER = r"""
use strict; use warnings; use Gearman::Worker;
$| = 1;
my ($port, $func) = @ARGV;
my $worker = Gearman::Worker->new(job_servers => ["127.0.0.1:$port"]);
my $done = 0;
$worker->register_function($func => sub {
    $worker->unregister_function($func);
    print "unregistered\n";
    $done = 1;
    return scalar reverse $_[0]->arg;
});
$worker->work(stop_if => sub { $done });
"""

#: perl-Gearman's t/25-work-finish-command.t, subtests "work complete" and
#: "work exception": one client with exceptions => 1; each worker object is
#: made (and registered) here and run in a forked child, so this process
#: keeps the first worker's socket open after that child is gone
EXCEPTION_AFTER_FORKED_WORKER = r"""
use strict; use warnings; use Gearman::Client; use Gearman::Worker;
$| = 1;
my ($port, $func) = @ARGV;
my @js = ("127.0.0.1:$port");
my $client = Gearman::Client->new(exceptions => 1, job_servers => [@js]);
sub run_forked {
    my ($w) = @_;
    my $pid = fork();
    if (!$pid) { $w->work(stop_if => sub { $_[0] }); exit 0 }
    return $pid;
}
my $w1 = Gearman::Worker->new(job_servers => [@js]);
$w1->register_function($func => sub { $w1->send_work_complete($_[0], "sum"); return });
my $p1 = run_forked($w1);
my $res = $client->do_task($func => "x", { on_exception => sub { print "exception?\n" } });
print "complete: $$res\n";
kill 'KILL', $p1; waitpid($p1, 0);
my $w2 = Gearman::Worker->new(job_servers => [@js]);
$w2->register_function($func => sub { $w2->send_work_exception($_[0], "job exception"); return });
my $p2 = run_forked($w2);
$res = $client->do_task($func => "x", {
    on_exception => sub { print "on_exception: $_[0]\n" },
    on_fail => sub { print "on_fail\n" },
});
print defined $res ? "result\n" : "no result\n";
kill 'KILL', $p2; waitpid($p2, 0);
"""

#: perl-Gearman's t/14-sleep.t "sleep tree": two forked workers registered
#: with a CAN_DO_TIMEOUT of 2 (seconds, as Perl means it); "S:R" sleeps S
#: seconds and returns R.  Short jobs must complete; long ones fail once each
#: (uniq "-": the second must not be coalesced onto the failed first); the
#: workers survive their late results and run one more short job
SLEEP_TREE = r"""
use strict; use warnings; use Gearman::Client; use Gearman::Worker;
$| = 1;
my ($port, $func) = @ARGV;
my @js = ("127.0.0.1:$port");
my @pids;
for (1 .. 2) {
    my $w = Gearman::Worker->new(job_servers => [@js]);
    $w->register_function($func => 2, sub {
        my ($sleep, $ret) = $_[0]->arg =~ m/^(\d+)(?::(.+))?$/; sleep $sleep; return $ret });
    my $pid = fork();
    if (!$pid) { $w->work(); exit 0 }
    push @pids, $pid;
}
my $client = Gearman::Client->new(exceptions => 1, job_servers => [@js]);
for my $arg ("1:less", "1:one", "3", "3", "1:last") {
    my %opts = $arg eq "3" ? (uniq => "-") : ();
    my $res = $client->do_task($func => $arg, \%opts);
    print "$arg => ", (defined $res ? $$res : "undef"), "\n";
}
kill 'KILL', @pids; waitpid($_, 0) for @pids;
"""


def test_cant_do_while_holding_a_job_keeps_it(perl: str, spawn: Spawn, module_gear: Peer) -> None:
    """CANT_DO mid-job stops new jobs only: the worker's WORK_COMPLETE reaches do_task."""
    worker = spawn(perl, "-e", CANT_DO_WORKER, str(module_gear.port), "perl-cant")
    wait_for_workers(module_gear.port, "perl-cant")
    assert perl_run(perl, DO_TASK, module_gear.port, "perl-cant", "hello") == ["olleh"]
    assert worker_output(worker) == ["unregistered"]


def test_exception_with_a_dead_forked_worker_still_registered(perl: str, module_gear: Peer) -> None:
    """t/25-work-finish-command.t: the NOOP promised to a dead fork's socket is taken back."""
    lines = perl_run(perl, EXCEPTION_AFTER_FORKED_WORKER, module_gear.port, "perl-exc")
    assert lines == ["complete: sum", "on_exception: job exception", "no result"]


def test_can_do_timeout_in_perls_seconds(perl: str, module_gear: Peer) -> None:
    """t/14-sleep.t "sleep tree": Perl's timeout is seconds; late results kill no worker."""
    lines = perl_run(perl, SLEEP_TREE, module_gear.port, "perl-sleep")
    assert lines == ["1:less => less", "1:one => one", "3 => undef", "3 => undef", "1:last => last"]
