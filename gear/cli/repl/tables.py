"""Rows to text: the columns of every reply type, filtering, sorting, output.

Strategy: ``COLUMNS`` maps each typed row of the admin replies (``gear.client.admin``)
to its columns (header, getter, numeric or not), once; the grammar reads the
sort keys from it, and the three outputs (aligned table for people,
tab-separated lines for scripts, JSON) all walk it.  Scripts get the wire's
values: ``status``'s TOTAL is queued plus running, as gearadmin prints it,
and times are plain seconds; people also get a worked-out QUEUED column
(``script=False``) and times with their unit (``seconds=True``: ``1m14s``,
the dashboard's ``gear.tui.cells.duration``, which imports no Textual).  A ``Table`` is built
from ``(server, row)`` pairs; the SERVER column appears when more than one
server answered.  Aligned output is a list of lines, each a list of
``(style, text)`` fragments: prompt_toolkit's formatted-text shape, made of
plain tuples so this module needs no prompt_toolkit import and its tests
compare strings.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gear.client import admin as ar
from gear.tui.cells import duration

Fragments = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table."""

    #: header, also the ``--sort`` key (lower-cased)
    header: str
    #: the cell's value from a row
    get: Callable[[Any], object]
    #: right-aligned and sorted as a number
    numeric: bool = False
    #: printed for scripts too (False: the table view only)
    script: bool = True
    #: a time in seconds: people see it with its unit
    seconds: bool = False


def _attr(name: str, numeric: bool = False, header: str | None = None) -> Column:
    return Column(header or name.upper(), lambda row: getattr(row, name), numeric)


def _num(name: str, header: str | None = None) -> Column:
    return _attr(name, True, header)


def _secs(name: str, header: str | None = None) -> Column:
    return Column(header or name.upper(), lambda row: getattr(row, name), True, seconds=True)


def _nums(*names: str) -> tuple[Column, ...]:
    return tuple(_num(n) for n in names)


def _attrs(*names: str) -> tuple[Column, ...]:
    return tuple(_attr(n) for n in names)


def _id() -> Column:
    return _attr("client_id", header="ID")


_STATUS = (
    _attr("function"),
    _num("total"),
    Column("QUEUED", lambda row: row.queued, True, script=False),
    *_nums("running", "workers"),
)
#: columns of each row type, in display order
COLUMNS: dict[type, tuple[Column, ...]] = {
    ar.FunctionStatus: _STATUS,
    ar.PriorityStatus: (_attr("function"), *_nums("high", "normal", "low", "workers")),
    ar.WorkerInfo: (_num("fd"), _attr("address"), _id(), _attr("functions")),
    ar.JobInfo: (
        _attr("handle"),
        # C's JOB_QUEUED column is set for background jobs, running or not
        Column("BG", lambda r: "yes" if r.queued else "no"),
        _num("retries"),
        Column("IGNORED", lambda r: "yes" if r.ignored else "no"),
    ),
    ar.UniqueJob: (_attr("unique"),),
    ar.QueuedJob: (
        *_attrs("handle", "function", "unique", "priority", "state"),
        _secs("age"),
        *_nums("size", "clients"),
        Column("BG", lambda r: "yes" if r.background else "no"),
        _num("when"),
    ),
    ar.WorkerDetail: (
        _num("fd"),
        _attr("address"),
        _id(),
        _attr("state"),
        _secs("state_seconds", "IN_STATE"),
        _attr("handles"),
        _secs("connected_seconds", "CONNECTED"),
        _attr("functions"),
    ),
    ar.FunctionCounters: (_attr("function"), *_nums("submitted", "finished")),
    ar.MaxQueue: (_attr("function"), *_nums("high", "normal", "low")),
    ar.Stat: (_attr("name"), _attr("value")),
    ar.PerlJob: (_attr("function"), _attr("unique"), _attr("worker"), _num("listeners")),
    ar.ClientJob: (_attr("client"), _attr("function"), _attr("unique"), _attr("worker")),
    ar.ServerVersion: (_attr("version"), Column("KIND", lambda r: r.kind.value)),
    ar.ServerPid: (_num("pid"),),
    ar.VerboseLevel: (_attr("level"),),
}
#: results of commands that change something: one RESULT column, "OK"
ACKS = (
    ar.JobCancelled,
    ar.FunctionCreated,
    ar.FunctionDropped,
    ar.MaxQueueSet,
    ar.ShutdownAccepted,
)
for _ack in ACKS:
    COLUMNS[_ack] = (Column("RESULT", lambda r: "OK"),)

