"""Differential cases for the text admin protocol (survey §2).

Each function is one scripted session; see ``registry`` for how the two
servers' transcripts are judged and ``wire`` for the script API.  Documented
differences cite the survey section or the gear fix they follow.
"""

from __future__ import annotations

import re

from gear import __version__
from tests.interop.registry import case
from tests.interop.wire import P, Script


def _pid_check(kind: str, pid: int, s: Script) -> None:
    assert s.steps[-1].received == b"OK %d\n" % pid, f"{kind}: getpid is not the process id"


def _version_check(kind: str, pid: int, s: Script) -> None:
    expected = {
        "gearmand": rb"OK 1\.1\.20\S*\n",
        "gear": rb"OK 1\.1\.20-gear-" + re.escape(__version__.encode()) + rb"\n",
    }[kind]
    for step in s.steps:
        assert re.fullmatch(expected, step.received), (kind, step.received)


def _verbose_check(kind: str, pid: int, s: Script) -> None:
    # gearmand runs with --verbose INFO; gear serve with its default log level
    level = {"gearmand": b"INFO", "gear": b"WARNING"}[kind]
    assert s.steps[0].received == b"OK " + level + b"\n"


# ----------------------------------------------------------------- listings --
@case(fresh=True)
def status_empty(s: Script) -> None:
    """A new server lists nothing: status, prioritystatus, show jobs, show unique jobs."""
    a = s.conn("admin")
    for line in ("status", "prioritystatus", "show jobs", "show unique jobs"):
        a.admin(line)


@case()
def status_counts(s: Script) -> None:
    """status: TOTAL counts queued and running jobs, RUNNING, and registered workers."""
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    c.submit(f, b"1", ptype=P.SUBMIT_JOB_BG)
    c.submit(f, b"2", ptype=P.SUBMIT_JOB_BG)
    c.submit(f, b"3")
    a.admin("status")
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)
    a.admin("status")


@case()
def prioritystatus_counts(s: Script) -> None:
    """prioritystatus: queued jobs per priority (running ones not counted) and workers."""
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    c.submit(f, b"h", ptype=P.SUBMIT_JOB_HIGH_BG)
    c.submit(f, b"h2", ptype=P.SUBMIT_JOB_HIGH)
    c.submit(f, b"n", ptype=P.SUBMIT_JOB_BG)
    c.submit(f, b"l", ptype=P.SUBMIT_JOB_LOW_BG)
    c.submit(f, b"l2", ptype=P.SUBMIT_JOB_LOW)
    w.send(P.CAN_DO, f)
    a.admin("prioritystatus")
    w.send(P.GRAB_JOB)
    a.admin("prioritystatus")


@case(fresh=True)
def workers_listing(s: Script) -> None:
    """workers lists every connection (fd, ip, id, functions), admin and clients too."""
    a, c, w = s.conn("admin"), s.conn("client"), s.conn("worker")
    c.send(P.ECHO_REQ, b"hi")
    w.send(P.CAN_DO, s.fn("f"))
    w.send(P.CAN_DO, s.fn("g"))
    a.admin("workers")
    w.send(P.CANT_DO, s.fn("f"))
    a.admin("workers")
    w.send(P.RESET_ABILITIES)
    a.admin("workers")


@case(fresh=True)
def show_jobs_queued(s: Script) -> None:
    """show jobs: one line per queued background job, handle/retries/ignored/queued."""
    a, c = s.conn("admin"), s.conn("client")
    c.submit(s.fn("f"), b"1", ptype=P.SUBMIT_JOB_BG)
    c.submit(s.fn("g"), b"2", b"u", ptype=P.SUBMIT_JOB_LOW_BG)
    a.admin("show jobs")


@case(fresh=True)
def show_jobs_queued_column(s: Script) -> None:
    """show jobs column 4: C prints 0 for a queued foreground job, 1 for a running bg job."""
    a, c, w = s.conn("admin"), s.conn("client"), s.conn("worker")
    c.submit(s.fn("f"), b"fg")
    a.admin("show jobs")
    c.submit(s.fn("g"), b"bg", ptype=P.SUBMIT_JOB_BG)
    w.send(P.CAN_DO, s.fn("g"))
    w.send(P.GRAB_JOB)
    a.admin("show jobs")


