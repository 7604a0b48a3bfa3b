"""The routing core of the job server: pure, no I/O, no asyncio.

Strategy: the I/O shell calls ``connect``/``disconnect`` per connection and
``handle_packet`` per decoded packet.  Replies go into each session's ``out``
list and the session onto ``dirty``; the shell writes every dirty session's
bytes once per batch of input (one ``write`` per connection per batch).  Time
comes from the injected ``clock``; timers (epoch jobs, job timeouts) live in
one heap whose earliest deadline the shell asks for with ``next_deadline``
and fires with ``on_timer``.

Scheduling follows gearmand 2.0: priority is global across a worker's
functions (HIGH, then NORMAL, then LOW), FIFO within a priority, and a
worker's functions are scanned round-robin so no function starves.
Wake-ups are bounded: a queued job NOOPs a sleeping worker only while the
function has more runnable jobs than woken-but-not-yet-grabbing workers
(``Function.promised``), so one job costs at most one NOOP however many
workers sleep.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from gear.protocol.constants import (
    HEADER,
    MAX_CLIENT_ID,
    MAX_FUNCTION,
    MAX_UNIQUE,
    RES,
    SUBMIT_KINDS,
    SUBMIT_TYPE,
    ErrorCode,
    PacketType,
)
from gear.protocol.packets import Packet, response
from gear.server.cron import CronError, next_run
from gear.server.state import Function, Job, Session
from gear.server.stats import Stats
from gear.server.store import MemoryStore, Store

P = PacketType
_DUE = 0
_TIMEOUT = 1
_NOOP = response(P.NOOP)
_pack_header = HEADER.pack
#: (priority, background) of the six plain submit packets, by type number
_PLAIN_SUBMITS: dict[int, tuple[int, bool]] = {
    int(t): (int(p), bg) for (p, bg), t in SUBMIT_TYPE.items()
}
_NO_JOB = response(P.NO_JOB)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The routing rules a server can tune."""

    #: handles are ``<prefix><n>``; the server builds ``H:<host>.<token>:``
    handle_prefix: bytes = b"H:localhost:"
    #: runs a job may have before it fails to its clients (-1 = no limit)
    job_retries: int = -1
    #: most NOOPs one queued job sends (0 = as many as there are runnable jobs)
    worker_wakeup: int = 0
    #: honour OPTION_REQ "exceptions"
    exceptions: bool = True


