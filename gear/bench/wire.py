"""The load generator's connections: hand-rolled ``asyncio.Protocol`` classes.

Strategy: the generator must cost far less than the server it measures, so
these classes do not go through ``gear.protocol.Decoder`` (which builds a
``Packet`` per packet and splits every body): each ``data_received`` walks
the buffer with ``HEADER.unpack_from``, touches only the bytes a role needs
and answers with ONE ``transport.write`` of everything the batch produced.
Requests are pipelined: a client keeps ``window`` requests in flight and
refills them in one write per received batch (unique ids are fixed-width, so
a whole batch of submits is one %-format of one pattern); a worker sends its
WORK_COMPLETE and next GRAB_JOB together.  Workers sleep the protocol's way
(NO_JOB → PRE_SLEEP, NOOP → GRAB_JOB), as ``gearbench`` does.  The commonest
reads (one JOB_ASSIGN, one NOOP, one NO_JOB) take a fast path; clients whose
answers are all alike (bg submits, echoes) are in ``bulk``.

Latency (fg, herd): the send time (``time.monotonic_ns``, one reading per
write, since the whole batch leaves in that write) travels as 16 hex digits
at the start of the job data and comes back in WORK_COMPLETE; the receive
time is read once per ``data_received``.  The walk only slices the stamp
out (the data is ours, so it sits ``size`` bytes before the packet's end);
``Tally.settle`` parses the stamps in bulk after the phase.  Payloads under
16 bytes carry no stamp.

Counters live on one shared ``Tally`` per process; a protocol adds to local
variables while it walks a batch and to the tally once at the end.  The tally
also carries the phase's stop condition (``Tally.check``) and its waiter.
"""

from __future__ import annotations

import asyncio
import socket
from array import array
from collections.abc import Callable
from time import monotonic_ns

from gear.protocol.constants import HEADER, HEADER_SIZE, RES, PacketType
from gear.protocol.packets import request, response

_unpack = HEADER.unpack_from
_pack = HEADER.pack
_REQ = b"\0REQ"
STAMP_LEN = 16
#: batches of stamps kept before they are parsed during a phase (bounds memory)
_SETTLE_EVERY = 20_000

T_JOB_CREATED = int(PacketType.JOB_CREATED)
T_WORK_COMPLETE = int(PacketType.WORK_COMPLETE)
T_WORK_FAIL = int(PacketType.WORK_FAIL)
T_WORK_EXCEPTION = int(PacketType.WORK_EXCEPTION)
T_ERROR = int(PacketType.ERROR)
T_ECHO_RES = int(PacketType.ECHO_RES)
T_JOB_ASSIGN = int(PacketType.JOB_ASSIGN)
T_JOB_ASSIGN_UNIQ = int(PacketType.JOB_ASSIGN_UNIQ)
T_NO_JOB = int(PacketType.NO_JOB)
T_NOOP = int(PacketType.NOOP)
#: packets a client may get and ignores (progress of a foreground job)
_CLIENT_IGNORED = frozenset(
    {int(PacketType.WORK_STATUS), int(PacketType.WORK_DATA), int(PacketType.WORK_WARNING)}
)
_FAILED = frozenset({T_WORK_FAIL, T_WORK_EXCEPTION})

GRAB = request(PacketType.GRAB_JOB)
_NOOP = response(PacketType.NOOP)
_NO_JOB = response(PacketType.NO_JOB)
PRE_SLEEP = request(PacketType.PRE_SLEEP)


def filler(size: int) -> bytes:
    """``size`` bytes of job data without NULs (a, b, c … as gearbench)."""
    return bytes(97 + i % 26 for i in range(size))


