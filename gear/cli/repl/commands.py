"""The grammar of ``gear admin``: one table of commands, parsed and completed.

Strategy: ``SPECS`` lists every command once: the words a user types, its
parameters and what completes them, the admin line it sends, the server
kinds that have it, whether it is destructive, and the row type its reply
parses into (whose columns give the ``--sort`` keys).  ``parse(line)``
turns a line into a typed ``Command`` or a ``ParseError``;
``completion_tree(live)`` turns the same table into prompt_toolkit's
NestedCompleter dict, filled with live names (functions, handles, worker
ids, servers) that the session collects from replies; ``classify(line)``
splits a line into styled tokens for the lexer.  Nothing here imports
prompt_toolkit or does I/O: tests feed strings.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gear.cli.repl import tables
from gear.client import admin as ar

ServerKind = ar.ServerKind
#: servers with C gearmand's command set (gear has all of it)
C_LIKE = frozenset({ServerKind.GEAR, ServerKind.GEARMAND})
ALL = frozenset(ServerKind)


class Arg(enum.Enum):
    """What a parameter holds, and so what completes it."""

    FUNCTION = "function"
    HANDLE = "handle"
    WORKER = "worker"
    SERVER = "server"
    COMMAND = "command"
    NUMBER = "number"
    CHOICE = "choice"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Param:
    """A positional parameter."""

    name: str
    kind: Arg
    optional: bool = False
    #: allowed words of a CHOICE
    choices: tuple[str, ...] = ()
    #: allowed counts of a repeated parameter (maxqueue's sizes: 0, 1 or 3)
    counts: tuple[int, ...] = (1,)


@dataclass(frozen=True, slots=True)
class Spec:
    """One command of the REPL."""

    #: the words typed, e.g. ``show unique jobs``
    name: str
    #: one line of help
    summary: str
    params: tuple[Param, ...] = ()
    #: the admin words sent before the arguments; None for REPL-only commands
    wire: str | None = ""
    #: server kinds that have the command
    kinds: frozenset[ServerKind] = ALL
    #: asks for confirmation on a TTY, needs --yes otherwise
    destructive: bool = False
    #: row type of the reply; table commands take [PATTERN] and --sort
    rows: type | None = None
    #: what completes the PATTERN of a table command
    pattern: Arg = Arg.FUNCTION
    aliases: tuple[str, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        """The typed words."""
        return tuple(self.name.split())

    @property
    def admin_words(self) -> tuple[str, ...]:
        """The words sent to the server before the arguments."""
        return tuple((self.name if self.wire == "" else self.wire or "").split())

    @property
    def local(self) -> bool:
        """Whether the REPL answers it without a server."""
        return self.wire is None

    def usage(self) -> str:
        """``cancel job HANDLE``, ``status [PATTERN] [--sort [-]COLUMN]`` …"""
        parts = [self.name]
        for p in self.params:
            text = p.name.upper() if p.kind is not Arg.CHOICE else "|".join(p.choices)
            if p.counts == (0, 1, 3):
                text = "[N | HIGH NORMAL LOW]"
            parts.append(f"[{text}]" if p.optional and p.counts != (0, 1, 3) else text)
        if self.rows is not None:
            parts.append("[PATTERN] [--sort [-]COLUMN]")
        return " ".join(parts)


_FN = Param("function", Arg.FUNCTION)
SPECS: tuple[Spec, ...] = (
    Spec(
        "status",
        "Jobs queued and running, and workers, per function.",
        rows=ar.FunctionStatus,
        aliases=("st", "stat"),
    ),
    Spec(
        "prioritystatus",
        "Queued jobs per priority, per function.",
        kinds=C_LIKE,
        rows=ar.PriorityStatus,
        aliases=("priority",),
    ),
    Spec(
        "workers",
        "Every connection and the functions it registered.",
        rows=ar.WorkerInfo,
        pattern=Arg.WORKER,
    ),
    Spec(
        "show jobs",
        "Every job: handle, state, retries.",
        kinds=C_LIKE,
        rows=ar.JobInfo,
        pattern=Arg.HANDLE,
    ),
    Spec(
        "show unique jobs",
        "The unique key of every job.",
        kinds=C_LIKE,
        rows=ar.UniqueJob,
        pattern=Arg.TEXT,
    ),
    Spec(
        "show queue",
        "Every job with function, unique, priority, state, age (gear).",
        kinds=frozenset({ServerKind.GEAR}),
        rows=ar.QueuedJob,
    ),
    Spec(
        "show workers",
        "Workers with state and the jobs they run (gear).",
        kinds=frozenset({ServerKind.GEAR}),
        rows=ar.WorkerDetail,
        pattern=Arg.WORKER,
    ),
    Spec(
        "show functions",
        "Jobs submitted and finished per function since it was created (gear).",
        kinds=frozenset({ServerKind.GEAR}),
        rows=ar.FunctionCounters,
    ),
    Spec(
        "show maxqueue",
        "Queue limits per function (gear).",
        kinds=frozenset({ServerKind.GEAR}),
        rows=ar.MaxQueue,
    ),
    Spec(
        "stats",
        "Server counters (gear).",
        kinds=frozenset({ServerKind.GEAR}),
        rows=ar.Stat,
        pattern=Arg.TEXT,
    ),
    Spec(
        "jobs",
        "Every job with its worker and listeners (Perl server).",
        kinds=frozenset({ServerKind.PERL}),
        rows=ar.PerlJob,
    ),
    Spec(
        "clients",
        "Every client and the jobs it waits on (Perl server).",
        kinds=frozenset({ServerKind.PERL}),
        rows=ar.ClientJob,
    ),
    Spec("version", "Server version and kind (gear, gearmand, perl)."),
    Spec("getpid", "Server process id.", kinds=C_LIKE),
    Spec("verbose", "Server log level.", kinds=C_LIKE),
    Spec(
        "cancel job",
        "Cancel a queued job; its clients get WORK_FAIL.",
        (Param("handle", Arg.HANDLE),),
        kinds=C_LIKE,
        destructive=True,
    ),
    Spec("create function", "Create a function with no workers.", (_FN,), kinds=C_LIKE),
    Spec(
        "drop function",
        "Drop a function that has no workers and no jobs.",
        (_FN,),
        kinds=C_LIKE,
        destructive=True,
    ),
    Spec(
        "maxqueue",
        "Limit a function's queue (no size: no limit; 0 = no limit).",
        (_FN, Param("sizes", Arg.NUMBER, optional=True, counts=(0, 1, 3))),
        kinds=C_LIKE | {ServerKind.PERL},
    ),
    Spec(
        "shutdown",
        "Stop the server (gear needs --allow-shutdown).",
        (Param("mode", Arg.CHOICE, optional=True, choices=("graceful",)),),
        kinds=frozenset({ServerKind.GEAR, ServerKind.PERL}),
        destructive=True,
    ),
    Spec(
        "raw",
        "Send a line as is and show the reply's bytes untouched.",
        (Param("line", Arg.TEXT),),
    ),
    Spec(
        "help",
        "Commands, or one command in detail.",
        (Param("command", Arg.COMMAND, optional=True),),
        wire=None,
    ),
    Spec(
        "server",
        "Focus one server (by name or number), or 'all'.",
        (Param("name", Arg.SERVER, optional=True),),
        wire=None,
    ),
    Spec("servers", "The servers, their kind, version and state.", wire=None),
    Spec("quit", "Leave (also exit, Ctrl-D).", wire=None, aliases=("exit",)),
)


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed line."""

    spec: Spec
    #: positional argument values, in parameter order
    args: tuple[str, ...] = ()
    #: function-name (or handle, id …) filter of a table command
    pattern: str | None = None
    #: ``--sort`` column, lower-cased
    sort: str | None = None
    descending: bool = False

    @property
    def admin_line(self) -> str:
        """The line sent to the server (for ``raw``: the text given)."""
        if self.spec.name == "raw":
            return self.args[0]
        return " ".join((*self.spec.admin_words, *self.args))


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why a line is not a command; ``usage`` shows the right form."""

    message: str
    usage: str = ""

    def __str__(self) -> str:
        return f"{self.message} (usage: {self.usage})" if self.usage else self.message


def _lookup() -> list[tuple[tuple[str, ...], Spec]]:
    entries = [(spec.words, spec) for spec in SPECS]
    entries += [((alias,), spec) for spec in SPECS for alias in spec.aliases]
    return sorted(entries, key=lambda e: -len(e[0]))


_LOOKUP = _lookup()


def find_spec(words: list[str]) -> tuple[Spec, int] | None:
    """The spec whose name starts ``words`` (longest first), and its length."""
    lowered = [w.lower() for w in words]
    for name, spec in _LOOKUP:
        if tuple(lowered[: len(name)]) == name:
            return spec, len(name)
    return None


def spec_named(name: str) -> Spec | None:
    """The spec called ``name`` (or an alias of it)."""
    found = find_spec(name.split())
    return found[0] if found and found[1] == len(name.split()) else None


def specs_under(name: str) -> list[Spec]:
    """The spec called ``name`` (or an alias), else those whose name starts with it."""
    exact = spec_named(name)
    if exact is not None:
        return [exact]
    words = tuple(name.lower().split())
    return [s for s in SPECS if words and s.words[: len(words)] == words]


def parse(line: str) -> Command | ParseError | None:
    """A typed line as a ``Command``; ``ParseError`` if it is not one; None if blank."""
    words = line.split()
    if not words:
        return None
    found = find_spec(words)
    if found is None:
        return ParseError(f"unknown command {words[0]!r}; type 'help' for the list")
    spec, used = found
    if spec.name == "raw":
        text = line.strip()[len(words[0]) :].strip()
        return Command(spec, (text,)) if text else ParseError("raw needs a line", spec.usage())
    rest = words[used:]
    sort, descending, rest_or_error = _take_sort(spec, rest)
    if isinstance(rest_or_error, ParseError):
        return rest_or_error
    return _bind(spec, rest_or_error, sort, descending)


def _take_sort(spec: Spec, words: list[str]) -> tuple[str | None, bool, list[str] | ParseError]:
    rest: list[str] = []
    sort: str | None = None
    it = iter(words)
    for word in it:
        if not word.startswith("--") or spec.rows is None:
            if word.startswith("--"):
                return None, False, ParseError(f"unknown option {word}", spec.usage())
            rest.append(word)
            continue
        name, _, value = word.partition("=")
        if name != "--sort":
            return None, False, ParseError(f"unknown option {name}", spec.usage())
        sort = value or next(it, None)
        if sort is None:
            return None, False, ParseError("--sort needs a column", spec.usage())
    if sort is None:
        return None, False, rest
    descending = sort.startswith("-")
    sort = sort.lstrip("-").lower()
    keys = tables.sort_keys(spec.rows) if spec.rows else []
    if sort not in keys:
        return None, False, ParseError(f"no column {sort!r}; sort by one of {', '.join(keys)}")
    return sort, descending, rest


def _bind(spec: Spec, words: list[str], sort: str | None, descending: bool) -> Command | ParseError:
    args: list[str] = []
    for param in spec.params:
        take = _count(param, len(words))
        if take is None:
            return ParseError(f"{spec.name}: wrong number of {param.name}", spec.usage())
        if take == 0 and not param.optional:
            return ParseError(f"{spec.name} needs {param.name.upper()}", spec.usage())
        values, words = words[:take], words[take:]
        if param.kind is Arg.COMMAND and values:
            values = [" ".join(values)]
        error = _check(spec, param, values)
        if error is not None:
            return error
        args.extend(values)
    pattern = None
    if spec.rows is not None and words:
        pattern, words = words[0], words[1:]
    if words:
        return ParseError(f"{spec.name}: unexpected {' '.join(words)!r}", spec.usage())
    return Command(spec, tuple(args), pattern, sort, descending)


def _count(param: Param, available: int) -> int | None:
    if param.kind is Arg.COMMAND:
        return available
    if param.counts == (1,):
        return min(available, 1)
    if available > max(param.counts):
        return max(param.counts)
    return available if available in param.counts else None


def _check(spec: Spec, param: Param, values: list[str]) -> ParseError | None:
    for value in values:
        if param.kind is Arg.NUMBER and not re.fullmatch(r"-?\d+", value):
            return ParseError(f"{param.name} must be a whole number, not {value!r}", spec.usage())
        if param.kind is Arg.CHOICE and value.lower() not in param.choices:
            return ParseError(f"{param.name} is one of {', '.join(param.choices)}", spec.usage())
        if param.kind is Arg.COMMAND and not specs_under(value):
            return ParseError(f"no command {value!r}; type 'help' for the list")
    return None


# ------------------------------------------------------------ completion --
@dataclass
class LiveNames:
    """Names seen in replies, offered as completions.

    Replies (and ``learn``: a function created) add names; ``replace`` (a
    fresh reading of every server) and ``forget`` (a function dropped, a job
    cancelled) take them away, so a name no server has any more is not
    offered.  ``generation`` changes
    with every change, for the completer's cache.
    """

    functions: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    servers: list[str] = field(default_factory=list)
    generation: int = 0

    def absorb(self, rows: Iterable[object]) -> None:
        """Collect function names, handles and worker ids from reply rows."""
        for row in rows:
            for name in ("function", "handle", "client_id"):
                value = getattr(row, name, "")
                if value:
                    self._set_for(name).add(value)
            for name in getattr(row, "functions", ()):
                self.functions.add(name)
            for handle in getattr(row, "handles", ()):
                self.handles.add(handle)
        self.generation += 1

    def replace(self, fresh: LiveNames) -> None:
        """Take the functions, handles and worker ids of ``fresh`` instead of ours."""
        self.functions = set(fresh.functions)
        self.handles = set(fresh.handles)
        self.workers = set(fresh.workers)
        self.generation += 1

    def learn(self, kind: Arg, name: str) -> None:
        """Offer a function that was just created."""
        if kind is Arg.FUNCTION:
            self.functions.add(name)
            self.generation += 1

    def forget(self, kind: Arg, name: str) -> None:
        """Stop offering a function or handle that is gone."""
        {Arg.FUNCTION: self.functions, Arg.HANDLE: self.handles}.get(kind, set()).discard(name)
        self.generation += 1

    def _set_for(self, attr: str) -> set[str]:
        return {"function": self.functions, "handle": self.handles}.get(attr, self.workers)

    def values(self, kind: Arg) -> set[str]:
        """Completions for a parameter kind."""
        if kind is Arg.FUNCTION:
            return set(self.functions)
        if kind is Arg.HANDLE:
            return set(self.handles)
        if kind is Arg.WORKER:
            return self.workers | self.functions
        if kind is Arg.SERVER:
            return {*self.servers, "all"}
        if kind is Arg.COMMAND:
            return {spec.words[0] for spec in SPECS}
        return set()


def completion_tree(live: LiveNames) -> dict[str, Any]:
    """The NestedCompleter dict of every command, with live names filled in."""
    tree: dict[str, Any] = {}
    for spec in SPECS:
        node = tree
        for word in spec.words[:-1]:
            node = node.setdefault(word, {})
        node[spec.words[-1]] = _param_tree(spec, list(spec.params), live)
    return tree


def _param_tree(spec: Spec, params: list[Param], live: LiveNames) -> dict[str, Any] | None:
    if not params:
        return _table_tail(spec, live)
    first, rest = params[0], params[1:]
    after = _param_tree(spec, rest, live)
    values = set(first.choices) if first.kind is Arg.CHOICE else live.values(first.kind)
    node: dict[str, Any] = dict.fromkeys(sorted(values), after)
    if first.optional and after:
        node.update(after)
    return node or None


def _table_tail(spec: Spec, live: LiveNames) -> dict[str, Any] | None:
    if spec.rows is None:
        return None
    sort = {"--sort": dict.fromkeys(tables.sort_keys(spec.rows))}
    node: dict[str, Any] = dict.fromkeys(sorted(live.values(spec.pattern)), sort)
    node.update(sort)
    return node


# ------------------------------------------------------ highlighting, help --
def classify(line: str) -> list[tuple[str, str]]:
    """``(class, text)`` tokens of a line: command, option, number, argument, error."""
    tokens = re.findall(r"\s+|\S+", line)
    words = [t for t in tokens if not t.isspace()]
    found = find_spec(words)
    name_len = found[1] if found else 0
    out: list[tuple[str, str]] = []
    seen = 0
    for token in tokens:
        if token.isspace():
            out.append(("", token))
            continue
        seen += 1
        out.append((_token_class(token, seen, name_len, found is not None), token))
    return out


def _token_class(token: str, index: int, name_len: int, known: bool) -> str:
    if index <= name_len:
        return "command"
    if index == 1 and not known:
        return "error"
    if token.startswith("--"):
        return "option"
    if re.fullmatch(r"-?\d+", token):
        return "number"
    return "argument"


def help_text(name: str | None = None) -> str:
    """The command list, or one command's usage, servers and sort columns."""
    if name is None:
        width = max(len(s.name) for s in SPECS)
        lines = [f"  {s.name.ljust(width)}  {s.summary}" for s in SPECS]
        tail = "Type 'help COMMAND' for details. Tab completes; Ctrl-R searches history."
        return "\n".join(["Commands:", *lines, "", tail])
    found = specs_under(name)
    if not found:
        return f"no command {name!r}; type 'help' for the list"
    return "\n".join(_spec_help(spec) for spec in found)


def _spec_help(spec: Spec) -> str:
    lines = [f"usage: {spec.usage()}", f"  {spec.summary}"]
    if spec.aliases:
        lines.append(f"  aliases: {', '.join(spec.aliases)}")
    if not spec.local:
        lines.append(
            f"  servers: {', '.join(sorted(k.value for k in spec.kinds if k.value != 'unknown'))}"
        )
    if spec.rows is not None:
        lines.append(f"  sort columns: {', '.join(tables.sort_keys(spec.rows))}")
        lines.append("  PATTERN: a glob (re*) or a substring of the function name, handle or id")
    if spec.destructive:
        lines.append("  asks for confirmation on a terminal; needs --yes in scripts")
    return "\n".join(lines)
