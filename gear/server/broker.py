"""The routing core of the job server: the packet handlers.  Pure, no I/O.

Strategy: the I/O shell calls ``connect``/``disconnect`` per connection and
dispatches each decoded packet through ``handlers`` (a list indexed by type
number).  Replies go into each session's ``out`` list and the session onto
``dirty``; the shell writes every dirty session's bytes once per batch of
input (one ``write`` per connection per batch).  Time comes from the
injected ``clock``; timers (epoch jobs, job timeouts) live in one heap whose
earliest deadline the shell asks for with ``next_deadline`` and fires with
``on_timer``.  State and shared operations are in ``gear.server.core``.

Scheduling follows gearmand 2.0: priority is global across a worker's
functions (HIGH, then NORMAL, then LOW), FIFO within a priority, and a
worker's functions are scanned round-robin so no function starves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gear.protocol.constants import (
    HEADER,
    MAX_CLIENT_ID,
    MAX_FUNCTION,
    MAX_UNIQUE,
    PT,
    RES,
    SUBMIT_KINDS,
    SUBMIT_TYPE,
    ErrorCode,
    PacketType,
)
from gear.protocol.packets import Frame, response
from gear.server.core import (
    TIMER_DUE,
    TIMER_TIMEOUT,
    BrokerConfig,
    BrokerCore,
    c_atoi,
    c_u32,
    can_do_timeout,
)
from gear.server.cron import CronError, next_run
from gear.server.state import Function, Job, Session
from gear.server.store import Store

__all__ = ["Broker", "BrokerConfig"]

P = PacketType
_NO_JOB: Final = response(P.NO_JOB)
_pack_header: Final = HEADER.pack
#: (priority, background) of the six plain submit packets, by type number
_PLAIN_SUBMITS: Final[dict[int, tuple[int, bool]]] = {
    int(t): (int(pr), bg) for (pr, bg), t in SUBMIT_TYPE.items()
}


_UNKNOWN_JOB_DEFAULT: Final = "Job given in work result not found"
#: the packets that end a worker's job
_WORK_ENDS: Final = (P.WORK_COMPLETE, P.WORK_FAIL, P.WORK_EXCEPTION)
_UNKNOWN_JOB_TEXT: Final[dict[int, str]] = {
    P.WORK_DATA: "Job does not exist on server",
    P.WORK_WARNING: "Job does not exist on server",
    P.WORK_EXCEPTION: "An exception was received for a job that does not exist",
}


def _relayed(ptype: int, args: tuple[bytes, ...]) -> bytes:
    """A worker's packet as the response its clients get (same type and arguments).

    ``response(ptype, *args)`` would do, but compiled code calls a function
    with ``*args`` through its Python-level entry point (perf: 2.4% of the
    server's samples in fg); a fixed signature is a native call.
    """
    body = b"\0".join(args)
    return _pack_header(RES, ptype, len(body)) + body


class Broker(BrokerCore):
    """Job routing state and the rules of the Gearman protocol."""

    def __init__(
        self,
        config: BrokerConfig,
        clock: Callable[[], float],
        store: Store | None = None,
    ) -> None:
        super().__init__(config, clock, store)
        #: request handlers indexed by packet type
        self.handlers = self._handler_table()

    def disconnect(self, s: Session) -> None:
        """Forget a connection: its waits, its abilities and its running jobs."""
        if self.sessions.pop(s.id, None) is None:
            return
        for job in list(s.waiting.values()):
            self._detach_client(job, s)
        s.waiting.clear()
        self._release(s, rewake=False)
        self._stop_sleeping(s)
        funcs = s.funcs
        for f in funcs:
            f.workers.pop(s, None)
        s.abilities.clear()
        s.funcs = ()
        for job in list(s.running.values()):
            self._requeue(job)
        s.running.clear()
        for f in funcs:
            if f.sleepers and f.runnable > f.promised:
                self._wake(f)
        s.out.clear()

    def handle_packet(self, s: Session, packet: Frame) -> None:
        """Act on one request packet from a session."""
        self.handlers[packet[0]](s, packet)

    def _not_expected(self, s: Session, packet: Frame) -> None:
        self.error(s, ErrorCode.INVALID_COMMAND, "Command not expected")

    def _handler_table(self) -> list[Callable[[Session, Frame], None]]:
        """Handlers indexed by packet type number (a list: the fastest lookup)."""
        table: dict[int, Callable[[Session, Frame], None]] = {
            P.CAN_DO: self._can_do,
            P.CAN_DO_TIMEOUT: self._can_do,
            P.CANT_DO: self._cant_do,
            P.RESET_ABILITIES: self._reset_abilities,
            P.PRE_SLEEP: self._pre_sleep,
            P.GRAB_JOB: self._grab,
            P.GRAB_JOB_UNIQ: self._grab,
            P.GRAB_JOB_ALL: self._grab,
            P.WORK_STATUS: self._work_update,
            P.WORK_DATA: self._work_update,
            P.WORK_WARNING: self._work_update,
            P.WORK_COMPLETE: self._work_end,
            P.WORK_FAIL: self._work_end,
            P.WORK_EXCEPTION: self._work_end,
            P.GET_STATUS: self._get_status,
            P.GET_STATUS_UNIQUE: self._get_status_unique,
            P.ECHO_REQ: self._echo,
            P.OPTION_REQ: self._option,
            P.SET_CLIENT_ID: self._set_client_id,
            P.ALL_YOURS: self._all_yours,
        }
        for ptype in SUBMIT_KINDS:
            table[ptype] = self._submit
        return [table.get(n, self._not_expected) for n in range(max(P) + 1)]

    # -------------------------------------------------------------- submit --
    def _submit(self, s: Session, packet: Frame) -> None:
        ptype, args = packet
        kind = _PLAIN_SUBMITS.get(ptype)
        if kind is not None:
            self.submit(s, args[0], args[1], args[2], kind[0], kind[1])
            return
        priority, background = SUBMIT_KINDS[ptype]
        when = 0.0
        reducer = b""
        if ptype == PT.SUBMIT_JOB_EPOCH:
            when = float(c_atoi(args[2]))
        elif ptype == PT.SUBMIT_JOB_SCHED:
            try:
                when = next_run([a.decode("ascii", "replace") for a in args[2:7]], self.clock())
            except CronError as exc:
                self.error(s, ErrorCode.INVALID_ARGUMENT, f"Bad schedule: {exc}")
                return
        else:
            reducer = args[2]
        self.submit(s, args[0], args[1], args[-1], priority, background, when, reducer)

    def submit(
        self,
        s: Session,
        name: bytes,
        unique: bytes,
        data: bytes,
        priority: int,
        background: bool,
        when: float = 0.0,
        reducer: bytes = b"",
    ) -> Job | None:
        """Create a job (or join an existing one with the same unique) for ``s``."""
        if not 0 < len(name) <= MAX_FUNCTION or len(unique) > MAX_UNIQUE:
            self._invalid_submit(s, name, unique)
            return None
        f = self.functions.get(name) or self.function(name)
        key = data if unique == b"-" else unique
        if key:
            existing = f.uniques.get(key)
            if existing is not None:
                f.tallies[priority].coalesced += 1
                self._coalesce(s, existing, background)
                return existing
        limit = f.max_queue[priority]
        if limit and f.total >= limit:
            self.error(s, ErrorCode.QUEUE_ERROR, "Job queue is full")
            return None
        self._next_id += 1
        handle = b"%s%d" % (self._handle_prefix, self._next_id)
        now = self.clock()
        job = Job(handle, f, unique, key, data, priority, background, now)
        self.jobs[handle] = job
        if key:
            f.uniques[key] = job
        if not background:
            job.clients.append(s)
            s.waiting[handle] = job
        self.stats.jobs_submitted += 1
        f.submitted += 1
        f.tallies[priority].submitted += 1
        if reducer:
            job.reducer = reducer
        if when:
            job.when = when
        if background and self._durable:
            job.acks = [s]
            self.store.add(job, lambda error: self._stored(job, error))
            return job
        job.admitted = True
        out = s.out
        if not out:
            self.dirty.append(s)
        out.append(_pack_header(RES, PT.JOB_CREATED, len(handle)) + handle)
        if when > now:
            f.scheduled += 1
            self._push_timer(when, TIMER_DUE, job)
            return job
        # _enqueue(job, head=False), inlined: this is the path of every new job
        job.queued = True
        f.queues[priority].append(job)
        f.queued[priority] += 1
        if f.sleepers:
            self._wake(f)
        return job

    def _invalid_submit(self, s: Session, name: bytes, unique: bytes) -> None:
        if len(unique) > MAX_UNIQUE:
            self.error(s, ErrorCode.ARGUMENT_TOO_LARGE, "Unique value too large")
        elif len(name) > MAX_FUNCTION:
            self.error(s, ErrorCode.ARGUMENT_TOO_LARGE, "Function name too large")
        else:
            self.error(s, ErrorCode.INVALID_ARGUMENT, "Function name is empty")

    def _coalesce(self, s: Session, job: Job, background: bool) -> None:
        if background:
            if self._durable and not job.stored:
                self._pin_durably(s, job)
                return
            job.background = True
        elif s not in job.clients:
            job.clients.append(s)
            s.waiting[job.handle] = job
        self.send(s, response(PT.JOB_CREATED, job.handle))

    # ------------------------------------------------------------- workers --
    def _can_do(self, s: Session, packet: Frame) -> None:
        name = packet[1][0]
        if not name or len(name) > MAX_FUNCTION:
            self.error(s, ErrorCode.INVALID_ARGUMENT, "Function name is empty or too large")
            return
        timeout = 0.0
        if packet[0] == PT.CAN_DO_TIMEOUT:
            timeout = can_do_timeout(packet[1][1], self.config.timeout_unit)
        f = self.function(name)
        if f in s.abilities:
            s.abilities[f] = timeout
            return
        self._release(s, rewake=True)
        s.abilities[f] = timeout
        s.funcs = tuple(s.abilities)
        f.workers[s] = None
        if s.sleeping:
            f.sleepers[s] = None
            if f.runnable > f.promised:
                self._wake(f)

    def _cant_do(self, s: Session, packet: Frame) -> None:
        f = self.functions.get(packet[1][0])
        if f is None or f not in s.abilities:
            return
        self._remove_abilities(s, [f])

    def _reset_abilities(self, s: Session, packet: Frame) -> None:
        self._remove_abilities(s, list(s.abilities))

    def _remove_abilities(self, s: Session, funcs: list[Function]) -> None:
        """CANT_DO / RESET_ABILITIES: no more jobs of ``funcs`` for ``s``.

        Jobs it is running stay its own: it may still finish them (their
        WORK_COMPLETE reaches the clients), and they are queued again only
        if it disconnects first.
        """
        self._release(s, rewake=True)
        for f in funcs:
            del s.abilities[f]
            f.workers.pop(s, None)
            f.sleepers.pop(s, None)
        s.funcs = tuple(s.abilities)

    def _pre_sleep(self, s: Session, packet: Frame) -> None:
        self._release(s, rewake=True)
        if s.sleeping:
            return
        for f in s.funcs:
            if f.runnable > f.promised:
                self._noop(s)
                return
        s.sleeping = True
        s.state_since = self.clock()
        for f in s.funcs:
            f.sleepers[s] = None

    def _grab(self, s: Session, packet: Frame) -> None:
        if s.woken:
            s.woken = False
            for f in s.funcs:
                f.promised -= 1
            job = self._next_job(s)
            for f in s.funcs:
                if f.sleepers and f.runnable > f.promised:
                    self._wake(f)
        else:
            if s.sleeping:
                self._stop_sleeping(s)
            job = self._next_job(s)
        if job is None:
            self.send(s, _NO_JOB)
            return
        self._assign(s, job, packet[0])

    def _assign(self, s: Session, job: Job, grab_type: int) -> None:
        f = job.function
        handle = job.handle
        job.worker = s
        job.attempts += 1
        now = self.clock()
        job.started = now
        if job.attempts == 1:
            f.queue_wait.observe(now - (job.when if job.when > job.created else job.created))
        s.state_since = now
        f.running += 1
        s.running[handle] = job
        if job.stored or job.acks is not None:
            self.store.started(job)
        timeout = s.abilities[f]
        if timeout:
            self._push_timer(now + timeout, TIMER_TIMEOUT, job)
        if grab_type == PT.GRAB_JOB:
            ptype, body = PT.JOB_ASSIGN, b"\0".join((handle, f.name, job.data))
        elif grab_type == PT.GRAB_JOB_ALL and job.reducer:
            ptype = PT.JOB_ASSIGN_ALL
            body = b"\0".join((handle, f.name, job.unique, job.reducer, job.data))
        else:
            ptype, body = PT.JOB_ASSIGN_UNIQ, b"\0".join((handle, f.name, job.unique, job.data))
        out = s.out
        if not out:
            self.dirty.append(s)
        out.append(_pack_header(RES, ptype, len(body)) + body)

    # -------------------------------------------------------- work results --
    def _work_update(self, s: Session, packet: Frame) -> None:
        job = s.running.get(packet[1][0])
        if job is None:
            self._unknown_job(s, packet[0], packet[1][0])
            return
        if packet[0] == PT.WORK_STATUS:
            job.numerator = c_u32(packet[1][1])
            job.denominator = c_u32(packet[1][2])
        if job.clients:
            out = _relayed(packet[0], packet[1])
            for client in job.clients:
                self.send(client, out)

    def _unknown_job(self, s: Session, ptype: int, handle: bytes) -> None:
        """ERROR JOB_NOT_FOUND with C gearmand's text for each packet type.

        A job that was taken from this worker (see ``BrokerCore._abandon``)
        is no error: its late packets are dropped, and its last one
        (COMPLETE, FAIL or EXCEPTION) forgets it.
        """
        abandoned = s.abandoned
        if abandoned is not None and handle in abandoned:
            if ptype in _WORK_ENDS:
                del abandoned[handle]
            return
        self.error(s, ErrorCode.JOB_NOT_FOUND, _UNKNOWN_JOB_TEXT.get(ptype, _UNKNOWN_JOB_DEFAULT))

    def _work_end(self, s: Session, packet: Frame) -> None:
        ptype, args = packet
        job = s.running.pop(args[0], None)
        if job is None:
            self._unknown_job(s, ptype, args[0])
            return
        f = job.function
        f.running -= 1
        job.worker = None
        job.timer_seq += 1
        now = self.clock()
        s.state_since = now
        f.run_time.observe(now - job.started)
        stats = self.stats
        tally = f.tallies[job.priority]
        if ptype == PT.WORK_COMPLETE:
            stats.jobs_completed += 1
            tally.completed += 1
        elif ptype == PT.WORK_FAIL:
            stats.jobs_failed += 1
            tally.failed += 1
        else:
            stats.jobs_exceptions += 1
            tally.exceptions += 1
        if ptype == PT.WORK_EXCEPTION:
            # some workers (Perl's, older libgearman) follow it with WORK_FAIL
            self._abandon(s, job.handle)
        if job.clients:
            out = _relayed(ptype, args)
            if ptype == PT.WORK_EXCEPTION:
                self._end(job, response(PT.WORK_FAIL, job.handle), out)
            else:
                self._end(job, out, out)
            return
        if job.stored or job.acks is not None:
            self.store.remove(job)
        self._forget(job)

    def _detach_client(self, job: Job, s: Session) -> None:
        if s in job.clients:
            job.clients.remove(s)
        if job.clients or job.background:
            return
        if job.queued:
            self._unqueue(job)
            self._forget(job)

    # ------------------------------------------------------ status, misc ----
    def _get_status(self, s: Session, packet: Frame) -> None:
        handle = packet[1][0]
        job = self.jobs.get(handle)
        if job is None:
            self.send(s, response(PT.STATUS_RES, handle, b"0", b"0", b"0", b"0"))
            return
        running = b"1" if job.worker is not None else b"0"
        num, den = str(job.numerator).encode(), str(job.denominator).encode()
        self.send(s, response(PT.STATUS_RES, handle, b"1", running, num, den))

    def _get_status_unique(self, s: Session, packet: Frame) -> None:
        unique = packet[1][0]
        job = None
        for f in self.functions.values():
            job = f.uniques.get(unique)
            if job is not None:
                break
        if job is None:
            self.send(s, response(PT.STATUS_RES_UNIQUE, unique, b"0", b"0", b"0", b"0", b"0"))
            return
        fields = (
            b"1",
            b"1" if job.worker is not None else b"0",
            str(job.numerator).encode(),
            str(job.denominator).encode(),
            str(len(job.clients)).encode(),
        )
        self.send(s, response(PT.STATUS_RES_UNIQUE, unique, *fields))

    def _echo(self, s: Session, packet: Frame) -> None:
        data = packet[1][0]
        out = s.out
        if not out:
            self.dirty.append(s)
        out.append(_pack_header(RES, PT.ECHO_RES, len(data)) + data)

    def _option(self, s: Session, packet: Frame) -> None:
        option = packet[1][0]
        if self.config.exceptions and option.lower() == b"exceptions":
            s.exceptions = True
            self.send(s, response(PT.OPTION_RES, option))
        else:
            self.error(s, ErrorCode.UNKNOWN_OPTION, "Server does not recognize given option")

    def _set_client_id(self, s: Session, packet: Frame) -> None:
        words = packet[1][0][:MAX_CLIENT_ID].split()
        s.client_id = b"_".join(words) or b"-"

    def _all_yours(self, s: Session, packet: Frame) -> None:
        s.all_yours = True
