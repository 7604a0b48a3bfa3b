"""Admin replies as typed values: pure parsers of the text servers answer.

Strategy: reading and parsing are separate.  ``ReplyReader`` is fed one line
at a time and says when a reply is complete (a block ends with ``.``; an
error or any other command ends after one line), so the asyncio client only
reads lines.  ``parse_reply(words, reply)`` then turns the ``Reply`` into one
typed value through the ``PARSERS`` table, keyed by the normalised command
("status", "show unique jobs" …): block commands give a tuple of frozen row
dataclasses, single-line commands one small result dataclass, and an ``ERR``
line raises ``AdminError``.  Formats are those of C gearmand 1.1.20, Perl
Gearman::Server 1.130.1 and gear's extensions (docs/admin-protocol.md;
survey §2).  A line that does not fit its format raises
``RemoteProtocolError`` naming the command and the line.  The row and
result dataclasses live in ``admin_rows`` and are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TypeVar

from gear.errors import GearError, RemoteProtocolError
from gear.protocol.admin import is_block_command
from gear.protocol.admin_rows import (
    ClientJob,
    FunctionCounters,
    FunctionCreated,
    FunctionDropped,
    FunctionStatus,
    JobCancelled,
    JobInfo,
    MaxQueue,
    MaxQueueSet,
    PerlJob,
    PriorityStatus,
    QueuedJob,
    Result,
    Row,
    ServerKind,
    ServerPid,
    ServerVersion,
    ShutdownAccepted,
    Single,
    Stat,
    UniqueJob,
    VerboseLevel,
    WorkerDetail,
    WorkerInfo,
)

__all__ = [
    "ENCODING",
    "ERRORS",
    "AdminError",
    "ClientJob",
    "FunctionCounters",
    "FunctionCreated",
    "FunctionDropped",
    "FunctionStatus",
    "JobCancelled",
    "JobInfo",
    "MaxQueue",
    "MaxQueueSet",
    "PerlJob",
    "PriorityStatus",
    "QueuedJob",
    "Reply",
    "ReplyReader",
    "Result",
    "Row",
    "ServerKind",
    "ServerPid",
    "ServerVersion",
    "ShutdownAccepted",
    "Single",
    "Stat",
    "UniqueJob",
    "VerboseLevel",
    "WorkerDetail",
    "WorkerInfo",
    "command_key",
    "expects_block",
    "parse_perl_clients",
    "parse_perl_jobs",
    "parse_priority_status",
    "parse_reply",
    "parse_show_functions",
    "parse_show_jobs",
    "parse_show_maxqueue",
    "parse_show_queue",
    "parse_show_unique_jobs",
    "parse_show_workers",
    "parse_stats",
    "parse_status",
    "parse_version",
    "parse_workers",
    "server_kind",
    "unescape",
]

#: admin text is bytes; surrogateescape keeps any byte round-trippable
ENCODING = "utf-8"
ERRORS = "surrogateescape"

R = TypeVar("R")


class AdminError(GearError):
    """A server answered an admin command with ``ERR CODE text``."""

    def __init__(self, code: str, text: str = "", command: str = "") -> None:
        super().__init__(f"{code} {text}".strip())
        #: the error word, e.g. ``UNKNOWN_JOB``
        self.code = code
        #: the rest of the line, ``+`` turned back into spaces
        self.text = text
        #: the command that was refused
        self.command = command

    @property
    def unknown_command(self) -> bool:
        """Whether the server does not know the command at all."""
        return self.code.upper() in {"UNKNOWN_COMMAND", "UNKNOWN_SHOW_ARGUMENTS"}


# ---------------------------------------------------------------- replies --
@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One whole reply: the bytes as received and its lines without endings."""

    #: the command line it answers
    command: str
    #: every byte received, ``.`` terminator included
    raw: bytes
    #: block body lines, or the one line of a single-line reply
    lines: tuple[str, ...]
    #: whether it was a ``.``-terminated block
    block: bool

    @property
    def error(self) -> AdminError | None:
        """The ``ERR`` of a refused command, else None."""
        if self.block or not self.lines or not _is_err(self.lines[0]):
            return None
        _, _, rest = self.lines[0].partition(" ")
        code, _, text = rest.strip().partition(" ")
        return AdminError(code, text.replace("+", " ").strip(), self.command)

    @property
    def value(self) -> str:
        """A single line's value: the text after ``OK `` (or the whole line)."""
        line = self.lines[0] if self.lines else ""
        if line == "OK":
            return ""
        return line[3:] if line.startswith("OK ") else line

    def check(self) -> Reply:
        """This reply, or raise its ``AdminError``."""
        error = self.error
        if error is not None:
            raise error
        return self