class Tally:
    """Counters of one generator process, and the current phase's end."""

    __slots__ = (
        "assigned",
        "completed",
        "created",
        "errors",
        "expected",
        "failed",
        "failure",
        "finished",
        "first_error",
        "grabs",
        "inflight",
        "issued",
        "lat",
        "lat_runs",
        "limit",
        "mode",
        "no_jobs",
        "noops",
        "noops_idle",
        "pending",
        "pre_sleeps",
        "registered",
        "stop_issuing",
        "t_last",
        "unexpected",
        "waiter",
    )

    def __init__(self, limit: int) -> None:
        #: requests to issue in all
        self.limit = limit
        #: requests issued, in flight (all clients), answered
        self.issued = self.inflight = 0
        self.created = self.completed = self.failed = 0
        #: ERROR packets, packets of an unexpected type, the first ERROR's text
        self.errors = self.unexpected = 0
        self.first_error = ""
        #: worker side: jobs done, GRAB_JOBs (not counting the one sent with each
        #: WORK_COMPLETE: add ``assigned``), NO_JOBs, NOOPs (to idle workers), PRE_SLEEPs
        self.assigned = self.grabs = self.no_jobs = self.noops = 0
        self.noops_idle = self.pre_sleeps = 0
        #: workers registered (first NO_JOB seen) / finished draining
        self.registered = self.finished = 0
        #: latencies in nanoseconds, one per answer
        self.lat = array("q")
        #: latencies as runs: value, count, value, count … (answers of one batch)
        self.lat_runs = array("q")
        #: (receive time, send stamps) not yet turned into latencies (see ``settle``)
        self.pending: list[tuple[int, list[bytes]]] = []
        #: set by the soft deadline: issue nothing more
        self.stop_issuing = False
        #: monotonic ns of the last answer that counted
        self.t_last = 0
        #: what ends the phase: "clients", "register" or "drain"; how many for the latter two
        self.mode = "clients"
        self.expected = 0
        #: the phase's waiter, and why the run failed
        self.waiter: asyncio.Future[None] | None = None
        self.failure = ""

    def stamped(self, now: int, stamps: list[bytes]) -> None:
        """Keep the send stamps of answers received at ``now``, for ``settle``."""
        pending = self.pending
        pending.append((now, stamps))
        if len(pending) >= _SETTLE_EVERY:
            self.settle()

    def settle(self) -> None:
        """Turn pending stamps into latencies.

        Parsing a stamp costs more than finding it, so it is done in bulk:
        after each phase (outside its timed window, so it takes no CPU from
        the server while it is measured) or every ``_SETTLE_EVERY`` batches.
        """
        lat = self.lat
        for now, stamps in self.pending:
            for stamp in stamps:
                try:
                    lat.append(now - int(stamp, 16))
                except ValueError:
                    self.unexpected += 1
        self.pending.clear()

    def check(self) -> None:
        """End the phase when its condition holds."""
        if self.mode == "clients":
            done = (self.issued >= self.limit or self.stop_issuing) and self.inflight == 0
        elif self.mode == "register":
            done = self.registered >= self.expected
        else:
            done = self.finished >= self.expected
        if done and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def fail(self, why: str) -> None:
        """Stop the run: a connection broke or the server said something wrong."""
        if not self.failure:
            self.failure = why
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def note_error(self, body: bytes) -> None:
        """Count an ERROR packet and keep the first one's text."""
        self.errors += 1
        if not self.first_error:
            self.first_error = body.replace(b"\0", b": ").decode("utf-8", "replace")[:200]


def _not_connected(data: bytes) -> None:
    raise RuntimeError("write before the connection was made")


def _complete_uniq(buf: bytes, start: int, end: int) -> bytes:
    """WORK_COMPLETE and GRAB_JOB for a JOB_ASSIGN_UNIQ (handle, function, unique, data)."""
    handle_end = buf.find(b"\0", start, end) + 1
    data = buf.find(b"\0", buf.find(b"\0", handle_end, end) + 1, end) + 1
    body = buf[start:handle_end] + buf[data:end]
    return _pack(_REQ, T_WORK_COMPLETE, len(body)) + body + GRAB


