"""The load generator's connections: hand-rolled protocols for asyncio.

Strategy: the generator must cost far less than the server it measures, so
these classes do not go through ``gear.protocol.Decoder`` (which builds a
``Packet`` per packet and splits every body): each ``data_received`` walks
the buffer header by header, touches only the bytes a role needs and answers
with ONE ``transport.write`` of everything the batch produced.  Requests are
pipelined: a client keeps ``window`` requests in flight and refills them in
one write per received batch (unique ids are fixed-width, so a whole batch of
submits is one %-format of one pattern); a worker sends its WORK_COMPLETE and
next GRAB_JOB together.  Workers sleep the protocol's way (NO_JOB →
PRE_SLEEP, NOOP → GRAB_JOB), as ``gearbench`` does.  A read of exactly one
packet (a JOB_ASSIGN with one grab in flight, a wake-up) skips the batch
list; clients whose answers are all alike (bg submits, echoes) are in ``bulk``.

The module is compiled with mypyc (``gear.build``) and written for it: the
classes do not inherit ``asyncio.Protocol`` (asyncio calls its methods by
name; a subclass of a Python class would be a non-native class, with
dictionary look-ups for every attribute), module constants are ``Final``,
and a header is read byte by byte (``magic_ok``, ``packet_type``,
``body_length``: C array reads on native ints) rather than with
``struct.unpack_from``, which builds a tuple, a bytes and two ints per packet.

Latency (fg, herd): the send time (``time.monotonic_ns``, one reading per
write, since the whole batch leaves in that write) travels as 16 hex digits
at the start of the job data and comes back in WORK_COMPLETE; the receive
time is read once per ``data_received``.  The walk only copies the stamp
into the tally's ``stamps`` (the data is ours, so it sits ``size`` bytes
before the packet's end); ``Tally.settle`` parses them all at once after
the phase.  Payloads under 16 bytes carry no stamp.

Counters live on one shared ``Tally`` per process; a protocol adds to local
variables while it walks a batch and to the tally once at the end.  The tally
also carries the phase's stop condition (``Tally.check``) and its waiter.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from array import array
from binascii import hexlify, unhexlify
from collections.abc import Callable
from time import monotonic_ns
from typing import Final

from gear.protocol.constants import HEADER_SIZE, PT, RES, PacketType
from gear.protocol.packets import request

#: the header's size as a literal, which mypyc folds into the code
HEAD: Final = 12
assert HEAD == HEADER_SIZE
#: ``\0RES`` as one big-endian number, to check a header's magic without a slice
_RES_MAGIC: Final = int.from_bytes(RES, "big")
STAMP_LEN: Final = 16
#: stamps kept before they are parsed during a phase (bounds memory: 16 bytes of
#: hex each, and at most a run of two ints)
_SETTLE_EVERY: Final = 1 << 18
#: bytes to hex digits (one C call: ``%x`` formatting goes through a str)
_hexlify: Final = hexlify

T_JOB_CREATED: Final = PT.JOB_CREATED
T_WORK_COMPLETE: Final = PT.WORK_COMPLETE
T_WORK_FAIL: Final = PT.WORK_FAIL
T_WORK_EXCEPTION: Final = PT.WORK_EXCEPTION
T_ERROR: Final = PT.ERROR
T_ECHO_RES: Final = PT.ECHO_RES
T_JOB_ASSIGN: Final = PT.JOB_ASSIGN
T_JOB_ASSIGN_UNIQ: Final = PT.JOB_ASSIGN_UNIQ
T_NO_JOB: Final = PT.NO_JOB
T_NOOP: Final = PT.NOOP
T_WORK_STATUS: Final = PT.WORK_STATUS
T_WORK_DATA: Final = PT.WORK_DATA
T_WORK_WARNING: Final = PT.WORK_WARNING

GRAB: Final = request(PacketType.GRAB_JOB)
PRE_SLEEP: Final = request(PacketType.PRE_SLEEP)
#: a WORK_COMPLETE header up to its length field
_COMPLETE_HEAD: Final = b"\0REQ" + T_WORK_COMPLETE.to_bytes(4, "big")


def magic_ok(buf: bytes, at: int) -> bool:
    """Whether the header at ``at`` starts with ``\\0RES``."""
    return (buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]) == _RES_MAGIC


def packet_type(buf: bytes, at: int) -> int:
    """The packet type of the header at ``at`` (big-endian)."""
    return buf[at + 4] << 24 | buf[at + 5] << 16 | buf[at + 6] << 8 | buf[at + 7]


def body_length(buf: bytes, at: int) -> int:
    """The body length of the header at ``at`` (big-endian)."""
    return buf[at + 8] << 24 | buf[at + 9] << 16 | buf[at + 10] << 8 | buf[at + 11]


def filler(size: int) -> bytes:
    """``size`` bytes of job data without NULs (a, b, c … as gearbench)."""
    return bytes([97 + i % 26 for i in range(size)])


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
        "pre_sleeps",
        "registered",
        "stamp_runs",
        "stamps",
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
        #: send stamps not yet turned into latencies (see ``settle``): their hex
        #: digits end to end, and runs of (receive time, stamps received then)
        self.stamps = bytearray()
        self.stamp_runs: list[int] = []
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

    def stamped(self, now: int, count: int) -> None:
        """Note that the last ``count`` stamps in ``stamps`` came back at ``now``."""
        runs = self.stamp_runs
        runs.append(now)
        runs.append(count)
        if len(self.stamps) >= _SETTLE_EVERY * STAMP_LEN:
            self.settle()

    def settle(self) -> None:
        """Turn pending stamps into latencies.

        Parsing a stamp costs more than finding it, so it is done in bulk:
        after each phase (outside its timed window, so it takes no CPU from
        the server while it is measured) or every ``_SETTLE_EVERY`` stamps.
        All stamps are parsed at once (hex to big-endian 64-bit words);
        should one not be hex, each is parsed alone and the bad ones counted.
        """
        hexes = bytes(self.stamps)
        runs = self.stamp_runs
        self.stamps = bytearray()
        self.stamp_runs = []
        try:
            sent = array("q", unhexlify(hexes))
        except ValueError:  # binascii.Error is one
            self._settle_one_by_one(hexes, runs)
            return
        if sys.byteorder == "little":
            sent.byteswap()
        lat = self.lat
        i = 0
        for r in range(0, len(runs), 2):
            now = runs[r]
            for _ in range(runs[r + 1]):
                lat.append(now - sent[i])
                i += 1

    def _settle_one_by_one(self, hexes: bytes, runs: list[int]) -> None:
        lat = self.lat
        at = 0
        for r in range(0, len(runs), 2):
            now = runs[r]
            for _ in range(runs[r + 1]):
                try:
                    lat.append(now - int(hexes[at : at + STAMP_LEN], 16))
                except ValueError:
                    self.unexpected += 1
                at += STAMP_LEN

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

    def bad_magic(self, buf: bytes, at: int) -> None:
        """Stop the run: the header at ``at`` is not a response's."""
        self.fail(f"bad magic {buf[at : at + 4]!r} from the server")

    def note_error(self, body: bytes) -> None:
        """Count an ERROR packet and keep the first one's text."""
        self.errors += 1
        if not self.first_error:
            self.first_error = body.replace(b"\0", b": ").decode("utf-8", "replace")[:200]


