"""Who hears what: the output of every session, the worker registry, wake-ups.

Strategy: ``Outbox`` queues bytes per session and lists the sessions with
output (``dirty``); the I/O shell writes each dirty session's bytes once
per batch of input.  ``Dispatch`` keeps which worker can do which function
(``Session.abilities`` / ``Function.workers``) and the signal-and-pull
cycle: PRE_SLEEP puts a worker among its functions' sleepers, a queued job
NOOPs one of them.  Pure, no I/O.

Wake-ups are bounded: a queued job NOOPs a sleeping worker only while the
function has more runnable jobs than woken-but-not-yet-grabbing workers
(``Function.promised``), so one job costs at most one NOOP however many
workers sleep.  A promise that is not kept within a tick of the shell's
wake-up clock (``expire``) is taken back and another sleeper is woken, so
one hung worker cannot starve the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from gear.protocol.constants import PT
from gear.protocol.packets import response
from gear.server.state import Function, Session

_NOOP: Final = response(PT.NOOP)


class Outbox:
    """Bytes waiting for each session, and the sessions that have some."""

    def __init__(self) -> None:
        #: sessions with output waiting; the I/O shell drains it
        self.dirty: list[Session] = []

    def send(self, s: Session, data: bytes) -> None:
        """Queue bytes for a session."""
        if not s.out:
            self.dirty.append(s)
        s.out.append(data)

    def error(self, s: Session, code: str, text: str) -> None:
        """Send an ERROR packet."""
        self.send(s, response(PT.ERROR, code.encode(), text.encode()))


class Dispatch:
    """The worker registry and the sleep / wake-up cycle."""

    def __init__(self, outbox: Outbox, worker_wakeup: int) -> None:
        self.outbox = outbox
        #: most NOOPs one queued job sends (0 = as many as there are runnable jobs)
        self.worker_wakeup = worker_wakeup
        #: the wake-up clock: bumped by ``expire``, stamped on each NOOP
        self.tick = 0
        #: NOOPs sent to sleeping workers (a native int: no allocation per wake-up)
        self.wakeups_sent = 0

    # ------------------------------------------------------------ registry --
    def register(self, s: Session, f: Function, timeout: float) -> None:
        """CAN_DO(_TIMEOUT): ``s`` can run ``f`` (jobs time out after ``timeout`` s, 0 = never)."""
        if f in s.abilities:
            s.abilities[f] = timeout
            return
        self.release(s, rewake=True)
        s.abilities[f] = timeout
        s.funcs = tuple(s.abilities)
        f.workers[s] = None
        if s.sleeping:
            f.sleepers[s] = None
            if f.runnable > f.promised:
                self.wake(f)

    def unregister(self, s: Session, funcs: list[Function]) -> None:
        """CANT_DO / RESET_ABILITIES: no more jobs of ``funcs`` for ``s``.

        Jobs it is running stay its own: it may still finish them (their
        WORK_COMPLETE reaches the clients), and they are queued again only
        if it disconnects first.
        """
        self.release(s, rewake=True)
        for f in funcs:
            del s.abilities[f]
            f.workers.pop(s, None)
            f.sleepers.pop(s, None)
        s.funcs = tuple(s.abilities)

    def leave(self, s: Session) -> tuple[Function, ...]:
        """A worker disconnected: out of every registry; the functions it had."""
        self.release(s, rewake=False)
        self.stop_sleeping(s)
        funcs = s.funcs
        for f in funcs:
            f.workers.pop(s, None)
        s.abilities.clear()
        s.funcs = ()
        return funcs

    # --------------------------------------------------------------- sleep --
    def sleep(self, s: Session, now: float) -> None:
        """PRE_SLEEP: a NOOP at once if a job waits, else sleep until one comes."""
        self.release(s, rewake=True)
        if s.sleeping:
            return
        for f in s.funcs:
            if f.runnable > f.promised:
                self.noop(s)
                return
        s.sleeping = True
        s.state_since = now
        for f in s.funcs:
            f.sleepers[s] = None

    def stop_sleeping(self, s: Session) -> None:
        """``s`` is no longer among its functions' sleepers."""
        if s.sleeping:
            s.sleeping = False
            for f in s.funcs:
                f.sleepers.pop(s, None)

    def grabbed(self, s: Session) -> None:
        """A woken worker grabs: its promise is kept (``wake_waiting`` after the pop)."""
        s.woken = False
        for f in s.funcs:
            f.promised -= 1

    # ------------------------------------------------------------ wake-ups --
    def wake(self, f: Function) -> None:
        """NOOP sleepers of ``f`` while it has more runnable jobs than promises."""
        cap = self.worker_wakeup
        woken = 0
        sleepers = f.sleepers
        while sleepers and f.runnable > f.promised:
            self.noop(next(iter(sleepers)))
            woken += 1
            if woken == cap:
                break

    def wake_waiting(self, funcs: Iterable[Function]) -> None:
        """Wake sleepers of each function that has jobs nobody was promised."""
        for f in funcs:
            if f.sleepers and f.runnable > f.promised:
                self.wake(f)

    def noop(self, w: Session) -> None:
        """Send ``w`` a NOOP: it becomes a promise to each of its functions."""
        self.stop_sleeping(w)
        w.woken = True
        w.woken_tick = self.tick
        for f in w.funcs:
            f.promised += 1
        self.wakeups_sent += 1
        self.outbox.send(w, _NOOP)

    def release(self, w: Session, rewake: bool) -> None:
        """The woken worker ``w`` is no longer a promise to its functions."""
        if not w.woken:
            return
        w.woken = False
        for f in w.funcs:
            f.promised -= 1
        if rewake:
            self.wake_waiting(w.funcs)

    def expire(self, functions: Iterable[Function]) -> None:
        """Take back NOOPs unanswered for a whole tick; wake other sleepers instead.

        The I/O shell calls this every ``WAKEUP_TICK_SECONDS``.  A woken
        worker that never grabs (a hung process, or a forked Perl worker
        that died while its parent keeps the socket open) would otherwise
        hold its promise forever, and the function's other sleeping
        workers would never hear of the job.  Released workers are not
        sleepers, so a dead one is not woken again.
        """
        self.tick += 1
        cutoff = self.tick - 1
        for f in functions:
            if f.promised and f.runnable:
                for w in [w for w in f.workers if w.woken and w.woken_tick < cutoff]:
                    self.release(w, rewake=True)
