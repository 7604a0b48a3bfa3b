"""Outcomes to output: aligned tables for people, TSV and JSON for scripts.

Strategy: ``rows_of(outcome)`` gathers the ``(server, row)`` pairs of every
server that answered, then filters (PATTERN) and sorts (``--sort``) them; the
three renderers only differ in how they print those pairs and the per-server
notes (ERR, down, unsupported).  ``human`` returns formatted-text lines (see
``tables``), ``script`` returns the bytes for stdout and the lines for
stderr, ``json_record`` a dict.  ``raw`` answers bypass the tables: scripts
get the server's bytes untouched; people get them decoded, under a
``── server ──`` rule when several servers answered.
"""

from __future__ import annotations

from typing import Any

from gear.cli.repl import tables
from gear.cli.repl.servers import Answer, Outcome, ServerGroup
from gear.cli.repl.tables import Fragments, Table
from gear.client.admin import ENCODING, ERRORS

_NOTE_STYLE = {"err": "class:error", "down": "class:down", "unsupported": "class:warn"}


def rows_of(outcome: Outcome) -> list[tuple[str, object]]:
    """The filtered, sorted ``(server, row)`` pairs of the OK answers."""
    pairs: list[tuple[str, object]] = []
    for answer in outcome.answers:
        result = answer.result
        if answer.status != "ok" or result is None:
            continue
        rows = result if isinstance(result, tuple) else (result,)
        pairs.extend((answer.server, row) for row in rows)
    command = outcome.command
    pairs = tables.filter_pairs(pairs, command.pattern)
    if command.spec.rows is None and command.sort is None:
        return pairs
    return tables.sort_pairs(pairs, command.sort, command.descending)


def _note(answer: Answer, multi: bool) -> str:
    prefix = f"{answer.server}: " if multi or answer.status == "down" else ""
    if answer.status == "down":
        return f"{prefix}down ({answer.message})"
    return prefix + answer.message


def _is_ack(row: object) -> bool:
    return isinstance(row, tables.ACKS)


# ----------------------------------------------------------------- people --
def human(outcome: Outcome, multi: bool, width: int | None = None) -> list[Fragments]:
    """Terminal lines, at most ``width`` wide: a table, OK lines or raw text, then notes."""
    if outcome.command.spec.name == "raw":
        lines = _human_raw(outcome, multi)
    else:
        lines = _human_rows(outcome, multi, width)
    notes = [a for a in outcome.answers if a.status != "ok"]
    lines += [[(_NOTE_STYLE[a.status], _note(a, multi))] for a in notes if a.message]
    return lines


def _human_rows(outcome: Outcome, multi: bool, width: int | None) -> list[Fragments]:
    pairs = rows_of(outcome)
    if pairs and _is_ack(pairs[0][1]):
        return [[("class:ok", f"{server}: OK" if multi else "OK")] for server, _ in pairs]
    if pairs:
        return Table.of(pairs, multi).aligned(width)
    if any(a.status == "ok" for a in outcome.answers):
        return [[("class:dim", "(nothing)")]]
    return []


def _human_raw(outcome: Outcome, multi: bool) -> list[Fragments]:
    lines: list[Fragments] = []
    for answer in outcome.answers:
        if answer.reply is None:
            continue
        if multi:
            lines.append([("class:header", f"── {answer.server} ──")])
        text = answer.reply.raw.decode(ENCODING, "replace")
        lines += [[("", line)] for line in text.rstrip("\n").split("\n")]
    return lines


def servers_table(group: ServerGroup) -> list[Fragments]:
    """The ``servers`` command: name, kind, version, state, latency, focus."""
    header = ["", "SERVER", "KIND", "VERSION", "STATE", "LATENCY"]
    rows = []
    for state in group.servers:
        client = state.client
        version = client.server_version
        latency = f"{client.latency * 1000:.1f} ms" if client.latency is not None else "-"
        rows.append(
            [
                "*" if group.focus == state.name else "",
                state.name,
                client.kind.value,
                version.version if version and version.version else "-",
                f"down: {state.down}" if state.down else "up",
                latency,
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out: list[Fragments] = []
    for index, row in enumerate([header, *rows]):
        text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        style = "class:header" if index == 0 else ("class:down" if "down" in row[4] else "")
        out.append([(style, text)])
    return out


# ---------------------------------------------------------------- scripts --
def script(outcome: Outcome, multi: bool, header: bool = False) -> tuple[bytes, list[str]]:
    """Stdout bytes (TSV, or raw reply bytes) and stderr lines for one outcome."""
    errors = [_note(a, multi) or a.status for a in outcome.answers if a.status != "ok"]
    if outcome.command.spec.name == "raw":
        return b"".join(a.reply.raw for a in outcome.answers if a.reply), errors
    pairs = rows_of(outcome)
    if not pairs:
        return b"", errors
    lines = Table.of(pairs, multi).tsv(header)
    return "".join(line + "\n" for line in lines).encode(ENCODING, ERRORS), errors


def json_record(outcome: Outcome) -> dict[str, Any]:
    """One JSON document per command: rows (with ``server``) and per-server status."""
    pairs = rows_of(outcome)
    record: dict[str, Any] = {
        "command": outcome.command.admin_line,
        "ok": outcome.exit_code == 0,
        "servers": [
            {"server": a.server, "kind": a.kind.value, "status": a.status, "message": a.message}
            for a in outcome.answers
        ],
    }
    if outcome.command.spec.name == "raw":
        record["replies"] = {
            a.server: a.reply.raw.decode(ENCODING, "replace") for a in outcome.answers if a.reply
        }
    else:
        record["rows"] = Table.of(pairs, True).records()
    return record
