"""Raw-socket scripts for differential tests, and the masking of their transcripts.

Strategy: a case is a function that drives a ``Script``: it opens named
connections and exchanges bytes (binary packets, admin lines, or both) with
one server.  Every exchange ends with an ECHO_REQ carrying a fresh token, and
the reply is read until that token's ECHO_RES arrives: the echo is a barrier,
so "no reply expected" is checked without sleeping, and a reply relayed from
another connection is known to be queued before the barrier's answer (both
servers handle one connection's packets in order).  If the server closes the
connection instead, the reply ends with ``<EOF>``.

Each exchange is recorded as (connection, bytes sent, bytes received).  The
same case runs against C gearmand and gear; ``view`` masks what may
legitimately differ (job handles, pids, fds, versions, verbosity, the order
of lines in a listing, the per-case name prefix) and renders the transcript
as one string per step, so two servers' views compare byte for byte and a
mismatch reads as a diff.  Binary packets are parsed before masking (a
handle's length changes the header) and are shown as ``TYPE[arg, ...]``.

Encoding is done here with ``struct``, not with gear's codec, so the tests
do not trust the code under test to frame their requests.
"""

from __future__ import annotations

import itertools
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gear.protocol.constants import PacketType

HEADER = struct.Struct(">4sII")
REQ = b"\0REQ"
RES = b"\0RES"
P = PacketType

#: how long one exchange may wait for its barrier
TIMEOUT = 5.0
#: how long ``wait_gone`` polls ``workers`` for a closed connection to vanish
GONE_TIMEOUT = 5.0
_tokens = itertools.count(1)


def packet(ptype: int, *args: bytes, magic: bytes = REQ) -> bytes:
    """One packet as bytes (arguments joined with NUL, not checked)."""
    body = b"\0".join(args)
    return HEADER.pack(magic, ptype, len(body)) + body


def split_stream(data: bytes) -> Iterator[tuple[str, bytes, int, bytes]]:
    """Cut a reply stream into ("text", line, 0, b"") and ("bin", magic, type, body)."""
    pos = 0
    while pos < len(data):
        if data[pos] != 0:
            nl = data.find(b"\n", pos)
            end = len(data) if nl < 0 else nl + 1
            yield "text", data[pos:end], 0, b""
            pos = end
            continue
        if len(data) - pos < HEADER.size:
            yield "text", data[pos:], 0, b""
            return
        magic, ptype, size = HEADER.unpack_from(data, pos)
        body = data[pos + HEADER.size : pos + HEADER.size + size]
        yield "bin", magic, ptype, body
        pos += HEADER.size + size


def packets(data: bytes) -> list[tuple[int, list[bytes]]]:
    """The binary packets in a reply, as (type, args split on every NUL)."""
    return [(t, body.split(b"\0")) for kind, _, t, body in split_stream(data) if kind == "bin"]


@dataclass
class Step:
    """One recorded exchange."""

    label: str
    sent: bytes
    received: bytes


class Conn:
    """A blocking connection whose every exchange ends at an echo barrier."""

    def __init__(self, script: Script, label: str) -> None:
        self.script = script
        self.label = label
        self.sock = socket.create_connection(("127.0.0.1", script.port), timeout=TIMEOUT)
        self.closed = False

    def exchange(self, data: bytes) -> bytes:
        """Send ``data`` then a barrier; return (and record) all that came before it."""
        token = b"barrier-%d" % next(_tokens)
        echo = packet(P.ECHO_RES, token, magic=RES)
        self.sock.sendall(data + packet(P.ECHO_REQ, token))
        received = self._read_until(echo)
        self.script.steps.append(Step(self.label, data, received))
        return received

    def _read_until(self, echo: bytes) -> bytes:
        buf = b""
        deadline = time.monotonic() + TIMEOUT
        while not buf.endswith(echo):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.closed = True
                return buf + b"<TIMEOUT>"
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                return buf + b"<EOF>"
            buf += chunk
        return buf[: -len(echo)]

    def send(self, ptype: int, *args: bytes) -> bytes:
        """Exchange one request packet."""
        return self.exchange(packet(ptype, *args))

    def admin(self, line: str | bytes, end: bytes = b"\n") -> bytes:
        """Exchange one admin line (``end`` is its line ending)."""
        raw = line.encode() if isinstance(line, str) else line
        self.script.check_admin(raw)
        return self.exchange(raw + end)

    def submit(
        self, function: bytes, data: bytes = b"", unique: bytes = b"", ptype: int = P.SUBMIT_JOB
    ) -> bytes:
        """Submit a job; return its handle (from JOB_CREATED)."""
        reply = self.send(ptype, function, unique, data)
        return job_handle(reply)

    def barrier(self) -> bytes:
        """Record whatever the server sent since the last exchange."""
        return self.exchange(b"")

    def close(self) -> None:
        """Close the socket (recorded as a step)."""
        self.sock.close()
        self.script.steps.append(Step(self.label, b"<close>", b""))


