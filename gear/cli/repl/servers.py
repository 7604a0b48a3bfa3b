"""Several servers behind one prompt: run a command on each, collect answers.

Strategy: a ``ServerGroup`` holds one ``AsyncAdminClient`` per address and
the focus (all servers, or one).  ``run(command)`` asks every focused server
at once (``asyncio.gather``) and returns an ``Outcome`` of one ``Answer`` per
server, each ``ok``, ``err`` (the server said ``ERR``), ``down`` (it could
not be reached) or ``unsupported`` (its kind lacks the command; nothing is
sent when the kind is known beforehand).  A down server costs nothing more
than its connect attempt, and the clients reconnect on their own, so a
server that comes back is used again by the next command; ``ping`` probes
them all for the toolbar.  Rows of every answer feed ``LiveNames`` for
completion; ``refresh_names`` reads every server afresh and replaces them,
and a function dropped or a job cancelled is forgotten at once, so names
that are gone are not offered.  No printing happens here.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from gear.cli.repl.commands import Arg, Command, LiveNames, parse
from gear.client.admin import (
    AdminError,
    AsyncAdminClient,
    Reply,
    Result,
    ServerKind,
    ServerVersion,
    parse_reply,
)
from gear.errors import ConnectError, GearError, ProtocolError

#: commands whose success removes a name: the kind of their first argument
_GONE_AFTER = {"drop function": Arg.FUNCTION, "cancel job": Arg.HANDLE}
#: exit status of one-shot mode, worst answer wins
EXIT_OK, EXIT_ERR, EXIT_USAGE, EXIT_DOWN = 0, 1, 2, 3
_STATUS_EXIT = {"ok": EXIT_OK, "err": EXIT_ERR, "unsupported": EXIT_ERR, "down": EXIT_DOWN}


@dataclass
class ServerState:
    """One server of the group."""

    client: AsyncAdminClient
    #: why the last attempt to reach it failed; None while it answers
    down: str | None = None

    @property
    def name(self) -> str:
        """The server's ``host:port``."""
        return self.client.address


@dataclass
class Answer:
    """One server's answer to one command."""

    server: str
    kind: ServerKind
    #: ``ok``, ``err``, ``down`` or ``unsupported``
    status: str
    #: the parsed rows or result of an ``ok`` answer
    result: Result | None = None
    #: the reply as received (``raw`` and errors)
    reply: Reply | None = None
    #: what went wrong, for every status but ``ok``
    message: str = ""


