"""The text admin protocol's shapes: command splitting and reply formats.

Expected bytes are C gearmand 1.1.20's (survey §2): list replies end with
``.\\n``, ``OK``/``ERR`` replies with ``\\r\\n`` except ``OK <value>\\n``, and
error texts use ``+`` for spaces.
"""

from __future__ import annotations

import pytest

from gear.protocol import AdminLine, Decoder
from gear.protocol import admin as fmt


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"status", [b"status"]),
        (b"  maxqueue   reverse  10 ", [b"maxqueue", b"reverse", b"10"]),
        (b"show unique jobs", [b"show", b"unique", b"jobs"]),
        # C gearmand splits on spaces only: a tab is part of a word
        (b"cancel\tjob H:x:1", [b"cancel\tjob", b"H:x:1"]),
        (b"", []),
        (b"    ", []),
    ],
)
def test_split_command(line: bytes, words: list[bytes]) -> None:
    assert fmt.split_command(line) == words


def test_split_command_of_a_decoded_crlf_line() -> None:
    decoder = Decoder()
    decoder.feed(b"maxqueue f 1 2 3\r\n")
    event = decoder.next_event()
    assert isinstance(event, AdminLine)
    assert fmt.split_command(event.line) == [b"maxqueue", b"f", b"1", b"2", b"3"]


def test_ok_is_crlf_terminated() -> None:
    assert fmt.OK == b"OK\r\n"


@pytest.mark.parametrize("value", ["1.1.20+ds", b"1.1.20+ds"])
def test_ok_value_ends_in_a_bare_newline(value: str | bytes) -> None:
    assert fmt.ok_value(value) == b"OK 1.1.20+ds\n"


def test_ok_value_pid() -> None:
    assert fmt.ok_value(str(14002)) == b"OK 14002\n"


def test_err_with_text_uses_plus_for_spaces() -> None:
    assert (
        fmt.err("UNKNOWN_COMMAND", "Unknown server command")
        == b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"
    )


def test_err_without_text() -> None:
    assert fmt.err("UNKNOWN_JOB") == b"ERR UNKNOWN_JOB\r\n"


def test_block_of_status_rows() -> None:
    rows = [b"queued_only\t1\t0\t0", b"slowfn\t0\t0\t1", b"reverse\t2\t0\t1"]
    assert fmt.block(rows) == b"queued_only\t1\t0\t0\nslowfn\t0\t0\t1\nreverse\t2\t0\t1\n.\n"


def test_empty_block_is_just_the_terminator() -> None:
    assert fmt.block([]) == b".\n" == fmt.END


def test_block_keeps_empty_rows() -> None:
    # `show unique jobs` prints an empty line for a job without a unique
    assert fmt.block([b"u1", b""]) == b"u1\n\n.\n"


@pytest.mark.parametrize(
    "words",
    [
        ["status"],
        ["STATUS"],
        ["workers"],
        ["prioritystatus"],
        ["show", "jobs"],
        ["show", "unique", "jobs"],
        ["Show", "queue", "reverse"],
        ["stats"],
        ["jobs"],
        ["clients"],
        ["gladiator", "all"],
    ],
)
def test_block_commands(words: list[str]) -> None:
    assert fmt.is_block_command(words)


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["show"],
        ["version"],
        ["getpid"],
        ["verbose"],
        ["maxqueue", "f", "1"],
        ["cancel", "job", "H:x:1"],
        ["create", "function", "f"],
        ["drop", "function", "f"],
        ["shutdown"],
        ["statusx"],
    ],
)
def test_single_line_commands(words: list[str]) -> None:
    assert not fmt.is_block_command(words)