def job_handle(reply: bytes) -> bytes:
    """The handle of the JOB_CREATED or JOB_ASSIGN* packet in ``reply``."""
    for ptype, args in packets(reply):
        if ptype in (P.JOB_CREATED, P.JOB_ASSIGN, P.JOB_ASSIGN_UNIQ, P.JOB_ASSIGN_ALL):
            return args[0]
    raise AssertionError(f"no job handle in {reply!r}")


@dataclass
class Script:
    """One run of a case against one server."""

    port: int
    #: prefix of every name the case makes, so cases sharing a server never meet
    ns: str
    #: True when the server is this case's alone (whole-server listings allowed)
    fresh: bool
    steps: list[Step] = field(default_factory=list)
    conns: list[Conn] = field(default_factory=list)

    def conn(self, label: str) -> Conn:
        """Open a new connection named ``label`` in the transcript."""
        c = Conn(self, label)
        self.conns.append(c)
        return c

    def fn(self, name: str) -> bytes:
        """A function name (or unique) private to this case."""
        return f"{self.ns}-{name}".encode()

    def check_admin(self, line: bytes) -> None:
        """On a shared server, refuse listings that would show other cases' state."""
        words = [w for w in line.lower().split(b" ") if w]
        listing = words in ([b"workers"], [b"show", b"jobs"], [b"show", b"unique", b"jobs"])
        if listing and not self.fresh:
            raise AssertionError(f"{line!r} needs a fresh server: mark the case fresh=True")

    def wait_gone(self, watcher: Conn, count: int) -> None:
        """Poll ``workers`` (unrecorded) until at most ``count`` connections remain.

        A server notices a closed socket asynchronously; this bounded loop of
        admin queries (each one a round trip, no sleeping) waits until it has.
        """
        deadline = time.monotonic() + GONE_TIMEOUT
        while time.monotonic() < deadline:
            before = len(self.steps)
            reply = watcher.exchange(b"workers\n")
            del self.steps[before:]
            if reply.count(b"\n") - 1 <= count:
                return
        raise AssertionError(f"server still lists more than {count} connections")

    def close(self) -> None:
        """Close every connection still open."""
        for c in self.conns:
            c.sock.close()


# ---------------------------------------------------------------- masking --
_HANDLE = re.compile(rb"H:[^\s\x00:]+:\d+")
_PID = re.compile(rb"^OK \d+\n$")
_VERSION = re.compile(rb"^OK 1\.1\.20\S*\n$")
_LEVEL = re.compile(rb"^OK (FATAL|ALERT|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG)\n$")
_WORKER_FD = re.compile(rb"^\d+ (?=\S+ .* :)")


class Masker:
    """Masks one transcript; handles are numbered by first appearance."""

    def __init__(self, ns: str, keep_only_ns: bool) -> None:
        self.ns = ns.encode() + b"-"
        self.keep_only_ns = keep_only_ns
        self.handles: dict[bytes, bytes] = {}

    def _handle(self, match: re.Match[bytes]) -> bytes:
        raw = match.group(0)
        if raw not in self.handles:
            self.handles[raw] = b"H:<%d>" % (len(self.handles) + 1)
        return self.handles[raw]

    def value(self, raw: bytes) -> bytes:
        """Mask handles and the case's name prefix inside any bytes."""
        return _HANDLE.sub(self._handle, raw).replace(self.ns, b"~")

    def text_line(self, line: bytes) -> bytes:
        """Mask one admin reply line."""
        if _VERSION.match(line):
            return b"OK <version>\n"
        if _PID.match(line):
            return b"OK <pid>\n"
        if _LEVEL.match(line):
            return b"OK <level>\n"
        return _WORKER_FD.sub(b"<fd> ", self.value(line))

    def render(self, data: bytes, magic: bytes = RES) -> str:
        """Mask and render bytes: packets as TYPE[args], listings sorted.

        A packet whose magic is not ``magic`` is shown with its magic.
        """
        parts: list[str] = []
        block: list[bytes] = []
        for kind, head, ptype, body in split_stream(data):
            if kind == "bin":
                parts.extend(_show(b) for b in self._flush(block))
                block = []
                parts.append(self._packet(head != magic, head, ptype, body))
                continue
            line = self.text_line(head)
            if line.startswith((b"OK", b"ERR")) and not block:
                parts.append(_show(line))
            elif line == b".\n":
                parts.append(_show(b"".join(self._flush(block, listing=True)) + line))
                block = []
            else:
                block.append(line)
        parts.extend(_show(b) for b in self._flush(block))
        return " | ".join(parts) if parts else "-"

    def _flush(self, block: list[bytes], listing: bool = False) -> list[bytes]:
        if not listing:
            return block
        if self.keep_only_ns:
            block = [line for line in block if b"\t" not in line or line.startswith(b"~")]
        # C lists functions, jobs and connections in hash-table order
        return sorted(block)

    def _packet(self, odd: bool, magic: bytes, ptype: int, body: bytes) -> str:
        try:
            name = PacketType(ptype).name
        except ValueError:
            name = str(ptype)
        if odd:
            name = f"{_show(magic)}:{name}"
        if not body:
            return name
        args = [_show(self.value(a)) for a in body.split(b"\0")]
        return f"{name}[{', '.join(args)}]"


