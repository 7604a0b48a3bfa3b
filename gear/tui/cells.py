"""Values → short cell text, shared by the widgets and the plain snapshot.

Strategy: one function per kind of value, each turning ``None`` into
``NA`` so "the server cannot tell" looks the same everywhere; no Textual
imports, so ``gear top --once`` can use it without a terminal UI.
"""

from __future__ import annotations

from collections.abc import Sequence

from gear.tui.model import Quality, Rates

__all__ = ["NA", "count", "duration", "latency", "rate", "sparkline"]

#: what a value the server cannot tell looks like
NA = "n/a"
#: what a rate looks like before its second sample
PENDING = "…"
#: sparkline levels, lowest first (a zero is the lowest bar)
BARS = "▁▂▃▄▅▆▇█"


def count(value: int | None) -> str:
    """An integer, or n/a."""
    return NA if value is None else str(value)


def duration(seconds: float | None) -> str:
    """``0.4s``, ``42s``, ``5m03s``, ``2h07m`` or ``3d04h``."""
    if seconds is None:
        return NA
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def latency(seconds: float | None) -> str:
    """A round trip in milliseconds."""
    if seconds is None:
        return NA
    ms = seconds * 1000
    return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def rate(rates: Rates, outbound: bool) -> str:
    """One direction of a rate: ``12.5``, ``≥3.0``, ``…`` or n/a."""
    if rates.quality is Quality.PENDING:
        return PENDING
    if not rates.known:
        return NA
    text = _number(rates.outbound if outbound else rates.inbound)
    return "≥" + text if rates.quality is Quality.AT_LEAST else text


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as bars scaled to their maximum; n/a if none."""
    if not values:
        return NA
    shown = list(values[-width:])
    top = max(shown)
    if top <= 0:
        return BARS[0] * len(shown)
    steps = len(BARS) - 1
    return "".join(BARS[0 if v <= 0 else max(1, round(v / top * steps))] for v in shown)