@case(fresh=True)
def show_unique_jobs(s: Script) -> None:
    """show unique jobs: one line per job, its unique or an empty line."""
    a, c = s.conn("admin"), s.conn("client")
    c.submit(s.fn("f"), b"1", b"u-one", ptype=P.SUBMIT_JOB_BG)
    c.submit(s.fn("f"), b"2", b"", ptype=P.SUBMIT_JOB_BG)
    c.submit(s.fn("f"), b"3", b"-", ptype=P.SUBMIT_JOB_BG)
    a.admin("show unique jobs")


@case()
def show_bad_arguments(s: Script) -> None:
    """show with an unknown or extra argument, and show alone: the error forms."""
    a = s.conn("admin")
    for line in ("show foo", "show jobs x", "show unique jobs x", "show unique", "show"):
        a.admin(line)


# ----------------------------------------------------------------- cancel --
@case()
def cancel_errors(s: Script) -> None:
    """cancel job with an unknown handle, and its malformed forms."""
    a = s.conn("admin")
    for line in ("cancel job H:nohost:1", "cancel job", "cancel", "cancel foo bar"):
        a.admin(line)
    a.admin("cancel job a b")
    a.admin("CANCEL   JOB   H:nohost:2")


@case()
def cancel_background_job(s: Script) -> None:
    """cancel job on a queued background job: OK, and no worker gets it."""
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    handle = c.submit(f, b"x", b"u", P.SUBMIT_JOB_BG)
    c.submit(f, b"y", b"", P.SUBMIT_JOB_BG)
    a.admin(b"cancel job " + handle)
    c.barrier()
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)
    w.send(P.GRAB_JOB)


@case(
    c=[
        "admin< '~f\\t1\\t0\\t0\\n.\\n'",
        "admin< 'OK\\r\\n'",
    ],
    gear=[
        "admin< '~f\\t0\\t0\\t0\\n.\\n'",
        "admin< 'ERR UNKNOWN_JOB\\r\\n'",
    ],
)
def cancel_queued_job(s: Script) -> None:
    """cancel job on a queued fg job: OK and WORK_FAIL to its client in both.

    Documented gear fix (survey §7 #8): the cancelled job is freed, so it is
    no longer counted in ``status`` and a second cancel finds no job; C keeps
    a zombie that ``status`` counts and that can be "cancelled" again.
    """
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    handle = c.submit(f, b"x")
    a.admin(b"cancel job " + handle)
    c.barrier()
    a.admin("status")
    a.admin(b"cancel job " + handle)
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)


@case()
def cancel_running_job(s: Script) -> None:
    """cancel job on a job a worker is running."""
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    handle = c.submit(f, b"x", ptype=P.SUBMIT_JOB_BG)
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)
    a.admin(b"cancel job " + handle)


# ------------------------------------------------------ create/drop function --
@case()
def create_function_crlf(s: Script) -> None:
    """create function NAME\\r\\n creates NAME with no jobs and no workers."""
    a = s.conn("admin")
    a.admin(b"create function " + s.fn("made"), end=b"\r\n")
    a.admin("status")


@case(c=["admin< '~abcde\\t0\\t0\\t0\\n.\\n'"], gear=["admin< '~abcdef\\t0\\t0\\t0\\n.\\n'"])
def create_function_lf(s: Script) -> None:
    """create function NAME\\n with a bare newline.

    Documented gear fix (survey §2.1, §7 #8): C drops two bytes assuming a
    CRLF ending and creates ``abcde``; gear creates the name as sent.
    """
    a = s.conn("admin")
    a.admin(b"create function " + s.fn("abcdef"))
    a.admin("status")


@case()
def create_function_errors(s: Script) -> None:
    """create without 'function NAME', or with extra words: INVALID_ARGUMENTS."""
    a = s.conn("admin")
    for line in ("create", "create function", "create foo bar", "create function a b"):
        a.admin(line)


