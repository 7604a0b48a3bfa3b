"""Differential cases about connections: framing errors, worker identity, disconnects.

Each function is one scripted session; see ``registry`` for how the two
servers' transcripts are judged and ``wire`` for the script API.  Cases that
close a connection run on fresh servers and wait (``Script.wait_gone``) until
the server has noticed, by polling ``workers``.
"""

from __future__ import annotations

from tests.interop.registry import case
from tests.interop.wire import RES, P, Script, packet


# ---------------------------------------------------------- framing errors --
@case(
    c=["client< ERROR['INVALID_MAGIC', 'Request magic expected']"],
    gear=["client< ERROR['INVALID_MAGIC', 'Request magic expected'] | '<EOF>'"],
)
def response_magic_from_client(s: Script) -> None:
    """A packet with \\0RES magic sent to the server.

    Deliberate difference (issue #2: bad magic gets ERROR INVALID_MAGIC and the
    connection closes): the byte stream cannot be trusted after wrong magic.
    """
    s.conn("client").exchange(packet(P.ECHO_REQ, b"x", magic=RES))


@case(
    c=["client< '<EOF>'"],
    gear=["client< ERROR['INVALID_MAGIC', 'Invalid magic 0x0058595a'] | '<EOF>'"],
)
def bad_magic(s: Script) -> None:
    """A packet with magic that is neither \\0REQ nor \\0RES.

    Difference not in gear's list; it follows survey §7 #12 (always answer
    with ERROR): both close the connection, C silently, gear after ERROR
    INVALID_MAGIC.
    """
    s.conn("client").exchange(b"\0XYZ" + bytes(8))


@case(
    c=["c99< '<EOF>'", "c43< '<EOF>'"],
    gear=[
        "c99< ERROR['INVALID_COMMAND', 'unknown packet type 99']",
        "c43< ERROR['INVALID_COMMAND', 'unknown packet type 43']",
    ],
)
def unknown_packet_type(s: Script) -> None:
    """Packet types 99 and 43 (beyond the protocol).

    Documented gear fix (survey §1.1, §7 #12): gear answers ERROR
    INVALID_COMMAND and keeps the connection (the barrier echo is answered);
    C closes the connection.
    """
    s.conn("c99").send(99, b"whatever")
    s.conn("c43").send(43)


@case()
def packets_not_expected(s: Script) -> None:
    """Type 5 (unused) and server-to-client packets sent to the server: INVALID_COMMAND."""
    c = s.conn("client")
    c.send(P.UNUSED)
    c.send(P.NOOP)
    c.send(P.JOB_CREATED, b"H:nohost:1")
    c.send(P.NO_JOB)
    c.send(P.STATUS_RES, b"H:nohost:1", b"0", b"0", b"0", b"0")


@case(
    c=["client< '<EOF>'"],
    gear=["client< ERROR['INVALID_COMMAND', 'SUBMIT_JOB needs 3 NUL-separated arguments, got 1']"],
)
def too_few_arguments(s: Script) -> None:
    """SUBMIT_JOB whose body has no NUL separators.

    Difference not in gear's list; it follows survey §7 #12 and gear's
    unknown-type fix: gear answers ERROR INVALID_COMMAND and keeps the
    connection; C closes it.
    """
    s.conn("client").send(P.SUBMIT_JOB, b"no-separators")


@case(
    c=["worker< ERROR['INVALID_COMMAND', 'Command not expected']"],
    gear=["worker< -"],
)
def all_yours(s: Script) -> None:
    """ALL_YOURS from a worker.

    Documented gear difference: gear accepts it silently; C answers ERROR
    INVALID_COMMAND (survey §1.2: implemented nowhere).
    """
    w = s.conn("worker")
    w.send(P.CAN_DO, s.fn("f"))
    w.send(P.ALL_YOURS)


@case(
    c=["client< ERROR['INVALID_COMMAND', 'Command not expected']"],
    gear=["client< JOB_CREATED['H:<1>']"],
)
def submit_job_sched(s: Script) -> None:
    """SUBMIT_JOB_SCHED (cron fields, every minute).

    Documented gear difference: gear supports it (a scheduled background
    job); C 1.1.20 answers ERROR INVALID_COMMAND.
    """
    stars = (b"*",) * 5
    s.conn("client").send(P.SUBMIT_JOB_SCHED, s.fn("f"), b"", *stars, b"cron")


# ---------------------------------------------------------- worker identity --
@case(fresh=True)
def set_client_id(s: Script) -> None:
    """SET_CLIENT_ID is shown by workers (no reply); a 200-byte id is cut to 127."""
    a, w, w2 = s.conn("admin"), s.conn("worker"), s.conn("long")
    w.send(P.SET_CLIENT_ID, b"my-worker")
    w.send(P.CAN_DO, s.fn("f"))
    w2.send(P.SET_CLIENT_ID, b"x" * 200)
    a.admin("workers")
    w.send(P.SET_CLIENT_ID, b"renamed")
    a.admin("workers")


@case(
    fresh=True,
    c=["admin< '<fd> 127.0.0.1 - :\\n<fd> 127.0.0.1 a b\\tc : ~f\\n.\\n'"],
    gear=["admin< '<fd> 127.0.0.1 - :\\n<fd> 127.0.0.1 a_b_c : ~f\\n.\\n'"],
)
def set_client_id_with_spaces(s: Script) -> None:
    """SET_CLIENT_ID containing a space and a tab.

    Documented gear fix (survey §7 #14): gear joins the words with '_' so
    ``workers`` stays parsable; C shows the id verbatim.
    """
    a, w = s.conn("admin"), s.conn("worker")
    w.send(P.SET_CLIENT_ID, b"a b\tc")
    w.send(P.CAN_DO, s.fn("f"))
    a.admin("workers")


