"""The text admin protocol: splitting command lines, and the reply shapes.

Strategy: C gearmand splits a command line on runs of spaces (tabs are part
of a word), matches the command word case-insensitively and answers with
either one line (``OK\\r\\n``, ``OK value\\n``, ``ERR CODE text\\r\\n``) or a
block of lines ended by ``.\\n``.  This module holds those shapes so the server
that writes them and the clients that read them share one definition.
Error texts are URL-ish: spaces become ``+``.
"""

from __future__ import annotations

OK = b"OK\r\n"
END = b".\n"


def split_command(line: bytes) -> list[bytes]:
    """The words of an admin line, split on runs of spaces as gearmand does."""
    return [word for word in line.split(b" ") if word]


def ok_value(value: bytes | str) -> bytes:
    """A one-line ``OK value`` reply (ends in a bare newline, as C gearmand's)."""
    raw = value.encode() if isinstance(value, str) else value
    return b"OK " + raw + b"\n"


def err(code: str, text: str = "") -> bytes:
    """An ``ERR CODE text`` reply; spaces in ``text`` become ``+``."""
    tail = " " + text.replace(" ", "+") if text else ""
    return f"ERR {code}{tail}\r\n".encode()


def block(lines: list[bytes]) -> bytes:
    """A multi-line reply: each line plus ``\\n``, then ``.\\n``."""
    if not lines:
        return END
    return b"\n".join(lines) + b"\n" + END


def is_block_command(words: list[str]) -> bool:
    """Whether a command's successful reply is a ``.``-terminated block.

    Used by clients to know how much to read.  Covers C gearmand's commands
    and gear's extensions (docs/admin-protocol.md).
    """
    if not words:
        return False
    head = words[0].lower()
    if head in {"status", "workers", "prioritystatus", "stats", "jobs", "clients", "gladiator"}:
        return True
    return head == "show" and len(words) > 1