def _is_err(line: str) -> bool:
    return line.startswith("ERR ") and "\t" not in line


def expects_block(words: Sequence[str]) -> bool:
    """Whether a successful reply to ``words`` is a ``.``-terminated block."""
    lowered = [w.lower() for w in words[:2]]
    return is_block_command(list(words)) or lowered == ["acl", "list"]


class ReplyReader:
    """Collects the lines of one reply; ``feed`` returns it once complete."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._block = expects_block(command.split())
        self._raw = bytearray()
        self._lines: list[str] = []

    def feed(self, line: bytes) -> Reply | None:
        """Add one line (with its ending); the Reply when it was the last."""
        self._raw += line
        text = line.rstrip(b"\n").rstrip(b"\r").decode(ENCODING, ERRORS)
        if not self._block:
            return self._done([text], block=False)
        if not self._lines and _is_err(text):
            return self._done([text], block=False)
        if text == ".":
            return self._done(self._lines, block=True)
        self._lines.append(text)
        return None

    def _done(self, lines: list[str], *, block: bool) -> Reply:
        return Reply(command=self.command, raw=bytes(self._raw), lines=tuple(lines), block=block)


# ------------------------------------------------------------- block rows --
# ---------------------------------------------------------------- parsers --
def _bad(command: str, line: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"unexpected {command!r} reply line: {line!r}")


def _fields(command: str, line: str, count: int) -> list[str]:
    parts = line.split("\t")
    if len(parts) != count:
        raise _bad(command, line)
    return parts


def _flag(text: str) -> bool:
    return text not in ("0", "")


def _dash(text: str) -> str:
    return "" if text == "-" else text


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _handles(text: str) -> tuple[str, ...]:
    return () if text in ("-", "") else tuple(text.split(","))


def _tsv(
    command: str, row_type: Callable[..., R], *convert: Callable[[str], object]
) -> Callable[[Sequence[str]], tuple[R, ...]]:
    """A parser of tab-separated lines whose fields are ``row_type``'s, in order."""
    names = [f.name for f in fields(row_type)]  # type: ignore[arg-type]

    def parse(lines: Sequence[str]) -> tuple[R, ...]:
        rows = []
        for line in lines:
            parts = _fields(command, line, len(convert))
            try:
                values = [conv(part) for conv, part in zip(convert, parts, strict=True)]
            except ValueError:
                raise _bad(command, line) from None
            rows.append(row_type(**dict(zip(names, values, strict=True))))
        return tuple(rows)

    return parse


#: one ``%XX`` escape of gear's extension fields
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def unescape(text: str) -> str:
    """Undo gear's escaping of extension fields: ``-`` is empty, ``%XX`` a byte."""
    if text == "-":
        return ""
    raw = _PERCENT.sub(lambda m: bytes([int(m[1], 16)]), text.encode(ENCODING, ERRORS))
    return raw.decode(ENCODING, ERRORS)


def parse_status(lines: Sequence[str]) -> tuple[FunctionStatus, ...]:
    """Rows of a ``status`` block."""
    return _tsv("status", FunctionStatus, str, int, int, int)(lines)


def parse_priority_status(lines: Sequence[str]) -> tuple[PriorityStatus, ...]:
    """Rows of a ``prioritystatus`` block."""
    return _tsv("prioritystatus", PriorityStatus, str, int, int, int, int)(lines)