def _not_connected(data: bytes) -> None:
    raise RuntimeError("write before the connection was made")


def _nul(buf: bytes, at: int, end: int) -> int:
    """Where the first NUL in ``buf[at:end]`` is (``end`` if none).

    The fields it is used on (handles, unique ids) are short: a loop over
    native bytes reads costs less than calling ``bytes.find``.
    """
    while at < end and buf[at]:
        at += 1
    return at


def _complete(buf: bytes, start: int, end: int, skip: int) -> bytes:
    """WORK_COMPLETE and GRAB_JOB for a JOB_ASSIGN (handle, function, data).

    ``skip`` is the length of NUL, function, NUL between handle and data.
    """
    handle_end = _nul(buf, start, end) + 1
    length = end - start - skip + 1
    return b"%b%b%b%b%b" % (
        _COMPLETE_HEAD,
        length.to_bytes(4, "big"),
        buf[start:handle_end],
        buf[handle_end + skip - 1 : end],
        GRAB,
    )


def _complete_uniq(buf: bytes, start: int, end: int) -> bytes:
    """WORK_COMPLETE and GRAB_JOB for a JOB_ASSIGN_UNIQ (handle, function, unique, data)."""
    handle_end = _nul(buf, start, end) + 1
    data = _nul(buf, _nul(buf, handle_end, end) + 1, end) + 1
    length = handle_end - start + end - data
    return b"%b%b%b%b%b" % (
        _COMPLETE_HEAD,
        length.to_bytes(4, "big"),
        buf[start:handle_end],
        buf[data:end],
        GRAB,
    )


