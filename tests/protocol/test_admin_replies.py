"""Admin reply parsing: exact bytes of C gearmand 1.1.20, Perl 1.130.1 and gear."""

from __future__ import annotations

import pytest

from gear.errors import RemoteProtocolError
from gear.protocol import admin_replies as ar
from gear.protocol.admin_replies import ReplyReader, ServerKind, parse_reply


def read(command: str, data: bytes) -> tuple[ar.Reply, bytes]:
    """Feed ``data`` line by line; the reply and the bytes left unread."""
    reader = ReplyReader(command)
    lines = data.splitlines(keepends=True)
    for index, line in enumerate(lines):
        reply = reader.feed(line)
        if reply is not None:
            return reply, b"".join(lines[index + 1 :])
    raise AssertionError("reply never completed")


def parse(command: str, data: bytes) -> ar.Result:
    reply, rest = read(command, data)
    assert rest == b""
    return parse_reply(command.split(), reply)


# ------------------------------------------------------------------ reader --
def test_block_ends_at_dot_and_leaves_the_rest() -> None:
    reply, rest = read("status", b"fn\t0\t0\t1\n.\nOK 1.1.20\n")
    assert reply.block and reply.lines == ("fn\t0\t0\t1",)
    assert reply.raw == b"fn\t0\t0\t1\n.\n"
    assert rest == b"OK 1.1.20\n"


def test_empty_block() -> None:
    reply, _ = read("show jobs", b".\n")
    assert reply.block and reply.lines == ()


def test_err_line_ends_a_block_command() -> None:
    reply, rest = read("show foo", b"ERR UNKNOWN_SHOW_ARGUMENTS\r\nmore\n")
    assert not reply.block and rest == b"more\n"
    error = reply.error
    assert error is not None and error.code == "UNKNOWN_SHOW_ARGUMENTS" and error.unknown_command


def test_err_text_turns_plus_into_spaces() -> None:
    reply, _ = read("maxqueue", b"ERR INVALID_ARGUMENTS An+incomplete+set\r\n")
    error = reply.error
    assert error is not None
    assert (error.code, error.text, error.command) == (
        "INVALID_ARGUMENTS",
        "An incomplete set",
        "maxqueue",
    )
    with pytest.raises(ar.AdminError):
        reply.check()


def test_perl_unknown_command_with_trailing_space() -> None:
    reply, _ = read("prioritystatus", b"ERR unknown_command \r\n")
    assert reply.error is not None and reply.error.unknown_command


def test_single_line_values() -> None:
    assert read("version", b"OK 1.1.20+ds\n")[0].value == "1.1.20+ds"
    assert read("cancel job H:1", b"OK\r\n")[0].value == ""
    assert read("version", b"v1.130.1\n")[0].value == "v1.130.1"


def test_a_status_row_starting_with_err_is_a_row() -> None:
    reply, _ = read("status", b"ERR x\t1\t0\t0\n.\n")
    assert reply.block and reply.error is None


def test_acl_list_is_a_block() -> None:
    assert ar.expects_block(["acl", "list"]) and not ar.expects_block(["version"])


# ------------------------------------------------------------- C gearmand --
def test_status() -> None:
    rows = parse("status", b"fn\t0\t0\t1\nother\t5\t2\t0\n.\n")
    assert rows == (
        ar.FunctionStatus(function="fn", total=0, running=0, workers=1),
        ar.FunctionStatus(function="other", total=5, running=2, workers=0),
    )
    assert isinstance(rows, tuple) and rows[1].queued == 3  # type: ignore[union-attr]


def test_prioritystatus() -> None:
    assert parse("prioritystatus", b"reverse\t1\t2\t3\t4\n.\n") == (
        ar.PriorityStatus(function="reverse", high=1, normal=2, low=3, workers=4),
    )


def test_workers_c_and_perl_forms() -> None:
    data = b"38 127.0.0.1 worker-id-1 : slowfn reverse\n39 127.0.0.1 - :\n7 ::1 - : \n.\n"
    assert parse("workers", data) == (
        ar.WorkerInfo(
            fd=38, address="127.0.0.1", client_id="worker-id-1", functions=("slowfn", "reverse")
        ),
        ar.WorkerInfo(fd=39, address="127.0.0.1", client_id="", functions=()),
        ar.WorkerInfo(fd=7, address="::1", client_id="", functions=()),
    )


