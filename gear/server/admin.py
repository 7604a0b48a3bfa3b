"""The text admin protocol on the server side: C gearmand's commands and gear's.

Strategy: ``AdminCommands.run(session, line)`` parses one line and returns
the reply bytes.  Replies to C gearmand's commands are byte-identical to
gearmand 1.1.20 (each branch below names the command it mirrors); gear's
extensions (``show queue``, ``show workers``, ``show functions``, ``show maxqueue``, ``stats``,
``shutdown``) use new words so that no existing reply changes shape.  Their
formats are documented in docs/admin-protocol.md.  Values that may hold
spaces, tabs or newlines (uniques) are percent-escaped in extension replies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gear.protocol import admin as fmt
from gear.protocol.constants import Priority
from gear.server.broker import Broker
from gear.server.state import Job, Session

_PRIORITY_NAMES: dict[int, bytes] = {
    Priority.HIGH: b"high",
    Priority.NORMAL: b"normal",
    Priority.LOW: b"low",
}


@dataclass
class ServerInfo:
    """What the admin commands report about the server process."""

    pid: int
    version: str
    log_level: str = "ERROR"
    allow_shutdown: bool = False
    #: called with graceful=True/False when ``shutdown`` is accepted
    request_shutdown: Callable[[bool], None] | None = None


def _escape(raw: bytes) -> bytes:
    """Percent-escape the bytes that would break a tab-separated line; empty is ``-``."""
    if not raw:
        return b"-"
    if raw == b"-":
        return b"%2D"  # a literal '-' must not read as "empty"
    out = bytearray()
    for byte in raw:
        if byte <= 32 or byte in (37, 127):
            out += b"%%%02X" % byte
        else:
            out.append(byte)
    return bytes(out)


class AdminCommands:
    """Answers admin lines from the broker's state."""

    def __init__(self, broker: Broker, info: ServerInfo) -> None:
        self.broker = broker
        self.info = info
        self._simple: dict[bytes, Callable[[Session, list[bytes]], bytes]] = {
            b"workers": self._workers,
            b"status": self._status,
            b"prioritystatus": self._priority_status,
            b"show": self._show,
            b"cancel": self._cancel,
            b"create": self._create,
            b"drop": self._drop,
            b"maxqueue": self._maxqueue,
            b"getpid": lambda s, a: fmt.ok_value(str(self.info.pid)),
            b"verbose": lambda s, a: fmt.ok_value(self.info.log_level),
            b"version": lambda s, a: fmt.ok_value(self.info.version),
            b"stats": self._stats,
            b"shutdown": self._shutdown,
        }

    def run(self, s: Session, line: bytes) -> bytes:
        """The reply to one admin line."""
        words = fmt.split_command(line)
        if not words or line.startswith(b" "):
            # C gearmand does not skip leading spaces: its command word is empty
            return fmt.err("UNKNOWN_COMMAND", "Unknown server command")
        handler = self._simple.get(words[0].lower())
        if handler is None:
            return _unknown(words[0])
        grants = s.grants
        if grants is not None and not grants.may_admin(words[0]):
            word = words[0].decode("utf-8", "replace")
            return fmt.err("PERMISSION_DENIED", f"{word} is not allowed from this peer")
        return handler(s, words)

    # ------------------------------------------------- C gearmand 1.1.20 --
    def _workers(self, s: Session, words: list[bytes]) -> bytes:
        lines = []
        for sess in self.broker.sessions.values():
            names = b"".join(b" " + f.name for f in reversed(sess.funcs))
            lines.append(b"%d %s %s :%s" % (sess.fd, sess.peer.encode(), sess.client_id, names))
        return fmt.block(lines)

    def _status(self, s: Session, words: list[bytes]) -> bytes:
        return fmt.block(
            [
                b"%s\t%d\t%d\t%d" % (f.name, f.total, f.running, len(f.workers))
                for f in self.broker.functions.values()
            ]
        )

    def _priority_status(self, s: Session, words: list[bytes]) -> bytes:
        lines = []
        for f in self.broker.functions.values():
            high, normal, low = f.queued
            normal += f.scheduled
            lines.append(b"%s\t%d\t%d\t%d\t%d" % (f.name, high, normal, low, len(f.workers)))
        return fmt.block(lines)

    def _show(self, s: Session, words: list[bytes]) -> bytes:
        if len(words) < 2:
            return _unknown(words[0])
        what = [w.lower() for w in words[1:]]
        if what == [b"jobs"]:
            return fmt.block([_show_jobs_line(j) for j in self.broker.jobs.values()])
        if what == [b"unique", b"jobs"]:
            return fmt.block([j.unique for j in self.broker.jobs.values()])
        if what[0] == b"queue" and len(what) <= 2:
            return self._show_queue(words[2] if len(words) > 2 else None)
        if what == [b"workers"]:
            return self._show_workers()
        if what == [b"functions"]:
            return fmt.block(
                [
                    b"%s\t%d\t%d" % (f.name, f.submitted, f.finished)
                    for f in self.broker.functions.values()
                ]
            )
        if what == [b"maxqueue"]:
            return fmt.block(
                [
                    b"%s\t%d\t%d\t%d" % (name, *limits)
                    for name, limits in self.broker.max_queue.items()
                ]
            )
        return b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"

    def _cancel(self, s: Session, words: list[bytes]) -> bytes:
        if len(words) < 3:
            return _unknown(words[0])
        if len(words) != 3 or words[1].lower() != b"job":
            return b"ERR UNKNOWN_ERROR\r\n"
        return fmt.OK if self.broker.cancel(words[2]) else b"ERR UNKNOWN_JOB\r\n"

    def _create(self, s: Session, words: list[bytes]) -> bytes:
        if len(words) != 3 or words[1].lower() != b"function":
            return _incomplete(words[0])
        self.broker.function(words[2])
        return fmt.OK

    def _drop(self, s: Session, words: list[bytes]) -> bytes:
        if len(words) != 3 or words[1].lower() != b"function":
            return _incomplete(words[0])
        reason = self.broker.drop_function(words[2])
        return fmt.OK if reason is None else b"ERR " + reason.encode() + b"\r\n"

    def _maxqueue(self, s: Session, words: list[bytes]) -> bytes:
        if len(words) == 1:
            return _incomplete(words[0])
        sizes = [max(_int(w), 0) for w in words[2:5]]
        if len(sizes) < 3:
            first = sizes[0] if sizes else 0
            sizes = [first, first, first]
        self.broker.set_max_queue(words[1], (sizes[0], sizes[1], sizes[2]))
        return fmt.OK

    # ---------------------------------------------------------- gear only --
    def _show_queue(self, name: bytes | None) -> bytes:
        now = self.broker.clock()
        lines = [
            _queue_line(job, now)
            for job in self.broker.jobs.values()
            if name is None or job.function.name == name
        ]
        return fmt.block(lines)

    def _show_workers(self) -> bytes:
        now = self.broker.clock()
        lines = []
        for sess in self.broker.sessions.values():
            if not sess.funcs:
                continue
            if sess.running:
                state, handles = b"busy", b",".join(sess.running)
            else:
                state, handles = (b"sleeping" if sess.sleeping else b"awake"), b"-"
            lines.append(
                b"%d\t%s\t%s\t%s\t%.3f\t%s\t%.3f\t%s"
                % (
                    sess.fd,
                    sess.peer.encode(),
                    sess.client_id,
                    state,
                    now - sess.state_since,
                    handles,
                    now - sess.connected,
                    b" ".join(f.name for f in sess.funcs),
                )
            )
        return fmt.block(lines)

    def _stats(self, s: Session, words: list[bytes]) -> bytes:
        b = self.broker
        st = b.stats
        funcs = b.functions.values()
        values = {
            "uptime": f"{b.clock() - st.started:.3f}",
            "pid": str(self.info.pid),
            "version": self.info.version,
            "connections": str(len(b.sessions)),
            "connections_total": str(st.connections_total),
            "workers": str(sum(1 for x in b.sessions.values() if x.funcs)),
            "functions": str(len(b.functions)),
            "jobs_queued": str(sum(f.runnable for f in funcs)),
            "jobs_scheduled": str(sum(f.scheduled for f in funcs)),
            "jobs_running": str(sum(f.running for f in funcs)),
            "jobs_submitted": str(st.jobs_submitted),
            "jobs_completed": str(st.jobs_completed),
            "jobs_failed": str(st.jobs_failed),
            "jobs_exceptions": str(st.jobs_exceptions),
            "jobs_cancelled": str(st.jobs_cancelled),
            "jobs_requeued": str(st.jobs_requeued),
            "jobs_timed_out": str(st.jobs_timed_out),
            "store_errors": str(st.store_errors),
        }
        return fmt.block([f"{k}\t{v}".encode() for k, v in values.items()])

    def _shutdown(self, s: Session, words: list[bytes]) -> bytes:
        if not self.info.allow_shutdown or self.info.request_shutdown is None:
            return fmt.err("SHUTDOWN_DISABLED", "start the server with --allow-shutdown")
        if len(words) == 1:
            graceful = False
        elif len(words) == 2 and words[1].lower() == b"graceful":
            graceful = True
        else:
            return _incomplete(words[0])
        self.info.request_shutdown(graceful)
        return fmt.OK


def _show_jobs_line(job: Job) -> bytes:
    """C's columns: handle, retries, ignore_job, job_queued (C sets it for background jobs)."""
    running = job.worker is not None
    retries = job.attempts - 1 if running else job.attempts
    return b"%s\t%d\t0\t%d" % (job.handle, max(retries, 0), 1 if job.background else 0)


def _queue_line(job: Job, now: float) -> bytes:
    if job.worker is not None:
        state = b"running"
    elif job.queued:
        state = b"queued"
    else:
        state = b"scheduled"
    return b"%s\t%s\t%s\t%s\t%s\t%.3f\t%d\t%d\t%d\t%d" % (
        job.handle,
        job.function.name,
        _escape(job.unique),
        _PRIORITY_NAMES[job.priority],
        state,
        now - job.created,
        len(job.data),
        len(job.clients),
        1 if job.background else 0,
        int(job.when),
    )


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0


def _unknown(word: bytes) -> bytes:
    return b"ERR UNKNOWN_COMMAND Unknown+server+command" + word + b"\r\n"


def _incomplete(word: bytes) -> bytes:
    return (
        b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+"
        + word
        + b"\r\n"
    )