#: fields a PATTERN is matched against, per row type (default: the first column)
FILTER_FIELDS: dict[type, tuple[str, ...]] = {
    ar.WorkerInfo: ("functions", "client_id", "address"),
    ar.WorkerDetail: ("functions", "client_id", "address", "handles"),
    ar.QueuedJob: ("function", "handle", "unique"),
    ar.PerlJob: ("function", "unique"),
    ar.ClientJob: ("function", "client"),
}


def sort_keys(row_type: type) -> list[str]:
    """The ``--sort`` keys of a row type: its headers, lower-cased."""
    return [c.header.lower() for c in COLUMNS.get(row_type, ())]


def cell(value: object) -> str:
    """A cell's text: tuples joined, empty as ``-``, floats with 3 decimals."""
    if isinstance(value, tuple):
        value = " ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return text if text else "-"


def _human(column: Column, value: object) -> str:
    if column.seconds and isinstance(value, int | float):
        return duration(value)
    return cell(value)


# ------------------------------------------------------ filter and sort --
def matches(pattern: str, text: str) -> bool:
    """Glob match when ``pattern`` has ``*?[``, else a substring match."""
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(text, pattern)
    return pattern in text


def _filter_values(row: object) -> list[str]:
    names = FILTER_FIELDS.get(type(row))
    if names is None:
        cols = COLUMNS.get(type(row), ())
        return [cell(cols[0].get(row))] if cols else []
    values: list[str] = []
    for name in names:
        value = getattr(row, name)
        values.extend(value if isinstance(value, tuple) else [str(value)])
    return values


def filter_pairs(pairs: Iterable[tuple[str, object]], pattern: str | None) -> list[Any]:
    """The ``(server, row)`` pairs whose row matches ``pattern``."""
    if not pattern:
        return list(pairs)
    return [p for p in pairs if any(matches(pattern, v) for v in _filter_values(p[1]))]


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def sort_pairs(
    pairs: Sequence[tuple[str, object]], key: str | None, descending: bool = False
) -> list[tuple[str, object]]:
    """Pairs sorted by column ``key`` (default: the first), then server."""
    if not pairs:
        return []
    cols = COLUMNS.get(type(pairs[0][1]), ())
    col = next((c for c in cols if c.header.lower() == (key or "").lower()), None)
    if col is None and key is None and cols:
        col = cols[0]
    if col is None:
        return list(pairs)
    chosen = col

    def sort_key(pair: tuple[str, object]) -> tuple[Any, ...]:
        value = chosen.get(pair[1])
        if chosen.numeric and isinstance(value, int | float):
            return (value, _natural(pair[0]))
        return (_natural(cell(value)), _natural(pair[0]))

    return sorted(pairs, key=sort_key, reverse=descending)