def _show(raw: bytes) -> str:
    return repr(raw)[1:]


def view(script: Script, keep_only_ns: bool | None = None) -> list[str]:
    """The masked transcript: ``label> sent`` / ``label< received`` per step."""
    if keep_only_ns is None:
        keep_only_ns = not script.fresh
    masker = Masker(script.ns, keep_only_ns)
    out = []
    for step in script.steps:
        if step.sent == b"<close>":
            out.append(f"{step.label} closed")
            continue
        sent = masker.render(step.sent, REQ) if step.sent else "(barrier)"
        out.append(f"{step.label}> {sent}")
        out.append(f"{step.label}< {masker.render(step.received)}")
    return out


# ---------------------------------------------------- plain admin queries --
class AdminSocket:
    """A connection for admin commands, read to the end of each reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""

    def query(self, line: str) -> str:
        """Send one command; its whole reply (one line, or a block up to ``.``)."""
        self.sock.sendall(line.encode() + b"\n")
        while True:
            end = _reply_end(self.buf)
            if end:
                reply, self.buf = self.buf[:end], self.buf[end:]
                return reply.decode()
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"server closed the admin connection after {line!r}")
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AdminSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reply_end(buf: bytes) -> int:
    """Where the first complete admin reply in ``buf`` ends (0: not complete)."""
    nl = buf.find(b"\n")
    if nl < 0:
        return 0
    if buf.startswith((b"OK", b"ERR")) or buf.startswith(b".\n"):
        return nl + 1
    end = buf.find(b"\n.\n")
    return end + 3 if end >= 0 else 0


def admin_query(port: int, line: str) -> str:
    """One admin command on a new connection; the whole reply as text."""
    with AdminSocket(port) as admin:
        return admin.query(line)


def status_table(reply: str) -> dict[str, list[int]]:
    """A ``status`` or ``prioritystatus`` reply as {function: [numbers...]}."""
    rows = {}
    for line in reply.splitlines():
        if "\t" in line:
            name, *numbers = line.split("\t")
            rows[name] = [int(n) for n in numbers]
    return rows


def wait_for_workers(port: int, function: str, count: int = 1) -> None:
    """Poll ``status`` until ``function`` has ``count`` workers.

    A bounded loop of admin round trips on one connection: each query waits
    on the socket, so nothing sleeps; it fails after GONE_TIMEOUT seconds.
    """
    deadline = time.monotonic() + GONE_TIMEOUT
    with AdminSocket(port) as admin:
        while time.monotonic() < deadline:
            row = status_table(admin.query("status")).get(function)
            if row is not None and row[-1] >= count:
                return
    raise AssertionError(f"no {count} worker(s) registered {function!r} in time")


def wait_for_admin(port: int, line: str, predicate: Callable[[str], bool]) -> str:
    """Repeat an admin command until its reply satisfies ``predicate``; the reply.

    For state that changes when a peer disconnects: the server sees the
    close a moment after the peer's process has exited.  A bounded loop of
    admin round trips on one connection, so nothing sleeps.
    """
    deadline = time.monotonic() + GONE_TIMEOUT
    with AdminSocket(port) as admin:
        while True:
            reply = admin.query(line)
            if predicate(reply) or time.monotonic() > deadline:
                return reply
