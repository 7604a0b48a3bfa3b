"""``gear admin`` as a library call: options in, exit status out.

Strategy: the click command only fills ``AdminOptions`` and calls
``run(options)`` (STYLE rule 8).  ``run`` picks the mode: commands on the
command line, or on stdin when it is not a terminal, run once through
``oneshot``; otherwise the prompt_toolkit session starts (imported only
then, so scripts never load prompt_toolkit).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

import click

from gear.cli.repl.oneshot import ScriptIO, run_lines
from gear.cli.repl.servers import ServerGroup

#: the server used when none is given
DEFAULT_SERVER = "localhost:4730"


@dataclass
class AdminOptions:
    """Everything ``gear admin`` can be told."""

    #: ``host[:port]`` of each server
    servers: list[str] = field(default_factory=lambda: [DEFAULT_SERVER])
    #: one command given on the command line (words joined), or empty
    command: str = ""
    #: one JSON document per command instead of tab-separated lines
    json: bool = False
    #: a header line before tab-separated rows
    header: bool = False
    #: run destructive commands without asking
    yes: bool = False
    #: seconds to wait for a connection or a reply
    timeout: float = 5.0
    #: TLS context of the admin connections (None: plain TCP)
    tls: ssl.SSLContext | None = None


def split_servers(values: Iterable[str]) -> list[str]:
    """Server addresses from repeated options and comma/space lists."""
    out = [part for value in values for part in value.replace(",", " ").split()]
    return out or [DEFAULT_SERVER]


def run(
    options: AdminOptions,
    stdin: TextIO | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``gear admin``; the exit status (see docs/admin.md)."""
    stdin = stdin or sys.stdin
    group = ServerGroup(options.servers, timeout=options.timeout, tls=options.tls)
    lines: list[str] | Iterable[str] | None = None
    if options.command:
        lines = [options.command]
    elif not stdin.isatty():
        lines = stdin
    if lines is None:
        return _until_interrupted(_interactive(group, options))
    io = ScriptIO(
        stdout=stdout or sys.stdout.buffer,
        stderr=stderr or sys.stderr,
        confirm=_confirm if stdin.isatty() else None,
        json=options.json,
        header=options.header,
        yes=options.yes,
    )
    return _until_interrupted(run_lines(group, lines, io))


def _until_interrupted(main: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        return 130


def _confirm(question: str) -> bool:
    return click.confirm(question, default=False, err=True)


async def _interactive(group: ServerGroup, options: AdminOptions) -> int:
    from gear.cli.repl.session import ReplSession

    return await ReplSession(group, yes=options.yes).run()
