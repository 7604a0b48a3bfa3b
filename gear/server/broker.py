"""The routing core of the job server: the packet handlers.  Pure, no I/O.

Strategy: the I/O shell calls ``connect``/``disconnect`` per connection and
dispatches each decoded packet through ``handlers`` (a list indexed by type
number).  Replies go into each session's ``out`` list and the session onto
``dirty``; the shell writes them (``gear.server.server``: at once to a
worker that asked, or once per batch of input for each connection).  Time comes from the
injected ``clock``.

``Broker`` composes three parts, each small enough to read alone:

* ``gear.server.jobs``: the job table (functions, jobs, queues, handles)
  and the timer heap;
* ``gear.server.dispatch``: session output, the worker registry and the
  sleep / wake-up cycle;
* ``gear.server.lifecycle``: the steps of a job's life the handlers share
  (queue and wake, durable acknowledgements, requeue, end, cancel, timers).

The handlers below are the protocol's rules written with those parts.  The
per-job path (submit, grab, assign, complete) builds its replies inline:
each call saved there is measured in ``gear bench`` fg.
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
from gear.server.cron import CronError, next_run
from gear.server.dispatch import Dispatch, Outbox
from gear.server.jobs import TIMER_DUE, TIMER_TIMEOUT, JobTable
from gear.server.lifecycle import BrokerConfig, Lifecycle
from gear.server.state import Function, Job, Session
from gear.server.stats import Stats
from gear.server.store import MemoryStore, Store, StoredJob

__all__ = ["Broker", "BrokerConfig", "c_atoi", "c_u32", "can_do_timeout"]

_NO_JOB: Final = response(PT.NO_JOB)
_pack_header: Final = HEADER.pack
#: (priority, background) of the six plain submit packets, by type number
_PLAIN_SUBMITS: Final[dict[int, tuple[int, bool]]] = {
    int(t): (int(pr), bg) for (pr, bg), t in SUBMIT_TYPE.items()
}
_UNKNOWN_JOB_DEFAULT: Final = "Job given in work result not found"
#: the packets that end a worker's job
_WORK_ENDS: Final = (PT.WORK_COMPLETE, PT.WORK_FAIL, PT.WORK_EXCEPTION)
_UNKNOWN_JOB_TEXT: Final[dict[int, str]] = {
    PT.WORK_DATA: "Job does not exist on server",
    PT.WORK_WARNING: "Job does not exist on server",
    PT.WORK_EXCEPTION: "An exception was received for a job that does not exist",
}


def c_u32(raw: bytes) -> int:
    """C's ``(uint32_t)atoi(raw)``: how gearmand stores WORK_STATUS numbers."""
    return c_atoi(raw) & 0xFFFFFFFF


def c_atoi(raw: bytes) -> int:
    """C's atoi: the leading decimal digits (after an optional sign), else 0."""
    digits = raw.strip()
    n = 0
    sign = 1
    if digits[:1] in (b"-", b"+"):
        sign = -1 if digits[:1] == b"-" else 1
        digits = digits[1:]
    for ch in digits:
        if not 48 <= ch <= 57:
            break
        n = n * 10 + ch - 48
    return sign * n


def _relayed(ptype: int, args: tuple[bytes, ...]) -> bytes:
    """A worker's packet as the response its clients get (same type and arguments).

    ``response(ptype, *args)`` would do, but compiled code calls a function
    with ``*args`` through its Python-level entry point (perf: 2.4% of the
    server's samples in fg); a fixed signature is a native call.
    """
    body = b"\0".join(args)
    return _pack_header(RES, ptype, len(body)) + body


def can_do_timeout(raw: bytes, unit: str) -> float:
    """The seconds a CAN_DO_TIMEOUT value allows a job to run (0 = no limit).

    The protocol names no unit.  libgearman passes the caller's number
    through and C gearmand reads milliseconds with a floor of 1000;
    Perl's Gearman::Worker, PHP's documented ``addFunction`` and
    gearman-go send seconds.  ``auto`` reads values below 1000 as seconds
    (as milliseconds C would round them all up to one second, which no
    caller can have meant) and larger ones as milliseconds.
    """
    n = c_atoi(raw)
    if n <= 0:
        return 0.0
    if unit == "s" or (unit == "auto" and n < 1000):
        return float(n)
    return max(n, 1000) / 1000.0