def _atoi(raw: bytes) -> int:
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
        #: functions by name, in the order they were first seen
        self.functions: dict[bytes, Function] = {}
        #: every live job by handle
        self.jobs: dict[bytes, Job] = {}
        #: connected sessions by id
        self.sessions: dict[int, Session] = {}
        #: sessions with output waiting; the I/O shell drains it
        self.dirty: list[Session] = []
        #: queue limits by function name, kept for functions not yet created
        self.max_queue: dict[bytes, tuple[int, int, int]] = {}
        self.stats = Stats(clock())
        self._timers: list[tuple[float, int, int, Job, int]] = []
        self._timer_seq = 0
        self._next_id = 0
        self._next_session = 0
        #: request handlers indexed by packet type
        self.handlers = self._handler_table()

    # ------------------------------------------------------------ sessions --
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

    def send(self, s: Session, data: bytes) -> None:
        """Queue bytes for a session."""
        if not s.out:
            self.dirty.append(s)
        s.out.append(data)

    def error(self, s: Session, code: str, text: str) -> None:
        """Send an ERROR packet."""
        self.send(s, response(P.ERROR, code.encode(), text.encode()))

    def handle_packet(self, s: Session, packet: Packet) -> None:
        """Act on one request packet from a session."""
        self.handlers[packet.type](s, packet)

    def _not_expected(self, s: Session, packet: Packet) -> None:
        self.error(s, ErrorCode.INVALID_COMMAND, "Command not expected")

    def _handler_table(self) -> list[Callable[[Session, Packet], None]]:
        """Handlers indexed by packet type number (a list: the fastest lookup)."""
        table: dict[int, Callable[[Session, Packet], None]] = {
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
    def _submit(self, s: Session, packet: Packet) -> None:
        ptype, args = packet
        kind = _PLAIN_SUBMITS.get(ptype)
        if kind is not None:
            self.submit(s, args[0], args[1], args[2], kind[0], kind[1])
            return
        priority, background = SUBMIT_KINDS[ptype]
        when = 0.0
        reducer = b""
        if ptype == P.SUBMIT_JOB_EPOCH:
            when = float(_atoi(args[2]))
        elif ptype == P.SUBMIT_JOB_SCHED:
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
        if len(unique) > MAX_UNIQUE or len(name) > MAX_FUNCTION or not name:
            self._invalid_submit(s, name, unique)
            return None
        f = self.functions.get(name) or self.function(name)
        key = data if unique == b"-" else unique
        if key:
            existing = f.uniques.get(key)
            if existing is not None:
                self._coalesce(s, existing, background)
                return existing
        limit = f.max_queue[priority]
        if limit and f.total >= limit:
            self.error(s, ErrorCode.QUEUE_ERROR, "Job queue is full")
            return None
        self._next_id += 1
        handle = b"%s%d" % (self.config.handle_prefix, self._next_id)
        now = self.clock()
        job = Job(handle, f, unique, key, data, priority, background, now)
        self.jobs[handle] = job
        if key:
            f.uniques[key] = job
        if not background:
            job.clients.append(s)
            s.waiting[handle] = job
        self.stats.jobs_submitted += 1
        if reducer:
            job.reducer = reducer
        if when:
            job.when = when
        if background and self.store.durable:
            self.store.add(job, lambda error: self._stored(s, job, error))
            return job
        out = s.out
        if not out:
            self.dirty.append(s)
        out.append(_pack_header(RES, P.JOB_CREATED, len(handle)) + handle)
        if when > now:
            f.scheduled += 1
            self._push_timer(when, _DUE, job)
        else:
            self._enqueue(job, head=False)
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
            job.background = True
        elif s not in job.clients:
            job.clients.append(s)
            s.waiting[job.handle] = job
        self.send(s, response(P.JOB_CREATED, job.handle))

    def _stored(self, s: Session, job: Job, error: str | None) -> None:
        """The store's answer for a durable background job."""
        if self.jobs.get(job.handle) is not job:
            return
        if error is not None:
            self.stats.store_errors += 1
            self._forget(job)
            if s.id in self.sessions:
                self.error(s, ErrorCode.QUEUE_ERROR, f"Could not store the job: {error}")
            return
        if s.id in self.sessions:
            self.send(s, response(P.JOB_CREATED, job.handle))
        self._admit(job)

    def _admit(self, job: Job) -> None:
        """Queue a new job now, or schedule it when it is due later."""
        if job.when > self.clock():
            job.function.scheduled += 1
            self._push_timer(job.when, _DUE, job)
        else:
            self._enqueue(job, head=False)

    def function(self, name: bytes) -> Function:
        """The function called ``name``, created when first seen."""
        f = self.functions.get(name)
        if f is not None:
            return f
        f = Function(name)
        f.max_queue = self.max_queue.get(name, (0, 0, 0))
        self.functions[name] = f
        return f

    # --------------------------------------------------------------- queues --
    def _enqueue(self, job: Job, head: bool) -> None:
        f = job.function
        job.queued = True
        if head:
            f.queues[job.priority].appendleft(job)
        else:
            f.queues[job.priority].append(job)
        f.queued[job.priority] += 1
        if f.sleepers:
            self._wake(f)

    def _unqueue(self, job: Job) -> None:
        """Take a queued job out of the counts; its deque entry is skipped later."""
        job.queued = False
        job.function.queued[job.priority] -= 1

    def _forget(self, job: Job) -> None:
        """Drop every index of a job that has ended."""
        f = job.function
        del self.jobs[job.handle]
        if job.key and f.uniques.get(job.key) is job:
            del f.uniques[job.key]
        for client in job.clients:
            client.waiting.pop(job.handle, None)
        job.clients = []

    def _next_job(self, s: Session) -> Job | None:
        funcs = s.funcs
        n = len(funcs)
        if n == 0:
            return None
        start = s.rr % n
        for priority in (0, 1, 2):
            for i in range(n):
                idx = (start + i) % n
                f = funcs[idx]
                if f.queued[priority]:
                    queue = f.queues[priority]
                    job = queue.popleft()
                    while not job.queued:
                        job = queue.popleft()
                    job.queued = False
                    f.queued[priority] -= 1
                    s.rr = idx + 1
                    return job
        return None

    # ------------------------------------------------------------- workers --
    def _can_do(self, s: Session, packet: Packet) -> None:
        name = packet.args[0]
        if not name or len(name) > MAX_FUNCTION:
            self.error(s, ErrorCode.INVALID_ARGUMENT, "Function name is empty or too large")
            return
        timeout = 0.0
        if packet.type == P.CAN_DO_TIMEOUT:
            ms = _atoi(packet.args[1])
            timeout = max(ms, 1000) / 1000.0 if ms > 0 else 0.0
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

    def _cant_do(self, s: Session, packet: Packet) -> None:
        f = self.functions.get(packet.args[0])
        if f is None or f not in s.abilities:
            return
        self._remove_abilities(s, [f])

    def _reset_abilities(self, s: Session, packet: Packet) -> None:
        self._remove_abilities(s, list(s.abilities))

    def _remove_abilities(self, s: Session, funcs: list[Function]) -> None:
        self._release(s, rewake=True)
        for f in funcs:
            del s.abilities[f]
            f.workers.pop(s, None)
            f.sleepers.pop(s, None)
        s.funcs = tuple(s.abilities)
        for job in [j for j in s.running.values() if j.function in funcs]:
            del s.running[job.handle]
            self._requeue(job)

    def _pre_sleep(self, s: Session, packet: Packet) -> None:
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

    def _stop_sleeping(self, s: Session) -> None:
        if s.sleeping:
            s.sleeping = False
            for f in s.funcs:
                f.sleepers.pop(s, None)

    def _wake(self, f: Function) -> None:
        cap = self.config.worker_wakeup
        woken = 0
        sleepers = f.sleepers
        while sleepers and f.runnable > f.promised:
            self._noop(next(iter(sleepers)))
            woken += 1
            if woken == cap:
                break

    def _noop(self, w: Session) -> None:
        self._stop_sleeping(w)
        w.woken = True
        for f in w.funcs:
            f.promised += 1
        self.send(w, _NOOP)

    def _release(self, w: Session, rewake: bool) -> None:
        """The woken worker ``w`` is no longer a promise to its functions."""
        if not w.woken:
            return
        w.woken = False
        for f in w.funcs:
            f.promised -= 1
        if rewake:
            for f in w.funcs:
                if f.sleepers and f.runnable > f.promised:
                    self._wake(f)

    def _grab(self, s: Session, packet: Packet) -> None:
        if s.woken:
            s.woken = False
            for f in s.funcs:
                f.promised -= 1
            job = self._next_job(s)
            for f in s.funcs:
                if f.sleepers and f.runnable > f.promised:
                    self._wake(f)
        else:
            self._stop_sleeping(s)
            job = self._next_job(s)
        if job is None:
            self.send(s, _NO_JOB)
            return
        self._assign(s, job, packet.type)

    def _assign(self, s: Session, job: Job, grab_type: int) -> None:
        f = job.function
        job.worker = s
        job.attempts += 1
        now = self.clock()
        job.started = now
        s.state_since = now
        f.running += 1
        s.running[job.handle] = job
        timeout = s.abilities.get(f, 0.0)
        if timeout:
            self._push_timer(now + timeout, _TIMEOUT, job)
        if grab_type == P.GRAB_JOB:
            out = response(P.JOB_ASSIGN, job.handle, f.name, job.data)
        elif grab_type == P.GRAB_JOB_ALL and job.reducer:
            out = response(P.JOB_ASSIGN_ALL, job.handle, f.name, job.unique, job.reducer, job.data)
        else:
            out = response(P.JOB_ASSIGN_UNIQ, job.handle, f.name, job.unique, job.data)
        self.send(s, out)

    def _requeue(self, job: Job) -> None:
        """The worker running ``job`` is gone: queue it again, or fail it."""
        f = job.function
        f.running -= 1
        job.worker = None
        job.timer_seq += 1
        job.numerator = job.denominator = 0
        limit = self.config.job_retries
        if limit >= 0 and job.attempts >= max(limit, 1):
            self.stats.jobs_failed += 1
            self._end(job, response(P.WORK_FAIL, job.handle), None)
            return
        self.stats.jobs_requeued += 1
        self._enqueue(job, head=True)

    # -------------------------------------------------------- work results --
    def _work_update(self, s: Session, packet: Packet) -> None:
        job = s.running.get(packet.args[0])
        if job is None:
            self.error(s, ErrorCode.JOB_NOT_FOUND, "Job given in work result not found")
            return
        if packet.type == P.WORK_STATUS:
            job.numerator = _atoi(packet.args[1])
            job.denominator = _atoi(packet.args[2])
        if job.clients:
            out = response(packet.type, *packet.args)
            for client in job.clients:
                self.send(client, out)

    def _work_end(self, s: Session, packet: Packet) -> None:
        job = s.running.pop(packet.args[0], None)
        if job is None:
            self.error(s, ErrorCode.JOB_NOT_FOUND, "Job given in work result not found")
            return
        job.function.running -= 1
        job.worker = None
        job.timer_seq += 1
        s.state_since = self.clock()
        out = response(packet.type, *packet.args)
        if packet.type == P.WORK_COMPLETE:
            self.stats.jobs_completed += 1
            self._end(job, out, out)
        elif packet.type == P.WORK_FAIL:
            self.stats.jobs_failed += 1
            self._end(job, out, out)
        else:
            self.stats.jobs_exceptions += 1
            self._end(job, response(P.WORK_FAIL, job.handle), out)

    def _end(self, job: Job, plain: bytes, with_exceptions: bytes | None) -> None:
        """Finish a job: tell its clients and drop it everywhere."""
        for client in job.clients:
            if with_exceptions is not None and client.exceptions:
                self.send(client, with_exceptions)
            else:
                self.send(client, plain)
        if job.background:
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
    def _get_status(self, s: Session, packet: Packet) -> None:
        handle = packet.args[0]
        job = self.jobs.get(handle)
        if job is None:
            self.send(s, response(P.STATUS_RES, handle, b"0", b"0", b"0", b"0"))
            return
        running = b"1" if job.worker is not None else b"0"
        num, den = str(job.numerator).encode(), str(job.denominator).encode()
        self.send(s, response(P.STATUS_RES, handle, b"1", running, num, den))

    def _get_status_unique(self, s: Session, packet: Packet) -> None:
        unique = packet.args[0]
        job = None
        for f in self.functions.values():
            job = f.uniques.get(unique)
            if job is not None:
                break
        if job is None:
            self.send(s, response(P.STATUS_RES_UNIQUE, unique, b"0", b"0", b"0", b"0", b"0"))
            return
        fields = (
            b"1",
            b"1" if job.worker is not None else b"0",
            str(job.numerator).encode(),
            str(job.denominator).encode(),
            str(len(job.clients)).encode(),
        )
        self.send(s, response(P.STATUS_RES_UNIQUE, unique, *fields))

    def _echo(self, s: Session, packet: Packet) -> None:
        data = packet[1][0]
        out = s.out
        if not out:
            self.dirty.append(s)
        out.append(_pack_header(RES, P.ECHO_RES, len(data)) + data)

    def _option(self, s: Session, packet: Packet) -> None:
        option = packet.args[0]
        if self.config.exceptions and option.lower() == b"exceptions":
            s.exceptions = True
            self.send(s, response(P.OPTION_RES, option))
        else:
            self.error(s, ErrorCode.UNKNOWN_OPTION, "Server does not recognize given option")

    def _set_client_id(self, s: Session, packet: Packet) -> None:
        words = packet.args[0][:MAX_CLIENT_ID].split()
        s.client_id = b"_".join(words) or b"-"

    def _all_yours(self, s: Session, packet: Packet) -> None:
        s.all_yours = True

    # --------------------------------------------------------------- admin --
    def cancel(self, handle: bytes) -> bool:
        """Cancel a queued or scheduled job: its clients get WORK_FAIL."""
        job = self.jobs.get(handle)
        if job is None or job.worker is not None:
            return False
        if job.queued:
            self._unqueue(job)
        else:
            job.function.scheduled -= 1
        self.stats.jobs_cancelled += 1
        self._end(job, response(P.WORK_FAIL, job.handle), None)
        return True

    def set_max_queue(self, name: bytes, limits: tuple[int, int, int]) -> None:
        """Limit a function's queue, whether or not it exists yet."""
        if any(limits):
            self.max_queue[name] = limits
        else:
            self.max_queue.pop(name, None)
        f = self.functions.get(name)
        if f is not None:
            f.max_queue = limits

    def drop_function(self, name: bytes) -> str | None:
        """Forget a function; the reason it cannot be dropped, or None."""
        f = self.functions.get(name)
        if f is None:
            return "function not found"
        if f.workers or f.running:
            return "there are still connected workers or executing clients"
        if f.runnable or f.scheduled:
            return "there are still queued jobs"
        del self.functions[name]
        return None

    # -------------------------------------------------------------- timers --
    def _push_timer(self, when: float, kind: int, job: Job) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, kind, job, job.timer_seq))

    def next_deadline(self) -> float | None:
        """When ``on_timer`` should next be called (clock seconds), if ever."""
        return self._timers[0][0] if self._timers else None

    def on_timer(self) -> None:
        """Run every timer that is due: release epoch jobs, time out jobs."""
        now = self.clock()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, kind, job, seq = heapq.heappop(timers)
            if self.jobs.get(job.handle) is not job or job.timer_seq != seq:
                continue
            if kind == _DUE:
                job.function.scheduled -= 1
                self._enqueue(job, head=False)
            elif job.worker is not None:
                self._time_out(job)

    def _time_out(self, job: Job) -> None:
        worker = job.worker
        assert worker is not None
        worker.running.pop(job.handle, None)
        job.function.running -= 1
        job.worker = None
        job.timer_seq += 1
        self.stats.jobs_timed_out += 1
        self.stats.jobs_failed += 1
        self._end(job, response(P.WORK_FAIL, job.handle), None)

    # ---------------------------------------------------------------- misc --
    def running_count(self) -> int:
        """Jobs a worker is running right now."""
        return sum(f.running for f in self.functions.values())