@case()
def drop_function(s: Script) -> None:
    """drop function: OK when idle, refused with a worker, 'not found' when absent."""
    f, g, a, w = s.fn("f"), s.fn("g"), s.conn("admin"), s.conn("worker")
    a.admin(b"create function " + f, end=b"\r\n")
    a.admin(b"drop function " + f)
    a.admin(b"drop function " + f)
    w.send(P.CAN_DO, g)
    a.admin(b"drop function " + g)
    w.send(P.CANT_DO, g)
    a.admin(b"drop function " + g)
    a.admin("status")


@case(
    c=["admin< 'OK\\r\\n'", "admin< '.\\n'", "worker< NO_JOB"],
    gear=[
        "admin< 'ERR there are still queued jobs\\r\\n'",
        "admin< '~f\\t1\\t0\\t0\\n.\\n'",
        "worker< JOB_ASSIGN['H:<1>', '~f', 'x']",
    ],
)
def drop_function_with_queued_jobs(s: Script) -> None:
    """drop function while a background job is queued.

    Documented gear fix (survey §7 #8): gear refuses the drop; C drops the
    function and silently discards its queued jobs.
    """
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    c.submit(f, b"x", ptype=P.SUBMIT_JOB_BG)
    a.admin(b"drop function " + f)
    a.admin("status")
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)


@case()
def drop_function_errors(s: Script) -> None:
    """drop without 'function NAME': INVALID_ARGUMENTS; unknown name: not found."""
    a = s.conn("admin")
    for line in ("drop", "drop function", "drop foo bar", "drop function no-such-fn"):
        a.admin(line)


# --------------------------------------------------------------- maxqueue --
@case()
def maxqueue_forms(s: Script) -> None:
    """maxqueue with no arguments is an error; with a name and 0-3 sizes it is OK."""
    f = s.fn("f")
    a = s.conn("admin")
    a.admin("maxqueue")
    for tail in (b"", b" 5", b" 1 2 3", b" -1", b" abc", b" 1 2"):
        a.admin(b"maxqueue " + f + tail)


@case()
def maxqueue_limit(s: Script) -> None:
    """maxqueue N on an existing function: submit N+1 gets QUEUE_ERROR, 0 lifts it."""
    f, a, c = s.fn("f"), s.conn("admin"), s.conn("client")
    c.submit(f, b"1", ptype=P.SUBMIT_JOB_BG)
    a.admin(b"maxqueue " + f + b" 2")
    c.submit(f, b"2", b"u2", ptype=P.SUBMIT_JOB_BG)
    c.send(P.SUBMIT_JOB_BG, f, b"", b"3")
    c.send(P.SUBMIT_JOB, f, b"u2", b"coalesced")
    a.admin(b"maxqueue " + f + b" 0")
    c.send(P.SUBMIT_JOB_BG, f, b"", b"4")
    a.admin("status")


@case()
def maxqueue_per_priority(s: Script) -> None:
    """maxqueue F HIGH NORMAL LOW limits each priority separately."""
    f, a, c = s.fn("f"), s.conn("admin"), s.conn("client")
    c.submit(f, b"1", ptype=P.SUBMIT_JOB_BG)
    a.admin(b"maxqueue " + f + b" 5 1 5")
    c.send(P.SUBMIT_JOB_BG, f, b"", b"2")
    c.send(P.SUBMIT_JOB_HIGH_BG, f, b"", b"3")
    c.send(P.SUBMIT_JOB_LOW_BG, f, b"", b"4")
    a.admin("prioritystatus")


@case(
    c=["client< JOB_CREATED['H:<2>']"],
    gear=["client< ERROR['QUEUE_ERROR', 'Job queue is full']"],
)
def maxqueue_before_function(s: Script) -> None:
    """maxqueue for a function that does not exist yet.

    Documented gear fix (survey §1.3 maxqueue, §7 #7): gear keeps the limit by
    name and applies it once the function appears; C answers OK but forgets
    the limit.
    """
    f, a, c = s.fn("f"), s.conn("admin"), s.conn("client")
    a.admin(b"maxqueue " + f + b" 1")
    c.submit(f, b"1", ptype=P.SUBMIT_JOB_BG)
    c.send(P.SUBMIT_JOB_BG, f, b"", b"2")