#: ``FD ADDRESS ID :[ F1 F2…]``; Perl adds a trailing space when empty
_WORKER_LINE = re.compile(r"^(\d+) (\S+) (.*?) :(?: (.*))?$")


def parse_workers(lines: Sequence[str]) -> tuple[WorkerInfo, ...]:
    """Rows of a ``workers`` block (C gearmand, gear, Perl)."""
    rows = []
    for line in lines:
        match = _WORKER_LINE.match(line)
        if match is None:
            raise _bad("workers", line)
        fd, address, client_id, funcs = match.groups()
        rows.append(
            WorkerInfo(
                fd=int(fd),
                address=address,
                client_id=_dash(client_id),
                functions=_words(funcs or ""),
            )
        )
    return tuple(rows)


def parse_show_jobs(lines: Sequence[str]) -> tuple[JobInfo, ...]:
    """Rows of a ``show jobs`` block."""
    return _tsv("show jobs", JobInfo, str, int, _flag, _flag)(lines)


def parse_show_unique_jobs(lines: Sequence[str]) -> tuple[UniqueJob, ...]:
    """Rows of a ``show unique jobs`` block."""
    return tuple(UniqueJob(unique=line) for line in lines)


def parse_show_queue(lines: Sequence[str]) -> tuple[QueuedJob, ...]:
    """Rows of gear's ``show queue`` block."""
    converters = (str, str, unescape, str, str, float, int, int, _flag, int)
    return _tsv("show queue", QueuedJob, *converters)(lines)


def parse_show_workers(lines: Sequence[str]) -> tuple[WorkerDetail, ...]:
    """Rows of gear's ``show workers`` block."""
    converters = (int, str, _dash, str, float, _handles, float, _words)
    return _tsv("show workers", WorkerDetail, *converters)(lines)


def parse_show_functions(lines: Sequence[str]) -> tuple[FunctionCounters, ...]:
    """Rows of gear's ``show functions`` block."""
    return _tsv("show functions", FunctionCounters, str, int, int)(lines)


def parse_show_maxqueue(lines: Sequence[str]) -> tuple[MaxQueue, ...]:
    """Rows of gear's ``show maxqueue`` block."""
    return _tsv("show maxqueue", MaxQueue, str, int, int, int)(lines)


def parse_stats(lines: Sequence[str]) -> tuple[Stat, ...]:
    """Rows of gear's ``stats`` block."""
    rows = []
    for line in lines:
        name, sep, value = line.partition("\t")
        if not sep:
            raise _bad("stats", line)
        rows.append(Stat(name=name, value=value))
    return tuple(rows)


def parse_perl_jobs(lines: Sequence[str]) -> tuple[PerlJob, ...]:
    """Rows of Perl's ``jobs`` block."""
    return _tsv("jobs", PerlJob, str, str, _dash, int)(lines)


def parse_perl_clients(lines: Sequence[str]) -> tuple[ClientJob, ...]:
    """Rows of Perl's ``clients`` block, one per (client, job it waits on)."""
    rows: list[ClientJob] = []
    current: str | None = None
    has_jobs = False
    for line in lines:
        if not line.startswith("\t"):
            if current is not None and not has_jobs:
                rows.append(ClientJob(client=current, function="", unique="", worker=""))
            current, has_jobs = line, False
            continue
        if current is None:
            raise _bad("clients", line)
        func, unique, worker = _fields("clients", line[1:], 3)
        rows.append(
            ClientJob(
                client=current, function=func, unique=unique, worker="" if worker == "-" else worker
            )
        )
        has_jobs = True
    if current is not None and not has_jobs:
        rows.append(ClientJob(client=current, function="", unique="", worker=""))
    return tuple(rows)


def server_kind(version_line: str) -> ServerKind:
    """The implementation behind a ``version`` reply line."""
    if re.match(r"^OK \S*-gear-\S+$", version_line):
        return ServerKind.GEAR
    if version_line.startswith("OK "):
        return ServerKind.GEARMAND
    if re.match(r"^v?\d+\.\d+", version_line):
        return ServerKind.PERL
    return ServerKind.UNKNOWN