class _Conn(asyncio.Protocol):
    """What every generator connection shares: transport, buffer, loss."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.transport: asyncio.BaseTransport | None = None
        #: the transport's write (bound once: it is called per batch)
        self.write: Callable[[bytes], object] = _not_connected
        self.buf = b""
        #: set before a deliberate close, so the loss is not a failure
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but write alike
        self.transport = transport
        self.write = transport.write  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.tally.fail("server closed the connection" + (f": {exc}" if exc else ""))

    def close(self) -> None:
        """Close without counting it as a failure."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class Client(_Conn):
    """Keeps ``window`` submits (or echoes) in flight; counts the answers.

    Args:
        tally: the process's counters.
        ptype: SUBMIT_JOB, SUBMIT_JOB_BG or ECHO_REQ.
        function: the function name (ignored for echoes).
        size: job data bytes.
        window: requests in flight.
        seq_base: first unique id (hex), so processes never share one.
    """

    def __init__(
        self, tally: Tally, ptype: int, function: bytes, size: int, window: int, seq_base: int
    ) -> None:
        super().__init__(tally)
        self.ptype = ptype
        self.echo = ptype == PacketType.ECHO_REQ
        self.background = ptype == PacketType.SUBMIT_JOB_BG
        self.tail = filler(size)
        self.size = size
        self.stamped = size >= STAMP_LEN
        #: whether the walk reads send stamps from answers
        self.measure = self.stamped
        self.window = window
        self.inflight = 0
        self.seq_base = seq_base
        # fixed-width unique ids: every submit has the same length, so one
        # %-pattern (header, function, unique) formats a whole batch
        width = 8 if seq_base + tally.limit < 1 << 32 else 16
        body_len = len(function) + width + 2 + size
        head = _pack(_REQ, ptype, body_len) + function
        self.head = head.replace(b"%", b"%%") + b"\0%%0%dx\0" % width
        self.echo_head = _pack(_REQ, ptype, size)

    def fill(self) -> None:
        """Issue requests until the window is full or the count is reached."""
        tally = self.tally
        room = min(self.window - self.inflight, tally.limit - tally.issued)
        if room <= 0 or tally.stop_issuing:
            return
        first = self.seq_base + tally.issued
        tally.issued += room
        tally.inflight += room
        self.inflight += room
        self.write(self._requests(first, room))

    def _requests(self, first: int, count: int) -> bytes:
        data = self.tail
        if self.stamped:
            data = b"%016x" % monotonic_ns() + data[STAMP_LEN:]
        if self.echo:
            return (self.echo_head + data) * count
        return (self.head + data) * count % tuple(range(first, first + count))

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        now = monotonic_ns()
        done, pos = self._walk(buf, now)
        self.buf = buf[pos:] if pos < len(buf) else b""
        if done:
            self._answered(done, now)

    def _answered(self, done: int, now: int) -> None:
        tally = self.tally
        tally.t_last = now
        tally.inflight -= done
        self.inflight -= done
        self.fill()
        if tally.inflight == 0:
            tally.check()

    def _walk(self, buf: bytes, now: int) -> tuple[int, int]:
        tally = self.tally
        stamps: list[bytes] = []
        size = self.size
        stamped, echo = self.measure, self.echo
        background = self.background
        have = len(buf)
        pos = done = created = completed = 0
        while have - pos >= HEADER_SIZE:
            magic, ptype, length = _unpack(buf, pos)
            start = pos + HEADER_SIZE
            end = start + length
            if end > have:
                break
            if magic != RES:
                tally.fail(f"bad magic {magic!r} from the server")
                break
            pos = end
            if ptype == T_JOB_CREATED:
                created += 1
                if background:
                    done += 1
            elif ptype == T_WORK_COMPLETE or (echo and ptype == T_ECHO_RES):
                done += 1
                completed += 1
                if stamped:
                    # the data is ours, echoed: the stamp starts ``size`` bytes before the end
                    stamps.append(buf[end - size : end - size + STAMP_LEN])
            else:
                done += self._other(ptype, buf[start:end])
        if created:
            tally.created += created
        if completed:
            tally.completed += completed
        if stamps:
            tally.stamped(now, stamps)
        return done, pos

    def _other(self, ptype: int, body: bytes) -> int:
        """Count a rarer answer; 1 if it ends its request (failure, ERROR)."""
        tally = self.tally
        if ptype in _FAILED or ptype == T_ERROR:
            tally.failed += 1
            if ptype == T_ERROR:
                tally.note_error(body)
            return 1
        if ptype not in _CLIENT_IGNORED:
            tally.unexpected += 1
        return 0