# ----------------------------------------------------------- one-liners ----
@case(check=_pid_check)
def getpid(s: Script) -> None:
    """getpid answers OK <pid> (checked against the process id)."""
    s.conn("admin").admin("getpid")


@case(check=_verbose_check)
def verbose(s: Script) -> None:
    """verbose answers OK <level>, the server's log level (masked; checked per server)."""
    s.conn("admin").admin("verbose")


@case(check=_version_check)
def version(s: Script) -> None:
    """version answers OK <version>.

    Documented gear difference: C says ``OK 1.1.20+ds``, gear
    ``OK 1.1.20-gear-<version>`` (C's level first, for tools that parse it);
    both masked to ``OK <version>`` and checked per server.
    """
    a = s.conn("admin")
    a.admin("version")
    a.admin("VERSION")


@case()
def unknown_command(s: Script) -> None:
    """Unknown commands (incl. Perl-server-only ones) get UNKNOWN_COMMAND with the word."""
    a = s.conn("admin")
    for line in ("frobnicate", "jobs", "clients", "gladiator all", "show\tjobs"):
        a.admin(line)


@case()
def blank_lines(s: Script) -> None:
    """An empty line, a line of spaces and a bare CRLF are unknown (empty) commands."""
    a = s.conn("admin")
    a.admin("")
    a.admin("   ")
    a.admin("", end=b"\r\n")
    a.exchange(b"\n\n")


@case()
def crlf_endings(s: Script) -> None:
    """Commands ended by CRLF are answered as with LF."""
    a = s.conn("admin")
    for line in ("status", "prioritystatus", "getpid", "verbose", "maxqueue"):
        a.admin(line, end=b"\r\n")


@case()
def pipelined_commands(s: Script) -> None:
    """Several commands in one write are answered in order."""
    a = s.conn("admin")
    f = s.fn("f")
    a.exchange(b"version\ngetpid\r\ncreate function " + f + b"\r\nstatus\nprioritystatus\n")
    a.exchange(b"verbose\nfrobnicate\nmaxqueue\n")


@case()
def case_insensitive(s: Script) -> None:
    """Command words match case-insensitively; errors echo the word as typed."""
    a = s.conn("admin")
    for line in ("STATUS", "PrioritySTATUS", "Verbose", "GETPID", "DROP FUNCTION nope"):
        a.admin(line)
    a.admin("Create Function")
    a.admin("MaxQueue")
    a.admin("Cancel JOB H:nohost:1")


@case()
def extra_spaces(s: Script) -> None:
    """Runs of spaces separate words; trailing words after a complete command are ignored."""
    a = s.conn("admin")
    for line in ("status ", "getpid extra", "verbose x", "status  ", "version a b c d"):
        a.admin(line)


@case()
def leading_space(s: Script) -> None:
    """A command line that starts with a space."""
    s.conn("admin").admin(" status")


@case(
    c=[
        "admin< 'ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\\r\\n'",
        "admin< 'ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\\r\\n'",
    ],
    gear=[
        "admin< 'ERR SHUTDOWN_DISABLED start+the+server+with+--allow-shutdown\\r\\n'",
        "admin< 'ERR SHUTDOWN_DISABLED start+the+server+with+--allow-shutdown\\r\\n'",
    ],
)
def shutdown(s: Script) -> None:
    """shutdown [graceful].

    Documented gear difference: C 1.1.20 removed the command (unknown
    command); gear has it behind --allow-shutdown and otherwise answers
    ERR SHUTDOWN_DISABLED.
    """
    a = s.conn("admin")
    a.admin("shutdown")
    a.admin("shutdown graceful")


@case(
    c=["a1< '<EOF>'", "a2< '<EOF>'"],
    gear=[
        "a1< '.\\n'",
        "a2< 'OK\\r\\n'",
    ],
)
def six_word_commands(s: Script) -> None:
    """A command line of six or more words.

    Difference not in gear's list; it follows survey §7 #12 (always answer,
    never drop the connection): C closes the connection without a reply;
    gear answers the command.
    """
    s.conn("a1").admin("status a b c d e")
    s.conn("a2").admin(b"maxqueue " + s.fn("f") + b" 1 2 3 4")
