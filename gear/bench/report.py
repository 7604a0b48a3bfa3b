"""Turning scenario results into a table or one JSON object per scenario.

Strategy: both forms are pure functions of ``ScenarioResult`` values.  The
JSON keys follow ``gearbench``'s (``submit_rate``, ``drain_rate``,
``rt_rate``, ``echo_rate``, ``lat_us``, ``noops_per_job`` …) so figures of
the two tools line up by name; the table has one row per phase, right-aligned
numbers, latencies in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gear.bench.config import PRESETS, BenchConfig
from gear.bench.results import ScenarioResult
from gear.bench.stats import Phase

#: table columns: (title, right-aligned)
COLUMNS: tuple[tuple[str, bool], ...] = (
    ("scenario", False),
    ("phase", False),
    ("count", True),
    ("seconds", True),
    ("rate/s", True),
    ("p50 µs", True),
    ("p90 µs", True),
    ("p99 µs", True),
    ("max µs", True),
    ("gen cpu%", True),
    ("srv cpu%", True),
    ("notes", False),
)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def phase_json(phase: Phase) -> dict[str, Any]:
    """A phase's figures under gearbench's key names (``{name}_rate`` …)."""
    out: dict[str, Any] = {
        f"{phase.name}_count": phase.count,
        f"{phase.name}_s": round(phase.seconds, 4),
        f"{phase.name}_rate": round(phase.rate),
        f"{phase.name}_gen_cpu_pct": _pct(phase.gen_cpu_pct),
    }
    for key, value in (("srv", phase.srv_cpu_pct), ("all", phase.all_cpu_pct)):
        if value is not None:
            out[f"{phase.name}_{key}_cpu_pct"] = _pct(value)
    return out


def to_json(result: ScenarioResult) -> dict[str, Any]:
    """One scenario as a flat JSON-able dict (``lat_us`` is nested)."""
    cfg = result.config
    out: dict[str, Any] = {
        "tool": "gear bench",
        "scenario": cfg.scenario,
        "server": f"{cfg.host}:{cfg.port}",
        "clients": cfg.clients,
        "window": cfg.window,
        "size": cfg.size,
        "n": cfg.count,
        "processes": cfg.processes,
    }
    if len(cfg.addresses) > 1:
        out |= {"servers": _names(cfg), "spread": cfg.spread}
    if cfg.uses_workers:
        out |= {"workers": cfg.workers, "grab_pipeline": cfg.grabs}
    if cfg.idle_workers:
        out["idle"] = cfg.idle_workers
    out["connect_s"] = round(result.connect_s, 3)
    for phase in result.phases:
        out |= phase_json(phase)
        if phase.per_server:
            out[f"{phase.name}_per_server"] = [
                {"server": name, "count": n, "rate": round(rate)}
                for name, n, rate in zip(
                    _names(cfg), phase.per_server, phase.server_rates(), strict=True
                )
            ]
    if result.latency is not None:
        out["lat_us"] = {k: round(v, 1) for k, v in result.latency.items()}
    out |= result.counters
    for counter in ("noops", "noops_idle", "no_jobs"):
        per = result.per_job(counter)
        if per is not None and cfg.uses_workers:
            out[f"{counter}_per_job"] = round(per, 3)
    if result.first_error:
        out["first_error"] = result.first_error
    if result.lost:
        out["lost"] = result.lost
    if result.failure:
        out["fail"] = result.failure
    out["timed_out"] = result.timed_out
    return out


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def notes(result: ScenarioResult) -> str:
    """The remarks column: wake-ups per job, errors, failure."""
    out = []
    cfg = result.config
    if cfg.scenario in PRESETS:
        out.append(f"{cfg.clients:,} clients x {cfg.window}, {cfg.workers:,} workers")
    if cfg.idle_workers:
        out.append(f"idle NOOPs/job {_num(result.per_job('noops_idle'), 2)}")
    elif cfg.scenario in ("fg", "bg", "many"):
        out.append(f"NOOPs/job {_num(result.per_job('noops'), 2)}")
    counters = result.counters
    for name in ("failed", "errors", "unexpected"):
        if counters[name]:
            out.append(f"{name} {counters[name]}")
    if result.first_error:
        out.append(f"first error: {result.first_error}")
    for name, jobs in result.lost.items():
        out.append(f"LOST {name} mid-run: {jobs:,} jobs lost with it")
    if result.timed_out:
        out.append("TIMED OUT")
    if result.failure:
        out.append(f"FAILED: {result.failure}")
    return "; ".join(out)


def rows(result: ScenarioResult) -> list[list[str]]:
    """Table rows of one scenario, one per phase."""
    lat = result.latency
    out = []
    for i, phase in enumerate(result.phases):
        with_lat = lat is not None and phase.name in ("rt", "echo", "submit")
        cells = [
            result.config.scenario if i == 0 else "",
            phase.name,
            _num(phase.count),
            _num(phase.seconds, 3),
            _num(phase.rate),
            *(_num(lat[k] if with_lat and lat else None, 1) for k in ("p50", "p90", "p99", "max")),
            _num(phase.gen_cpu_pct, 1),
            _num(phase.srv_cpu_pct, 1),
            notes(result) if i == len(result.phases) - 1 else "",
        ]
        out.append(cells)
        out += _server_rows(result.config, phase)
    if not out:
        out.append([result.config.scenario, "-", *["-"] * 9, notes(result)])
    return out


def _names(config: BenchConfig) -> list[str]:
    return [f"{host}:{port}" for host, port in config.addresses]


def _server_rows(config: BenchConfig, phase: Phase) -> list[list[str]]:
    """One row per server under a multi-server phase: its count and rate."""
    if not phase.per_server:
        return []
    return [
        ["", f"  {name}", _num(n), "", _num(rate), *[""] * 7]
        for name, n, rate in zip(
            _names(config), phase.per_server, phase.server_rates(), strict=True
        )
    ]


def format_table(results: Sequence[ScenarioResult]) -> str:
    """All scenarios as one aligned text table (gen cpu% = generator, of one core)."""
    body = [row for result in results for row in rows(result)]
    table = [[title for title, _ in COLUMNS], *body]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = []
    for row in table:
        cells = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, (_, right) in zip(row, widths, COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_header(config: BenchConfig, loop: str, target: str | None = None) -> str:
    """One line saying what was run against what (``target`` names the server)."""
    parts = [
        f"gear bench: {target or f'{config.host}:{config.port}'}",
        f"{_plural(config.clients, 'client')} x {config.window} in flight",
        f"{_plural(config.workers, 'worker')} x {_plural(config.grabs, 'grab')}",
        f"{config.size}-byte jobs",
        f"n={config.count:,}",
        f"-d {config.duration:g}s",
        f"{_plural(config.processes, 'process', 'es')} ({loop})",
    ]
    if config.uses_tls:
        parts.append("TLS")
    return ", ".join(parts)


def _plural(n: int, noun: str, suffix: str = "s") -> str:
    return f"{n} {noun}{suffix if n != 1 else ''}"