class Broker:
    """Job routing state and the rules of the Gearman protocol."""

    def __init__(
        self,
        config: BrokerConfig,
        clock: Callable[[], float],
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store: Store = store or MemoryStore()
        #: the store's ``durable``, read on every submit
        self._durable = self.store.durable
        self.stats = Stats(clock())
        #: connected sessions by id
        self.sessions: dict[int, Session] = {}
        self.outbox = Outbox()
        #: sessions with output waiting; the I/O shell drains it
        self.dirty = self.outbox.dirty
        self.table = JobTable(config.handle_prefix, config.first_handle_id, config.max_queue)
        self.dispatch = Dispatch(self.outbox, config.worker_wakeup)
        self.life = Lifecycle(
            config, clock, self.table, self.dispatch, self.store, self.stats, self.sessions
        )
        self.timers = self.life.timers
        self._next_session = 0
        #: request handlers indexed by packet type
        self.handlers = self._handler_table()

    # -------------------------------------------------- what the shell uses --
    @property
    def functions(self) -> dict[bytes, Function]:
        """Functions by name, in the order they were first seen."""
        return self.table.functions

    @property
    def jobs(self) -> dict[bytes, Job]:
        """Every live job by handle."""
        return self.table.jobs

    @property
    def max_queue(self) -> dict[bytes, tuple[int, int, int]]:
        """Queue limits by function name."""
        return self.table.max_queue

    @property
    def has_timers(self) -> bool:
        """Whether any timer (possibly stale) is pending."""
        return self.timers.pending

    def next_deadline(self) -> float | None:
        """When ``on_timer`` should next be called (clock seconds), if ever."""
        return self.timers.next_deadline()

    def on_timer(self) -> None:
        """Run every timer that is due: release epoch jobs, time out jobs."""
        self.life.on_timer()

    def expire_wakeups(self) -> None:
        """Take back NOOPs unanswered for a tick (``Dispatch.expire``)."""
        self.dispatch.expire(self.table.functions.values())

    @property
    def wakeups_sent(self) -> int:
        """NOOPs sent to sleeping workers since start."""
        return self.dispatch.wakeups_sent

    def send(self, s: Session, data: bytes) -> None:
        """Queue bytes for a session."""
        self.outbox.send(s, data)

    def function(self, name: bytes) -> Function:
        """The function called ``name``, created when first seen."""
        return self.table.function(name)

    def restore(self, record: StoredJob) -> Job:
        """Re-create a job read back from the store at start-up (before serving)."""
        return self.life.restore(record)

    def cancel(self, handle: bytes) -> bool:
        """Cancel a job (``Lifecycle.cancel``); False if there is none."""
        return self.life.cancel(handle)

    def set_max_queue(self, name: bytes, limits: tuple[int, int, int]) -> None:
        """Limit a function's queue, whether or not it exists yet."""
        self.table.set_max_queue(name, limits)

    def drop_function(self, name: bytes) -> str | None:
        """Forget a function; the reason it cannot be dropped, or None."""
        return self.table.drop_function(name)

    def running_count(self) -> int:
        """Jobs a worker is running right now."""
        return self.table.running_count()

    # ---------------------------------------------------------- connections --
    def connect(self, peer: str, fd: int) -> Session:
        """Register a new connection."""
        self._next_session += 1
        s = Session(self._next_session, peer, fd, self.clock())
        self.sessions[s.id] = s
        self.stats.connections_total += 1
        return s

    def disconnect(self, s: Session) -> None:
        """Forget a connection: its waits, its abilities and its running jobs."""
        if self.sessions.pop(s.id, None) is None:
            return
        for job in list(s.waiting.values()):
            self._detach_client(job, s)
        s.waiting.clear()
        funcs = self.dispatch.leave(s)
        for job in list(s.running.values()):
            self.life.requeue(job)
        s.running.clear()
        self.dispatch.wake_waiting(funcs)
        s.out.clear()

    def handle_packet(self, s: Session, packet: Frame) -> None:
        """Act on one request packet from a session.

        The per-job packets are dispatched by direct calls: compiled, those
        are C calls, where a call through ``handlers`` (a bound method in a
        list) goes through the method's Python-level entry point.
        """
        ptype = packet[0]
        if ptype == PT.GRAB_JOB:
            self._grab(s, packet)
        elif ptype == PT.WORK_COMPLETE:
            self._work_end(s, packet)
        elif ptype == PT.SUBMIT_JOB or ptype == PT.SUBMIT_JOB_BG:
            self._submit(s, packet)
        elif ptype == PT.PRE_SLEEP:
            self._pre_sleep(s, packet)
        else:
            self.handlers[ptype](s, packet)

    def _not_expected(self, s: Session, packet: Frame) -> None:
        self.outbox.error(s, ErrorCode.INVALID_COMMAND, "Command not expected")

    def _handler_table(self) -> list[Callable[[Session, Frame], None]]:
        """Handlers indexed by packet type number (a list: the fastest lookup)."""
        table: dict[int, Callable[[Session, Frame], None]] = {
            PT.CAN_DO: self._can_do,
            PT.CAN_DO_TIMEOUT: self._can_do,
            PT.CANT_DO: self._cant_do,
            PT.RESET_ABILITIES: self._reset_abilities,
            PT.PRE_SLEEP: self._pre_sleep,
            PT.GRAB_JOB: self._grab,
            PT.GRAB_JOB_UNIQ: self._grab,
            PT.GRAB_JOB_ALL: self._grab,
            PT.WORK_STATUS: self._work_update,
            PT.WORK_DATA: self._work_update,
            PT.WORK_WARNING: self._work_update,
            PT.WORK_COMPLETE: self._work_end,
            PT.WORK_FAIL: self._work_end,
            PT.WORK_EXCEPTION: self._work_end,
            PT.GET_STATUS: self._get_status,
            PT.GET_STATUS_UNIQUE: self._get_status_unique,
            PT.ECHO_REQ: self._echo,
            PT.OPTION_REQ: self._option,
            PT.SET_CLIENT_ID: self._set_client_id,
            PT.ALL_YOURS: self._all_yours,
        }
        for ptype in SUBMIT_KINDS:
            table[ptype] = self._submit
        return [table.get(n, self._not_expected) for n in range(max(PacketType) + 1)]

    # -------------------------------------------------------------- submit --
    def _submit(self, s: Session, packet: Frame) -> None:
        ptype, args = packet
        grants = s.grants
        if grants is not None and not grants.may_submit(args[0]):
            self.outbox.error(s, ErrorCode.PERMISSION_DENIED, "Permission denied by ACL")
            return
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
                self.outbox.error(s, ErrorCode.INVALID_ARGUMENT, f"Bad schedule: {exc}")
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
        table = self.table
        f = table.functions.get(name) or table.function(name)
        key = data if unique == b"-" else unique
        if key:
            existing = f.uniques.get(key)
            if existing is not None:
                f.tallies[priority].coalesced += 1
                self._coalesce(s, existing, background)
                return existing
        limit = f.max_queue[priority]
        if limit and f.total >= limit:
            self.outbox.error(s, ErrorCode.QUEUE_ERROR, "Job queue is full")
            return None
        handle = table.new_handle()
        now = self.clock()
        job = Job(handle, f, unique, key, data, priority, background, now)
        table.jobs[handle] = job
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
            self.store.add(job, lambda error: self.life.stored(job, error))
            return job
        job.admitted = True
        out = s.out
        if not out:
            self.dirty.append(s)
        out.append(_pack_header(RES, PT.JOB_CREATED, len(handle)) + handle)
        if when > now:
            f.scheduled += 1
            self.timers.push(when, TIMER_DUE, job)
            return job
        # Lifecycle.queue(job, head=False), inlined: this is the path of every new job
        job.queued = True
        f.queues[priority].append(job)
        f.queued[priority] += 1
        if f.sleepers:
            self.dispatch.wake(f)
        return job

    def _invalid_submit(self, s: Session, name: bytes, unique: bytes) -> None:
        if len(unique) > MAX_UNIQUE:
            self.outbox.error(s, ErrorCode.ARGUMENT_TOO_LARGE, "Unique value too large")
        elif len(name) > MAX_FUNCTION:
            self.outbox.error(s, ErrorCode.ARGUMENT_TOO_LARGE, "Function name too large")
        else:
            self.outbox.error(s, ErrorCode.INVALID_ARGUMENT, "Function name is empty")

    def _coalesce(self, s: Session, job: Job, background: bool) -> None:
        if background:
            if self._durable and not job.stored:
                self.life.pin_durably(s, job)
                return
            job.background = True
        elif s not in job.clients:
            job.clients.append(s)
            s.waiting[job.handle] = job
        self.outbox.send(s, response(PT.JOB_CREATED, job.handle))

    # ------------------------------------------------------------- workers --
    def _can_do(self, s: Session, packet: Frame) -> None:
        name = packet[1][0]
        if not name or len(name) > MAX_FUNCTION:
            self.outbox.error(s, ErrorCode.INVALID_ARGUMENT, "Function name is empty or too large")
            return
        grants = s.grants
        if grants is not None and not grants.may_register(name):
            # CAN_DO has no reply: the text tells clients this answers no request
            refused = response(PT.ERROR, b"PERMISSION_DENIED", b"may not register " + name)
            self.outbox.send(s, refused)
            return
        timeout = 0.0
        if packet[0] == PT.CAN_DO_TIMEOUT:
            timeout = can_do_timeout(packet[1][1], self.config.timeout_unit)
        self.dispatch.register(s, self.table.function(name), timeout)

    def _cant_do(self, s: Session, packet: Frame) -> None:
        f = self.table.functions.get(packet[1][0])
        if f is not None and f in s.abilities:
            self.dispatch.unregister(s, [f])

    def _reset_abilities(self, s: Session, packet: Frame) -> None:
        self.dispatch.unregister(s, list(s.abilities))

    def _pre_sleep(self, s: Session, packet: Frame) -> None:
        self.dispatch.sleep(s, self.clock())

    def _grab(self, s: Session, packet: Frame) -> None:
        if s.woken:
            self.dispatch.grabbed(s)
            job = self.table.next_job(s)
            self.dispatch.wake_waiting(s.funcs)
        else:
            if s.sleeping:
                self.dispatch.stop_sleeping(s)
            job = self.table.next_job(s)
        if job is None:
            self.outbox.send(s, _NO_JOB)
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
            self.timers.push(now + timeout, TIMER_TIMEOUT, job)
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
                self.outbox.send(client, out)

    def _unknown_job(self, s: Session, ptype: int, handle: bytes) -> None:
        """ERROR JOB_NOT_FOUND with C gearmand's text for each packet type.

        A job that was taken from this worker (see ``Lifecycle.abandon``)
        is no error: its late packets are dropped, and its last one
        (COMPLETE, FAIL or EXCEPTION) forgets it.
        """
        abandoned = s.abandoned
        if abandoned is not None and handle in abandoned:
            if ptype in _WORK_ENDS:
                del abandoned[handle]
            return
        text = _UNKNOWN_JOB_TEXT.get(ptype, _UNKNOWN_JOB_DEFAULT)
        self.outbox.error(s, ErrorCode.JOB_NOT_FOUND, text)

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
            # some workers (Perl's, older libgearman) follow it with WORK_FAIL
            self.life.abandon(s, job.handle)
        if not job.clients:
            self.life.drop(job)
            return
        out = _relayed(ptype, args)
        if ptype == PT.WORK_EXCEPTION:
            self.life.end(job, response(PT.WORK_FAIL, job.handle), out)
        else:
            self.life.end(job, out, out)

    def _detach_client(self, job: Job, s: Session) -> None:
        if s in job.clients:
            job.clients.remove(s)
        if job.clients or job.background:
            return
        if job.queued:
            self.table.unqueue(job)
            self.table.forget(job)

    # ------------------------------------------------------ status, misc ----
    def _get_status(self, s: Session, packet: Frame) -> None:
        handle = packet[1][0]
        job = self.table.jobs.get(handle)
        if job is None:
            self.outbox.send(s, response(PT.STATUS_RES, handle, b"0", b"0", b"0", b"0"))
            return
        running = b"1" if job.worker is not None else b"0"
        num, den = str(job.numerator).encode(), str(job.denominator).encode()
        self.outbox.send(s, response(PT.STATUS_RES, handle, b"1", running, num, den))

    def _get_status_unique(self, s: Session, packet: Frame) -> None:
        unique = packet[1][0]
        job = self.table.by_unique(unique)
        if job is None:
            reply = response(PT.STATUS_RES_UNIQUE, unique, b"0", b"0", b"0", b"0", b"0")
            self.outbox.send(s, reply)
            return
        fields = (
            b"1",
            b"1" if job.worker is not None else b"0",
            str(job.numerator).encode(),
            str(job.denominator).encode(),
            str(len(job.clients)).encode(),
        )
        self.outbox.send(s, response(PT.STATUS_RES_UNIQUE, unique, *fields))

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
            self.outbox.send(s, response(PT.OPTION_RES, option))
        else:
            text = "Server does not recognize given option"
            self.outbox.error(s, ErrorCode.UNKNOWN_OPTION, text)

    def _set_client_id(self, s: Session, packet: Frame) -> None:
        words = packet[1][0][:MAX_CLIENT_ID].split()
        s.client_id = b"_".join(words) or b"-"

    def _all_yours(self, s: Session, packet: Frame) -> None:
        s.all_yours = True
