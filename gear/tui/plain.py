"""``gear top --once``: a snapshot as plain text, for scripts (gearman_top -b).

Strategy: a header line, one line per server, then the function table in
aligned columns; values the servers cannot tell print as ``n/a`` and rates
are left out (one refresh cannot measure them).  Pure: Snapshot in, str out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from gear.tui.cells import count, duration, latency
from gear.tui.model import ServerView, Snapshot

__all__ = ["FUNCTION_COLUMNS", "render"]

#: the function table's headers (numeric columns are right-aligned)
FUNCTION_COLUMNS = (
    "FUNCTION",
    "QUEUED",
    "HIGH",
    "NORMAL",
    "LOW",
    "RUNNING",
    "WORKERS",
    "SLEEPING",
    "ALERT",
)
#: the servers' headers; why a server is down goes under ERROR, the last one
SERVER_COLUMNS = ("SERVER", "STATE", "KIND", "VERSION", "UPTIME", "LATENCY", "CONNS", "ERROR")


def render(snapshot: Snapshot) -> str:
    """The snapshot as lines of text, ending with a newline."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.taken))
    up, total = snapshot.servers_up, len(snapshot.servers)
    lines = [f"gear top - {stamp} - {up}/{total} servers up"]
    servers = [_server_row(s) for s in snapshot.servers]
    lines += _table(SERVER_COLUMNS, servers, first_text=5, last_text=True)
    lines.append("")
    rows = [
        (
            f.name,
            count(f.queued),
            count(f.high),
            count(f.normal),
            count(f.low),
            count(f.running),
            count(f.workers),
            count(f.sleeping),
            "NO WORKER" if f.alert else "",
        )
        for f in sorted(snapshot.functions, key=lambda f: f.name)
    ]
    lines += _table(FUNCTION_COLUMNS, rows, first_text=1, last_text=True)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _server_row(s: ServerView) -> tuple[str, ...]:
    if not s.up:
        reason = s.error.removeprefix(s.address + ": ") or "unreachable"
        return (s.address, "down", "", "", "", "", "", reason)
    return (
        s.address,
        "up",
        s.kind.value,
        s.version or "",
        duration(s.uptime),
        latency(s.latency),
        count(s.connections),
        "",
    )


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    first_text: int,
    last_text: bool = False,
) -> list[str]:
    """Aligned lines: the first ``first_text`` columns left, the rest right."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    last = len(headers) - 1

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            left = i < first_text or (last_text and i == last)
            out.append(cell.ljust(width) if left else cell.rjust(width))
        return "  ".join(out)

    return [line(headers)] + [line(r) for r in rows]