class Worker(_Conn):
    """Grabs jobs and answers WORK_COMPLETE with the job's own data.

    Args:
        tally: the process's counters.
        grabs: GRAB_JOBs sent at once after a wake-up (and at the start of a drain).
        idle: one of the herd's extra workers (its NOOPs are counted apart).
    """

    def __init__(self, tally: Tally, function: bytes, grabs: int, idle: bool = False) -> None:
        super().__init__(tally)
        self.function = function
        #: bytes between a JOB_ASSIGN's handle and its data: NUL, function, NUL
        self.skip = len(function) + 2
        self.wake = GRAB * grabs
        self.wake_count = grabs
        self.idle = idle
        self.grabs_out = 0
        self.sleeping = False
        self.registered = False

    def start(self, grabs: int = 1) -> None:
        """CAN_DO the function and send the first ``grabs`` GRAB_JOBs."""
        self.grabs_out += grabs
        self.tally.grabs += grabs
        self.write(request(PacketType.CAN_DO, self.function) + GRAB * grabs)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if len(buf) >= HEADER_SIZE:
            # fast path: exactly one JOB_ASSIGN (one grab in flight, -g 1)
            magic, ptype, length = _unpack(buf, 0)
            if ptype == T_JOB_ASSIGN and len(buf) == HEADER_SIZE + length and magic == RES:
                handle_end = buf.find(b"\0", HEADER_SIZE) + 1
                skip = self.skip
                self.write(
                    b"%s%s%s%s"
                    % (
                        _pack(_REQ, T_WORK_COMPLETE, length - skip + 1),
                        buf[HEADER_SIZE:handle_end],
                        buf[handle_end + skip - 1 :],
                        GRAB,
                    )
                )
                self.buf = b""
                self.tally.assigned += 1
                return
            if buf == _NOOP or buf == _NO_JOB:
                # fast path of a sleeper's wake-up: one NOOP, or one NO_JOB
                self.buf = b""
                (self._noop if buf == _NOOP else self._no_job)(self.write)
                return
        out: list[bytes] = []
        pos = self._walk(buf, out)
        self.buf = buf[pos:]
        if out:
            self.write(b"".join(out))

    def _walk(self, buf: bytes, out: list[bytes]) -> int:
        tally = self.tally
        append = out.append
        size = len(buf)
        skip = self.skip
        pos = assigned = 0
        while size - pos >= HEADER_SIZE:
            magic, ptype, length = _unpack(buf, pos)
            start = pos + HEADER_SIZE
            end = start + length
            if end > size:
                break
            if magic != RES:
                tally.fail(f"bad magic {magic!r} from the server")
                break
            pos = end
            if ptype == T_JOB_ASSIGN:
                # handle NUL function NUL data -> WORK_COMPLETE handle NUL data, GRAB_JOB
                handle_end = buf.find(b"\0", start, end) + 1
                append(
                    b"%s%s%s%s"
                    % (
                        _pack(_REQ, T_WORK_COMPLETE, length - skip + 1),
                        buf[start:handle_end],
                        buf[handle_end + skip - 1 : end],
                        GRAB,
                    )
                )
                assigned += 1
            elif ptype == T_JOB_ASSIGN_UNIQ:
                append(_complete_uniq(buf, start, end))
                assigned += 1
            elif ptype == T_NO_JOB:
                self._no_job(append)
            elif ptype == T_NOOP:
                self._noop(append)
            elif ptype == T_ERROR:
                tally.note_error(buf[start:end])
                tally.fail(f"ERROR on a worker connection: {tally.first_error}")
            else:
                tally.unexpected += 1
        if assigned:
            tally.assigned += assigned  # each also sent one GRAB_JOB: see Tally.grabs
        return pos

    def _no_job(self, append: Callable[[bytes], object]) -> None:
        tally = self.tally
        self.grabs_out -= 1
        tally.no_jobs += 1
        if not self.registered:
            self.registered = True
            tally.registered += 1
            if tally.mode == "register":
                tally.check()
        if self.grabs_out:
            return
        if tally.mode == "drain":
            tally.finished += 1
            tally.check()
            return
        append(PRE_SLEEP)
        self.sleeping = True
        tally.pre_sleeps += 1

    def _noop(self, append: Callable[[bytes], object]) -> None:
        tally = self.tally
        tally.noops += 1
        if self.idle:
            tally.noops_idle += 1
        if self.sleeping:
            self.sleeping = False
            self.grabs_out += self.wake_count
            tally.grabs += self.wake_count
            append(self.wake)
