"""Scripting: commands from argv or stdin, plain output, meaningful exit codes.

Strategy: each line is parsed with the REPL's grammar and run on the
group; output is tab-separated (``--json``: one JSON document per line) and
the exit status is the worst of all lines: 0 all OK, 1 a server answered
ERR or lacks the command, 2 a line did not parse or a destructive command
was refused, 3 a server was unreachable (survey §7 #22: gearadmin exits 0
on ERR).  Destructive commands run only with ``--yes``, or after a yes to
``confirm`` (given only when stdin is a terminal).  Nothing here imports
prompt_toolkit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from gear.cli.repl import output
from gear.cli.repl.commands import Command, ParseError, help_text, parse
from gear.cli.repl.servers import EXIT_ERR, EXIT_OK, EXIT_USAGE, ServerGroup
from gear.cli.repl.tables import plain, to_json


@dataclass
class ScriptIO:
    """Where one-shot mode writes, and how it asks."""

    stdout: BinaryIO
    stderr: TextIO
    #: asks a yes/no question; None when there is no terminal to ask on
    confirm: Callable[[str], bool] | None = None
    json: bool = False
    #: print a header line before TSV rows
    header: bool = False
    #: run destructive commands without asking
    yes: bool = False


async def run_lines(group: ServerGroup, lines: Iterable[str], io: ScriptIO) -> int:
    """Run each non-blank, non-``#`` line; the worst exit status."""
    worst = EXIT_OK
    try:
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            code = await run_line(group, line, io)
            if code is None:
                break
            worst = max(worst, code)
    finally:
        await group.close()
    return worst


async def run_line(group: ServerGroup, line: str, io: ScriptIO) -> int | None:
    """Run one line; its exit status, or None for ``quit``."""
    command = parse(line)
    if command is None:
        return EXIT_OK
    if isinstance(command, ParseError):
        _err(io, f"gear admin: {command}")
        return EXIT_USAGE
    if command.spec.local:
        return await _local(group, command, io)
    refused = _refuse(group, command, io)
    if refused is not None:
        return refused
    outcome = await group.run(command)
    multi = len(outcome.answers) > 1
    if io.json:
        io.stdout.write(to_json(output.json_record(outcome)).encode() + b"\n")
    else:
        data, errors = output.script(outcome, multi, io.header)
        io.stdout.write(data)
        for message in errors:
            _err(io, f"gear admin: {message}")
    io.stdout.flush()
    return outcome.exit_code


def _refuse(group: ServerGroup, command: Command, io: ScriptIO) -> int | None:
    if not command.spec.destructive or io.yes:
        return None
    where = ", ".join(s.name for s in group.focused())
    if io.confirm is None:
        _err(io, f"gear admin: refusing to run '{command.admin_line}' without --yes")
        return EXIT_USAGE
    if io.confirm(f"Run '{command.admin_line}' on {where}?"):
        return None
    _err(io, "gear admin: not confirmed")
    return EXIT_ERR


async def _local(group: ServerGroup, command: Command, io: ScriptIO) -> int | None:
    name = command.spec.name
    if name == "quit":
        return None
    if name == "help":
        _out(io, help_text(command.args[0] if command.args else None) + "\n")
    elif name == "servers":
        await group.ping()
        _out(io, plain(output.servers_table(group)))
    elif name == "server":
        try:
            group.set_focus(command.args[0] if command.args else None)
        except ValueError as exc:
            _err(io, f"gear admin: {exc}")
            return EXIT_USAGE
    return EXIT_OK


def _out(io: ScriptIO, text: str) -> None:
    io.stdout.write(text.encode())


def _err(io: ScriptIO, text: str) -> None:
    io.stderr.write(text + "\n")
    io.stderr.flush()