class _Conn:
    """What every generator connection shares: transport, buffer, loss.

    asyncio and uvloop call the ``asyncio.Protocol`` methods by name; not
    inheriting from it lets mypyc compile these as native classes (attribute
    reads are field loads, not dictionary look-ups).  The engine hands them
    to ``create_connection`` with a ``cast``.
    """

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

    def pause_writing(self) -> None:
        """The transport's buffer is full: nothing to do, the window bounds it."""

    def resume_writing(self) -> None:
        """The transport's buffer drained."""

    def eof_received(self) -> bool | None:
        """The server closed its side: let the transport close (connection_lost follows)."""
        return None

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
        self.echo = ptype == PT.ECHO_REQ
        self.background = ptype == PT.SUBMIT_JOB_BG
        self.tail = filler(size)
        #: the data after the stamp
        self.rest = self.tail[STAMP_LEN:]
        self.size = size
        self.stamped = size >= STAMP_LEN
        #: whether the walk reads send stamps from answers
        self.measure = self.stamped
        self.window = window
        self.inflight = 0
        self.seq_base = seq_base
        # fixed-width unique ids (hex digits of 4 or 8 bytes): every submit
        # has the same length, so the header is the same for all
        self.uid_bytes = 4 if seq_base + tally.limit < 1 << 32 else 8
        body_len = len(function) + 2 * self.uid_bytes + 2 + size
        #: a submit's header, function and NUL: its unique id, NUL and data follow
        self.head = b"\0REQ%b%b%b\0" % (
            ptype.to_bytes(4, "big"),
            body_len.to_bytes(4, "big"),
            function,
        )
        self.echo_head = b"\0REQ" + ptype.to_bytes(4, "big") + size.to_bytes(4, "big")

    def fill(self) -> None:
        """Issue requests until the window is full or the count is reached."""
        tally = self.tally
        room = self.window - self.inflight
        left = tally.limit - tally.issued
        if left < room:
            room = left
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
            data = b"%b%b" % (_hexlify(monotonic_ns().to_bytes(8, "big")), self.rest)
        if self.echo:
            return (self.echo_head + data) * count
        head, width = self.head, self.uid_bytes
        if count == 1:
            return b"%b%b\0%b" % (head, _hexlify(first.to_bytes(width, "big")), data)
        return b"".join(
            [
                b"%b%b\0%b" % (head, _hexlify(seq.to_bytes(width, "big")), data)
                for seq in range(first, first + count)
            ]
        )

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
        stamps = tally.stamps
        size = self.size
        stamped, echo = self.measure, self.echo
        background = self.background
        have = len(buf)
        pos = done = created = completed = 0
        while have - pos >= HEAD:
            start = pos + HEAD
            end = start + body_length(buf, pos)
            if end > have:
                break
            if not magic_ok(buf, pos):
                tally.bad_magic(buf, pos)
                break
            ptype = packet_type(buf, pos)
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
                    stamps += buf[end - size : end - size + STAMP_LEN]
            else:
                done += self._other(ptype, buf[start:end])
        if created:
            tally.created += created
        if completed:
            tally.completed += completed
            if stamped:
                tally.stamped(now, completed)
        return done, pos

    def _other(self, ptype: int, body: bytes) -> int:
        """Count a rarer answer; 1 if it ends its request (failure, ERROR)."""
        tally = self.tally
        if ptype == T_WORK_FAIL or ptype == T_WORK_EXCEPTION or ptype == T_ERROR:
            tally.failed += 1
            if ptype == T_ERROR:
                tally.note_error(body)
            return 1
        if ptype != T_WORK_STATUS and ptype != T_WORK_DATA and ptype != T_WORK_WARNING:
            # a client may get a foreground job's progress, and ignores it
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
        have = len(buf)
        if have >= HEAD and have == HEAD + body_length(buf, 0) and magic_ok(buf, 0):
            # fast path: exactly one packet (one grab in flight, -g 1; a wake-up)
            self.buf = b""
            answer = self._answer(buf, 0, have)
            if answer:
                self.write(answer)
            return
        out: list[bytes] = []
        pos = 0
        while have - pos >= HEAD:
            end = pos + HEAD + body_length(buf, pos)
            if end > have:
                break
            if not magic_ok(buf, pos):
                self.tally.bad_magic(buf, pos)
                break
            answer = self._answer(buf, pos, end)
            pos = end
            if answer:
                out.append(answer)
        self.buf = buf[pos:]
        if out:
            self.write(b"".join(out))

    def _answer(self, buf: bytes, pos: int, end: int) -> bytes:
        """What to send for the packet at ``pos`` (ending at ``end``): maybe nothing."""
        ptype = packet_type(buf, pos)
        if ptype == T_JOB_ASSIGN:
            # handle NUL function NUL data -> WORK_COMPLETE handle NUL data, GRAB_JOB
            self.tally.assigned += 1  # each also sent one GRAB_JOB: see Tally.grabs
            return _complete(buf, pos + HEAD, end, self.skip)
        if ptype == T_JOB_ASSIGN_UNIQ:
            self.tally.assigned += 1
            return _complete_uniq(buf, pos + HEAD, end)
        if ptype == T_NO_JOB:
            return self._no_job()
        if ptype == T_NOOP:
            return self._noop()
        tally = self.tally
        if ptype == T_ERROR:
            tally.note_error(buf[pos + HEAD : end])
            tally.fail(f"ERROR on a worker connection: {tally.first_error}")
        else:
            tally.unexpected += 1
        return b""

    def _no_job(self) -> bytes:
        tally = self.tally
        self.grabs_out -= 1
        tally.no_jobs += 1
        if not self.registered:
            self.registered = True
            tally.registered += 1
            if tally.mode == "register":
                tally.check()
        if self.grabs_out:
            return b""
        if tally.mode == "drain":
            tally.finished += 1
            tally.check()
            return b""
        self.sleeping = True
        tally.pre_sleeps += 1
        return PRE_SLEEP

    def _noop(self) -> bytes:
        tally = self.tally
        tally.noops += 1
        if self.idle:
            tally.noops_idle += 1
        if not self.sleeping:
            return b""
        self.sleeping = False
        self.grabs_out += self.wake_count
        tally.grabs += self.wake_count
        return self.wake
