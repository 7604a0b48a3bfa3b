"""The interactive loop: ``await session.prompt_async()`` under ``patch_stdout``.

Strategy: ``ReplSession`` owns a ``ServerGroup`` and a ``PromptSession``
built from the small modules around it (completer, lexer, keys, toolbar,
style).  The loop reads a line, ``handle`` runs it (REPL-only commands
here, server commands through ``group.run``) and prints what
``output.human`` made of the outcome through ``emit``.  A background task
pings the servers for the toolbar and refreshes completion names; it prints
"down"/"back" events, which appear above the prompt thanks to
``patch_stdout``.  Tests pass ``create_pipe_input()``, ``DummyOutput()``
and their own ``emit``; nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.shortcuts import print_formatted_text

from gear.cli.repl import output
from gear.cli.repl.commands import Command, ParseError, help_text, parse
from gear.cli.repl.completer import AdminCompleter
from gear.cli.repl.keys import admin_key_bindings
from gear.cli.repl.lexer import AdminLexer
from gear.cli.repl.servers import ServerGroup
from gear.cli.repl.style import STYLE
from gear.cli.repl.tables import Fragments
from gear.cli.repl.toolbar import toolbar_fragments

Emit = Callable[[list[Fragments]], None]
#: refresh completion names every this many pings
_NAMES_EVERY = 6


def history_path() -> Path:
    """``$XDG_STATE_HOME/gear/admin_history`` (default ``~/.local/state``)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "gear" / "admin_history"


def default_history() -> History:
    """A file history in the XDG state directory, in memory if that fails."""
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))


class ReplSession:
    """The ``gear admin`` prompt over a group of servers.

    Args:
        group: the servers.
        history: prompt history (default: the XDG state file).
        input: prompt_toolkit input (tests: ``create_pipe_input()``).
        output: prompt_toolkit output (tests: ``DummyOutput()``).
        emit: prints result lines (default: styled, above the prompt).
        ping_interval: seconds between background pings.
        yes: run destructive commands without asking.
    """

    def __init__(
        self,
        group: ServerGroup,
        *,
        history: History | None = None,
        input: Input | None = None,  # noqa: A002 - prompt_toolkit's own name
        output: Output | None = None,
        emit: Emit | None = None,
        ping_interval: float = 5.0,
        yes: bool = False,
    ) -> None:
        self.group = group
        self.ping_interval = ping_interval
        self.yes = yes
        self._input = input
        self._output = output
        self._emit = emit or self._print
        self.session: PromptSession[str] = PromptSession(
            message=[("class:prompt", "gear> ")],
            history=history if history is not None else default_history(),
            completer=AdminCompleter(lambda: group.live),
            lexer=AdminLexer(),
            key_bindings=admin_key_bindings(lambda name: self.say(help_text(name))),
            bottom_toolbar=lambda: toolbar_fragments(group, self._columns()),
            style=STYLE,
            auto_suggest=AutoSuggestFromHistory(),
            complete_while_typing=False,
            input=input,
            output=output,
        )

    def _columns(self) -> int:
        return self.session.app.output.get_size().columns

    def _print(self, lines: list[Fragments]) -> None:
        fragments: StyleAndTextTuples = []
        for line in lines:
            fragments += [*line, ("", "\n")]
        print_formatted_text(
            FormattedText(fragments), style=STYLE, end="", output=self.session.app.output
        )

    def say(self, text: str, style: str = "") -> None:
        """Print plain lines of text."""
        self._emit([[(style, line)] for line in text.split("\n")])

    async def run(self) -> int:
        """Prompt until ``quit`` or Ctrl-D; always 0."""
        await self.group.start()
        await self.group.refresh_names()
        self.say(self._banner(), "class:dim")
        pinger = asyncio.create_task(self._ping_loop())
        try:
            with patch_stdout(raw=True):
                await self._loop()
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            await self.group.close()
        return 0

    def _banner(self) -> str:
        states = [
            f"{s.name} {s.client.kind.value if not s.down else 'down'}" for s in self.group.servers
        ]
        return f"gear admin · {', '.join(states)} · Type 'help'; Ctrl-D quits."

    async def _loop(self) -> None:
        while True:
            try:
                line = await self.session.prompt_async()
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if not await self.handle(line):
                return

    async def handle(self, line: str) -> bool:
        """Run one line and print its result; False when it was ``quit``."""
        command = parse(line)
        if command is None:
            return True
        if isinstance(command, ParseError):
            self.say(str(command), "class:error")
            return True
        if command.spec.local:
            return await self._local(command)
        if command.spec.destructive and not self.yes and not await self._confirm(command):
            self.say("not run", "class:dim")
            return True
        outcome = await self.group.run(command)
        width = self._columns() - 1
        self._emit(output.human(outcome, len(outcome.answers) > 1, max(width, 40)))
        return True

    async def _local(self, command: Command) -> bool:
        name = command.spec.name
        arg = command.args[0] if command.args else None
        if name == "quit":
            return False
        if name == "help":
            self.say(help_text(arg))
        elif name == "servers":
            await self.group.ping()
            self._emit(output.servers_table(self.group))
        elif name == "server":
            self._focus(arg)
        return True

    def _focus(self, name: str | None) -> None:
        if name is None:
            self.say(f"focus: {self.group.focus or 'all'}")
            return
        try:
            self.group.set_focus(name)
        except ValueError as exc:
            self.say(str(exc), "class:error")
            return
        self.say(f"focus: {self.group.focus or 'all'}", "class:dim")

    async def _confirm(self, command: Command) -> bool:
        where = ", ".join(s.name for s in self.group.focused())
        asker: PromptSession[str] = PromptSession(input=self._input, output=self._output)
        question = f"Run '{command.admin_line}' on {where}? [y/N] "
        try:
            answer = await asker.prompt_async(question)
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in {"y", "yes"}

    async def _ping_loop(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(self.ping_interval)
            before = {s.name: s.down for s in self.group.servers}
            await self.group.ping()
            count += 1
            if count % _NAMES_EVERY == 0:
                await self.group.refresh_names()
            self._report_changes(before)
            self.session.app.invalidate()

    def _report_changes(self, before: dict[str, str | None]) -> None:
        for state in self.group.servers:
            was_down = before.get(state.name) is not None
            if state.down is not None and not was_down:
                self.say(f"{state.name} is down ({state.down})", "class:down")
            elif state.down is None and was_down:
                self.say(f"{state.name} is back", "class:ok")