@case(
    fresh=True,
    c=[
        "admin< '<fd> 127.0.0.1 - :\\n<fd> 127.0.0.1 - : ~f ~g ~f\\n.\\n'",
        "admin< '~f\\t0\\t0\\t2\\n~g\\t0\\t0\\t1\\n.\\n'",
    ],
    gear=[
        "admin< '<fd> 127.0.0.1 - :\\n<fd> 127.0.0.1 - : ~g ~f\\n.\\n'",
        "admin< '~f\\t0\\t0\\t1\\n~g\\t0\\t0\\t1\\n.\\n'",
    ],
)
def duplicate_can_do(s: Script) -> None:
    """CAN_DO f, CAN_DO g, CAN_DO f again.

    Documented gear fix (survey §1.2, §7 #6): gear counts the worker once per
    function; C lists f twice and counts two workers for it.
    """
    a, w = s.conn("admin"), s.conn("worker")
    for name in ("f", "g", "f"):
        w.send(P.CAN_DO, s.fn(name))
    a.admin("workers")
    a.admin("status")


@case()
def can_do_timeout_registers(s: Script) -> None:
    """CAN_DO_TIMEOUT registers the function like CAN_DO (no reply; counted; grabs work)."""
    f, c, w, a = s.fn("f"), s.conn("client"), s.conn("worker"), s.conn("admin")
    w.send(P.CAN_DO_TIMEOUT, f, b"60000")
    a.admin("status")
    c.submit(f, b"x", ptype=P.SUBMIT_JOB_BG)
    w.send(P.GRAB_JOB)
    a.admin("status")


@case()
def reset_abilities(s: Script) -> None:
    """RESET_ABILITIES forgets every function: no more jobs, not counted as a worker."""
    f, g, c, w, a = s.fn("f"), s.fn("g"), s.conn("client"), s.conn("worker"), s.conn("admin")
    w.send(P.CAN_DO, f)
    w.send(P.CAN_DO, g)
    c.submit(f, b"x", ptype=P.SUBMIT_JOB_BG)
    w.send(P.RESET_ABILITIES)
    a.admin("status")
    w.send(P.GRAB_JOB)
    w.send(P.CANT_DO, f)


# ------------------------------------------------------------- disconnects --
@case(fresh=True)
def worker_disconnect_requeues(s: Script) -> None:
    """A worker that disconnects mid-job: the job is requeued (status reset, retries 1),
    a sleeping worker is woken, runs it under the same handle, and the client gets it."""
    f, a, c = s.fn("f"), s.conn("admin"), s.conn("client")
    w, w2 = s.conn("worker"), s.conn("spare")
    handle = c.submit(f, b"x")
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)
    w.send(P.WORK_STATUS, handle, b"5", b"9")
    w2.send(P.CAN_DO, f)
    w2.send(P.PRE_SLEEP)
    w.close()
    s.wait_gone(a, 3)
    w2.barrier()
    c.send(P.GET_STATUS, handle)
    a.admin("status")
    w2.send(P.GRAB_JOB_UNIQ)
    w2.send(P.WORK_COMPLETE, handle, b"ok")
    c.barrier()


@case(
    fresh=True,
    c=[
        "admin< '~f\\t1\\t0\\t0\\n.\\n'",
        "admin< '~f\\t0\\t1\\t0\\t0\\n.\\n'",
        "admin< 'H:<1>\\t0\\t1\\t0\\n.\\n'",
    ],
    gear=[
        "admin< '~f\\t0\\t0\\t0\\n.\\n'",
        "admin< '~f\\t0\\t0\\t0\\t0\\n.\\n'",
        "admin< '.\\n'",
    ],
)
def fg_client_leaves_queued_job(s: Script) -> None:
    """The only client of a queued fg job disconnects; nobody gets the job.

    Documented gear fix (survey §1.3, §7 #2; gear/server/state.py): gear
    drops the job at once; C keeps counting it (and lists it as ignored)
    until a worker reaches it.
    """
    f, a, c, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("worker")
    c.submit(f, b"x")
    c.close()
    s.wait_gone(a, 2)
    a.admin("status")
    a.admin("prioritystatus")
    a.admin("show jobs")
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)
    a.admin("status")


@case(
    fresh=True,
    c=["worker< NO_JOB", "admin< '~f\\t0\\t0\\t1\\n.\\n'"],
    gear=["worker< JOB_ASSIGN['H:<1>', '~f', 'x']", "admin< '~f\\t1\\t1\\t1\\n.\\n'"],
)
def bg_survives_fg_client_leaving(s: Script) -> None:
    """A bg submit coalesced onto a fg job, then the fg client disconnects.

    Documented gear fix (survey §1.3, §7 #1): the background submit pins the
    job, so a worker still gets it; C drops the job with the fg client.
    """
    f, a, c, b, w = s.fn("f"), s.conn("admin"), s.conn("client"), s.conn("bg"), s.conn("worker")
    c.submit(f, b"x", b"u")
    b.submit(f, b"x", b"u", P.SUBMIT_JOB_BG)
    c.close()
    s.wait_gone(a, 3)
    w.send(P.CAN_DO, f)
    w.send(P.GRAB_JOB)
    a.admin("status")