def test_show_jobs_and_unique_jobs() -> None:
    assert parse("show jobs", b"H:vm:1\t0\t0\t1\nH:vm:2\t3\t1\t0\n.\n") == (
        ar.JobInfo(handle="H:vm:1", retries=0, ignored=False, queued=True),
        ar.JobInfo(handle="H:vm:2", retries=3, ignored=True, queued=False),
    )
    assert parse("show unique jobs", b"u1\n\n.\n") == (
        ar.UniqueJob(unique="u1"),
        ar.UniqueJob(unique=""),
    )


def test_single_line_results() -> None:
    assert parse("version", b"OK 1.1.20+ds\n") == ar.ServerVersion(
        version="1.1.20+ds", kind=ServerKind.GEARMAND
    )
    assert parse("getpid", b"OK 14002\n") == ar.ServerPid(pid=14002)
    assert parse("verbose", b"OK DEBUG\n") == ar.VerboseLevel(level="DEBUG")
    assert parse("cancel job H:vm:1", b"OK\r\n") == ar.JobCancelled(handle="H:vm:1")
    assert parse("create function f", b"OK\r\n") == ar.FunctionCreated(function="f")
    assert parse("drop function f", b"OK\r\n") == ar.FunctionDropped(function="f")


@pytest.mark.parametrize(
    ("line", "sizes"),
    [
        ("maxqueue f", (None, None, None)),
        ("maxqueue f 10", (10, 10, 10)),
        ("maxqueue f 1 2 3", (1, 2, 3)),
    ],
)
def test_maxqueue(line: str, sizes: tuple[int | None, ...]) -> None:
    result = parse(line, b"OK\r\n")
    assert isinstance(result, ar.MaxQueueSet)
    assert (result.function, result.high, result.normal, result.low) == ("f", *sizes)


def test_err_reply_raises_admin_error() -> None:
    with pytest.raises(ar.AdminError) as info:
        parse("cancel job nope", b"ERR UNKNOWN_JOB\r\n")
    assert info.value.code == "UNKNOWN_JOB" and not info.value.unknown_command


@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("status", b"fn\t1\t0\n.\n"),
        ("status", b"fn\tx\t0\t0\n.\n"),
        ("workers", b"garbage\n.\n"),
        ("show jobs", b"H:1\t0\t0\n.\n"),
        ("getpid", b"OK abc\n"),
        ("stats", b"novalue\n.\n"),
        ("clients", b"\tf\tu\t-\n.\n"),
    ],
)
def test_malformed_lines_raise(command: str, data: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match=command.split()[0]):
        parse(command, data)


def test_unknown_command_has_no_parser() -> None:
    with pytest.raises(RemoteProtocolError, match="no parser"):
        parse("gladiator", b"      3 SCALAR\n.\n")


# ------------------------------------------------------------------- Perl --
def test_perl_version_and_kind() -> None:
    assert parse("version", b"v1.130.1\n") == ar.ServerVersion(
        version="1.130.1", kind=ServerKind.PERL
    )


def test_perl_jobs() -> None:
    assert parse("jobs", b"reverse\tu1\t-\t0\nresize\tu2\t127.0.0.1:5000\t2\n.\n") == (
        ar.PerlJob(function="reverse", unique="u1", worker="", listeners=0),
        ar.PerlJob(function="resize", unique="u2", worker="127.0.0.1:5000", listeners=2),
    )


def test_perl_clients() -> None:
    data = b"127.0.0.1:4000\n\treverse\tu1\t-\n\tresize\tu2\t127.0.0.1:5000\n127.0.0.1:4001\n.\n"
    assert parse("clients", data) == (
        ar.ClientJob(client="127.0.0.1:4000", function="reverse", unique="u1", worker=""),
        ar.ClientJob(
            client="127.0.0.1:4000", function="resize", unique="u2", worker="127.0.0.1:5000"
        ),
        ar.ClientJob(client="127.0.0.1:4001", function="", unique="", worker=""),
    )