# ---------------------------------------------------------------- tables --
@dataclass
class Table:
    """Rows of one type from one or more servers, ready to print."""

    columns: tuple[Column, ...]
    #: ``(server, row)`` pairs in display order
    pairs: list[tuple[str, object]]
    #: add a SERVER column first
    show_server: bool = False

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, object]], show_server: bool) -> Table:
        """A table of ``pairs`` (all rows of one type)."""
        columns = COLUMNS.get(type(pairs[0][1]), ()) if pairs else ()
        return cls(columns, list(pairs), show_server)

    def _columns(self, people: bool) -> tuple[Column, ...]:
        return self.columns if people else tuple(c for c in self.columns if c.script)

    def headers(self, people: bool = True) -> list[str]:
        """Column headers, SERVER first when shown."""
        names = [c.header for c in self._columns(people)]
        return (["SERVER"] if self.show_server else []) + names

    def cells(self, people: bool = True) -> list[list[str]]:
        """Every row as its cell texts: for people, or as scripts get them."""
        columns = self._columns(people)
        out = []
        for server, row in self.pairs:
            texts = [_human(c, c.get(row)) if people else cell(c.get(row)) for c in columns]
            out.append(([server] if self.show_server else []) + texts)
        return out

    def numeric(self) -> list[bool]:
        """Which columns are right-aligned."""
        return ([False] if self.show_server else []) + [c.numeric for c in self.columns]

    def tsv(self, header: bool = False) -> list[str]:
        """Tab-separated lines for scripts (tabs and newlines in a cell become spaces)."""
        rows = ([self.headers(people=False)] if header else []) + self.cells(people=False)
        return ["\t".join(re.sub(r"[\t\r\n]", " ", c) for c in row) for row in rows]

    def aligned(self, width: int | None = None) -> list[Fragments]:
        """Aligned lines for people: a header line, then one line per row.

        With ``width``, the widest text columns are cut (ending in ``…``)
        until a line fits, keeping numbers and job handles whole (a handle
        is copied to ``cancel job`` and ``gear status``).
        """
        rows = [self.headers(), *self.cells()]
        numeric = self.numeric()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        if width is not None:
            whole = [n or h == "HANDLE" for n, h in zip(numeric, rows[0], strict=True)]
            widths = fit(widths, whole, width)
        lines: list[Fragments] = []
        for index, row in enumerate(rows):
            parts = [
                _clip(t, w).rjust(w) if n else _clip(t, w).ljust(w)
                for t, w, n in zip(row, widths, numeric, strict=True)
            ]
            style = "class:header" if index == 0 else row_style(self.pairs[index - 1][1])
            lines.append([(style, "  ".join(parts).rstrip())])
        return lines

    def records(self) -> list[dict[str, Any]]:
        """One dict per row for JSON: every field, plus ``server``."""
        return [{"server": server, **row_record(row)} for server, row in self.pairs]


#: text columns are never cut narrower than this
MIN_WIDTH = 8


def fit(widths: list[int], whole: list[bool], limit: int) -> list[int]:
    """Column widths whose line (two spaces between columns) fits ``limit``.

    Columns marked ``whole`` are never cut.
    """
    widths = list(widths)
    while (over := sum(widths) + 2 * (len(widths) - 1) - limit) > 0:
        cuttable = [i for i, n in enumerate(whole) if not n and widths[i] > MIN_WIDTH]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda i: widths[i])
        widths[widest] = max(MIN_WIDTH, widths[widest] - over)
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def row_record(row: object) -> dict[str, Any]:
    """A row's fields as JSON-ready values (``queued`` added to status rows)."""
    record: dict[str, Any] = {}
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        for f in dataclasses.fields(row):
            value = getattr(row, f.name)
            record[f.name] = value.value if isinstance(value, ar.ServerKind) else value
    if isinstance(row, ar.FunctionStatus):
        record["queued"] = row.queued
    return record


def row_style(row: object) -> str:
    """The style class of a row: functions without workers stand out."""
    if isinstance(row, ar.FunctionStatus | ar.PriorityStatus) and row.workers == 0:
        waiting = row.queued if isinstance(row, ar.FunctionStatus) else row.high + row.normal
        waiting += 0 if isinstance(row, ar.FunctionStatus) else row.low
        return "class:row.stuck" if waiting else "class:row.idle"
    if isinstance(row, ar.WorkerDetail) and row.state == "busy":
        return "class:row.busy"
    return ""


def plain(lines: Iterable[Fragments]) -> str:
    """Fragments as plain text, one line each, for tests and non-TTY output."""
    return "".join("".join(text for _, text in line) + "\n" for line in lines)


def to_json(value: Any) -> str:
    """Compact JSON of results (tuples as lists, non-UTF-8 bytes escaped)."""
    return json.dumps(value, default=_json_default, ensure_ascii=True)


def _json_default(value: object) -> object:
    if isinstance(value, ar.ServerKind):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