@dataclass
class Outcome:
    """Every focused server's answer to one command."""

    command: Command
    answers: list[Answer] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when all answered OK; 3 if any was down; else 1 if any said ERR."""
        return max((_STATUS_EXIT[a.status] for a in self.answers), default=EXIT_OK)


class ServerGroup:
    """The servers a session talks to, and which of them are in focus."""

    def __init__(
        self, addresses: list[str], *, timeout: float = 5.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.servers = [
            ServerState(AsyncAdminClient.from_address(a, timeout=timeout, tls=tls))
            for a in addresses
        ]
        #: name of the focused server; None = all
        self.focus: str | None = None
        self.live = LiveNames(servers=[s.name for s in self.servers])

    def focused(self) -> list[ServerState]:
        """The servers commands go to."""
        return [s for s in self.servers if self.focus in (None, s.name)]

    def find(self, name: str) -> ServerState:
        """A server by ``host:port``, by number (1-based), or by unique prefix.

        Raises:
            ValueError: no server or several match.
        """
        if name.isdigit() and 0 < int(name) <= len(self.servers):
            return self.servers[int(name) - 1]
        exact = [s for s in self.servers if s.name == name]
        found = exact or [s for s in self.servers if s.name.startswith(name)]
        if len(found) != 1:
            known = ", ".join(s.name for s in self.servers)
            raise ValueError(f"{'no' if not found else 'more than one'} server {name!r} ({known})")
        return found[0]

    def set_focus(self, name: str | None) -> None:
        """Focus one server, or all with ``None``/``"all"`` (ValueError if unknown)."""
        self.focus = None if name in (None, "all") else self.find(name or "").name

    async def start(self) -> None:
        """Connect to every server and tell its kind (down ones are marked)."""
        await self.ping()

    async def ping(self) -> None:
        """Probe every server with ``version``: kind, latency, up or down."""
        await asyncio.gather(*(self._probe(s) for s in self.servers))

    async def _probe(self, state: ServerState) -> None:
        try:
            await state.client.detect()
            state.down = None
        except ConnectError as exc:
            state.down = _reason(exc)
        except ProtocolError:
            state.down = None
            state.client.server_version = ServerVersion(version="", kind=ServerKind.UNKNOWN)

    async def run(self, command: Command) -> Outcome:
        """Ask every focused server; one Answer each, in server order."""
        outcome = await self._run_on(self.focused(), command, self.live)
        if any(a.status == "ok" for a in outcome.answers):
            name = command.spec.name
            if name in _GONE_AFTER:
                self.live.forget(_GONE_AFTER[name], command.args[0])
            elif name == "create function":
                self.live.learn(Arg.FUNCTION, command.args[0])
        return outcome

    async def _run_on(
        self, states: list[ServerState], command: Command, names: LiveNames
    ) -> Outcome:
        answers = await asyncio.gather(*(self._ask(s, command) for s in states))
        for answer in answers:
            if isinstance(answer.result, tuple):
                names.absorb(answer.result)
        return Outcome(command, list(answers))

    async def _ask(self, state: ServerState, command: Command) -> Answer:
        client = state.client
        if client.server_version is None:
            await self._probe(state)
            if state.down is not None:
                return Answer(state.name, client.kind, "down", message=state.down)
        kind = client.kind
        spec = command.spec
        if kind is not ServerKind.UNKNOWN and kind not in spec.kinds and spec.name != "raw":
            return Answer(state.name, kind, "unsupported", message=_unsupported(kind, spec.name))
        line = command.admin_line
        try:
            reply = await client.send(line)
        except ConnectError as exc:
            state.down = _reason(exc)
            return Answer(state.name, kind, "down", message=state.down)
        state.down = None
        return _answer(state.name, kind, command, reply)

    async def refresh_names(self) -> None:
        """Completion names afresh from every server's ``status``, ``show jobs``, ``workers``."""
        fresh = LiveNames()
        for line in ("status", "show jobs", "workers"):
            command = parse(line)
            assert isinstance(command, Command)
            await self._run_on(self.servers, command, fresh)
        self.live.replace(fresh)

    async def close(self) -> None:
        """Close every connection."""
        await asyncio.gather(*(s.client.close() for s in self.servers))


def _answer(server: str, kind: ServerKind, command: Command, reply: Reply) -> Answer:
    error = reply.error
    if command.spec.name == "raw":
        status = "err" if error else "ok"
        return Answer(server, kind, status, reply=reply, message=str(error or ""))
    try:
        result = parse_reply(command.admin_line.split(), reply)
    except AdminError as exc:
        if exc.unknown_command:
            message = _unsupported(kind, command.spec.name) + f" ({exc})"
            return Answer(server, kind, "unsupported", reply=reply, message=message)
        return Answer(server, kind, "err", reply=reply, message=f"ERR {exc}")
    except GearError as exc:
        return Answer(server, kind, "err", reply=reply, message=str(exc))
    return Answer(server, kind, "ok", result=result, reply=reply)


def _unsupported(kind: ServerKind, name: str) -> str:
    who = "this server" if kind is ServerKind.UNKNOWN else kind.value
    return f"{who} does not support '{name}'"


def _reason(exc: ConnectError) -> str:
    text = str(exc)
    _, sep, tail = text.partition(": ")
    return tail if sep else text