def parse_version(line: str) -> ServerVersion:
    """The ``version`` reply: ``OK 1.1.20+ds`` (C), ``OK 1.1.20-gear-X`` or ``v1.130.1`` (Perl)."""
    kind = server_kind(line)
    value = line[3:] if line.startswith("OK ") else line
    if kind is ServerKind.PERL:
        value = value.removeprefix("v")
    return ServerVersion(version=value.strip(), kind=kind)


# ------------------------------------------------------ the command table --
Parser = Callable[[Sequence[str], Reply], "Result"]


def _block(parse: Callable[[Sequence[str]], tuple[Row, ...]]) -> Parser:
    return lambda words, reply: parse(reply.lines)


def _pid(words: Sequence[str], reply: Reply) -> ServerPid:
    try:
        return ServerPid(pid=int(reply.value))
    except ValueError:
        raise _bad("getpid", reply.lines[0] if reply.lines else "") from None


def _size(words: Sequence[str], index: int) -> int | None:
    if len(words) <= index:
        return None
    try:
        return int(words[index])
    except ValueError:
        return None


def _maxqueue(words: Sequence[str], reply: Reply) -> MaxQueueSet:
    sizes = [_size(words, i) for i in (2, 3, 4)]
    if len(words) == 3:
        sizes = [sizes[0]] * 3
    return MaxQueueSet(function=words[1], high=sizes[0], normal=sizes[1], low=sizes[2])


#: normalised command -> parser of its (non-error) reply
PARSERS: dict[str, Parser] = {
    "status": _block(parse_status),
    "prioritystatus": _block(parse_priority_status),
    "workers": _block(parse_workers),
    "show jobs": _block(parse_show_jobs),
    "show unique jobs": _block(parse_show_unique_jobs),
    "show queue": _block(parse_show_queue),
    "show workers": _block(parse_show_workers),
    "show functions": _block(parse_show_functions),
    "show maxqueue": _block(parse_show_maxqueue),
    "stats": _block(parse_stats),
    "jobs": _block(parse_perl_jobs),
    "clients": _block(parse_perl_clients),
    "version": lambda words, reply: parse_version(reply.lines[0] if reply.lines else ""),
    "getpid": _pid,
    "verbose": lambda words, reply: VerboseLevel(level=reply.value),
    "cancel job": lambda words, reply: JobCancelled(handle=words[2]),
    "create function": lambda words, reply: FunctionCreated(function=words[2]),
    "drop function": lambda words, reply: FunctionDropped(function=words[2]),
    "maxqueue": _maxqueue,
    "shutdown": lambda words, reply: ShutdownAccepted(graceful=len(words) > 1),
}

_TWO_WORDS = {"show", "cancel", "create", "drop"}


def command_key(words: Sequence[str]) -> str:
    """The ``PARSERS`` key of a command line's words ("show unique jobs" …)."""
    if not words:
        return ""
    head = words[0].lower()
    if head not in _TWO_WORDS or len(words) < 2:
        return head
    second = words[1].lower()
    if head == "show" and second == "unique" and len(words) > 2:
        return f"show unique {words[2].lower()}"
    return f"{head} {second}"


def parse_reply(words: Sequence[str], reply: Reply) -> Result:
    """The typed value of ``reply`` to the command ``words``.

    Args:
        words: the command line split on spaces.
        reply: the complete reply read for it.

    Returns:
        A tuple of rows for block commands, a result dataclass otherwise.

    Raises:
        AdminError: the server answered ``ERR``.
        RemoteProtocolError: the reply does not fit the command's format, or
            the command has no parser (send it as a raw line instead).
    """
    reply.check()
    parser = PARSERS.get(command_key(words))
    if parser is None:
        raise RemoteProtocolError(f"no parser for admin command {' '.join(words)!r}")
    return parser(words, reply)