def test_perl_shutdown_ok() -> None:
    assert parse("shutdown graceful", b"OK\n") == ar.ShutdownAccepted(graceful=True)


# ------------------------------------------------------- gear extensions --
def test_show_queue_unescapes_uniques() -> None:
    data = (
        b"H:t:1\treverse\ta%20b%25\thigh\tqueued\t1.500\t5\t1\t0\t0\n"
        b"H:t:2\treverse\t-\tlow\tscheduled\t0.000\t0\t0\t1\t1900000000\n.\n"
    )
    first, second = parse("show queue", data)  # type: ignore[misc]
    assert first == ar.QueuedJob(
        handle="H:t:1",
        function="reverse",
        unique="a b%",
        priority="high",
        state="queued",
        age=1.5,
        size=5,
        clients=1,
        background=False,
        when=0,
    )
    assert second.unique == "" and second.background and second.when == 1900000000


def test_show_workers() -> None:
    data = (
        b"12\t127.0.0.1\tw1\tbusy\t0.250\tH:t:1,H:t:2\t9.000\tf g\n"
        b"13\t::1\t-\tsleeping\t1.000\t-\t2.000\tf\n.\n"
    )
    busy, sleeping = parse("show workers", data)  # type: ignore[misc]
    assert busy.handles == ("H:t:1", "H:t:2") and busy.functions == ("f", "g")
    assert sleeping.client_id == "" and sleeping.handles == () and sleeping.state == "sleeping"


def test_show_maxqueue_stats_and_gear_version() -> None:
    assert parse("show maxqueue", b"f\t1\t2\t3\n.\n") == (
        ar.MaxQueue(function="f", high=1, normal=2, low=3),
    )
    assert parse("stats", b"uptime\t1.5\nversion\t1.1.20-gear-0.1.0\n.\n") == (
        ar.Stat(name="uptime", value="1.5"),
        ar.Stat(name="version", value="1.1.20-gear-0.1.0"),
    )
    assert parse("version", b"OK 1.1.20-gear-0.1.0\n") == ar.ServerVersion(
        version="1.1.20-gear-0.1.0", kind=ServerKind.GEAR
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("OK 1.1.20-gear-0.1.0", ServerKind.GEAR),
        ("OK 1.1.20+ds", ServerKind.GEARMAND),
        ("OK 1.1.19", ServerKind.GEARMAND),
        ("v1.130.1", ServerKind.PERL),
        ("", ServerKind.UNKNOWN),
        ("ERR x", ServerKind.UNKNOWN),
    ],
)
def test_server_kind(line: str, kind: ServerKind) -> None:
    assert ar.server_kind(line) is kind


@pytest.mark.parametrize(
    ("text", "plain"),
    [("-", ""), ("abc", "abc"), ("%09x%0A", "\tx\n"), ("50%", "50%"), ("%zz", "%zz")],
)
def test_unescape(text: str, plain: str) -> None:
    assert ar.unescape(text) == plain


@pytest.mark.parametrize(
    ("words", "key"),
    [
        ("STATUS", "status"),
        ("show unique jobs", "show unique jobs"),
        ("show queue reverse", "show queue"),
        ("Cancel Job H:1", "cancel job"),
        ("show", "show"),
        ("", ""),
    ],
)
def test_command_key(words: str, key: str) -> None:
    assert ar.command_key(words.split()) == key


def test_non_utf8_bytes_survive() -> None:
    reply, _ = read("show unique jobs", b"\xff\xfe\n.\n")
    assert reply.lines[0].encode(ar.ENCODING, ar.ERRORS) == b"\xff\xfe"


def test_show_functions_rows() -> None:
    rows = ar.parse_show_functions(["fa\t3\t2", "fb\t0\t0"])
    assert rows == (
        ar.FunctionCounters(function="fa", submitted=3, finished=2),
        ar.FunctionCounters(function="fb", submitted=0, finished=0),
    )
