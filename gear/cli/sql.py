"""``gear sql install | uninstall | status | relay``: Gearman jobs from PostgreSQL.

Strategy: each command turns its options into one call of ``gear.sql.admin``
or a ``gear.sql.relay.RelayConfig`` and prints what came back; library
errors become one line on stderr with the exit codes of docs/cli.md (1 for
a failed request, 3 when the relay could not reach a job server).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gear.sql import admin
from gear.sql.plpython import normalize_servers
from gear.sql.relay import Relay, RelayConfig, RelayError

from ._common import EXIT_FAILED, EXIT_UNREACHABLE, CommandError

F = TypeVar("F", bound=Callable[..., Any])


def _target(func: F) -> F:
    """The URL argument and ``--schema``, shared by every subcommand."""
    func = click.option(
        "--schema",
        default="gear",
        show_default=True,
        help="Schema that holds the functions.",
    )(func)
    return click.argument("url", required=False, default="", envvar="GEAR_SQL_URL")(func)


def _servers_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--server",
        "-S",
        "servers",
        multiple=True,
        metavar="HOST[:PORT]",
        help=help_text,
    )


@click.group("sql")
def sql() -> None:
    """Submit Gearman jobs from PostgreSQL (gman_* functions, like the MySQL UDFs).

    URL is a libpq connection URL or string (default: $GEAR_SQL_URL, else
    the PG* environment).  See docs/sql.md.
    """


@sql.command()
@_target
@click.option(
    "--pythonpath",
    default=None,
    help="Directory holding the gear package, as the database server sees it; the "
    "functions put it first on sys.path.  Default: where this gear is installed.  "
    "'' means none (gearkit is installed in the database server's Python).",
)
@_servers_option("Default job servers to record (repeat or use commas).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Default seconds a call may take (else 10).",
)
def install(
    url: str, schema: str, pythonpath: str | None, servers: tuple[str, ...], timeout: float | None
) -> None:
    """Create (or upgrade) the gman_* functions in a database (superuser)."""
    status = _call(
        admin.install,
        url,
        schema,
        pythonpath=pythonpath,
        servers=",".join(servers) or None,
        timeout=timeout,
    )
    click.echo(f"installed gear {status.version} in schema {schema}")
    _print_status(status)


@sql.command()
@_target
@click.option("--force", is_flag=True, help="Also drop jobs still waiting in the outbox.")
def uninstall(url: str, schema: str, force: bool) -> None:
    """Drop the functions, their tables, and the schema if nothing else is in it."""
    done = _call(admin.uninstall, url, schema, force=force)
    kept = "" if done.schema_dropped else f" (schema {schema} kept: it holds other objects)"
    dropped = f", {done.dropped_jobs} unsent job(s) dropped" if done.dropped_jobs else ""
    click.echo(f"uninstalled {done.functions} functions from schema {schema}{dropped}{kept}")


@sql.command()
@_target
def status(url: str, schema: str) -> None:
    """What is installed, which servers are set, what the server's Python imports.

    Exits with 1 when nothing is installed in the schema.
    """
    found = _call(admin.status, url, schema)
    if not found.installed:
        raise CommandError(f"gear's SQL functions are not installed in schema {schema}", 1)
    _print_status(found)


@sql.command()
@_target
@_servers_option("Job servers for every function (default: the schema's servers table).")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Jobs sent per transaction.",
)
@click.option("--burst", is_flag=True, help="Send what is queued now, then exit.")
def relay(url: str, schema: str, servers: tuple[str, ...], batch: int, burst: bool) -> None:
    """Send the jobs gman_do_background_on_commit queued, once committed.

    Runs until SIGTERM/SIGINT (the current batch is finished first), waking
    on each commit through LISTEN/NOTIFY.
    """
    spec = ",".join(servers) or None
    if spec is not None and normalize_servers(spec) is None:
        raise click.BadParameter(f"bad server list {spec!r}", param_hint="'--server'")
    config = RelayConfig(url, schema, servers=spec, batch=batch, burst=burst)
    sent = _call(_run_relay, config)
    if burst:
        click.echo(f"sent {sent} job(s)")


def _run_relay(config: RelayConfig) -> int:
    async def main() -> int:
        relay = Relay(config, report=click.echo)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, relay.stop)
        try:
            return await relay.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


T = TypeVar("T")


def _call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return func(*args, **kwargs)
    except RelayError as exc:
        raise CommandError(str(exc), EXIT_UNREACHABLE) from None
    except admin.SQLAdminError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None


def _print_status(found: admin.Status) -> None:
    missing = f", missing: {', '.join(found.missing)}" if found.missing else " (all present)"
    rows = [
        ("schema", f"{found.schema} (gear {found.version}, installed {found.installed_at})"),
        ("functions", f"{len(found.functions)}{missing}"),
        ("python path", found.pythonpath or "(none: the server's own Python)"),
        ("server python", _backend(found)),
        ("servers", _servers(found.servers)),
        (
            "timeout",
            f"{found.effective_timeout:g} s" + (" (default)" if found.timeout is None else ""),
        ),
        ("outbox", f"{found.outbox} job(s) waiting for gear sql relay"),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<15}{value}")


def _backend(found: admin.Status) -> str:
    if found.backend_error is not None:
        return f"cannot import gear: {found.backend_error}"
    b = found.backend
    return f"gear {b.get('gear')} from {b.get('file')}, Python {b.get('python')}"


def _servers(servers: dict[str, str]) -> str:
    if not servers:
        return "(not set: $GEAR_SERVERS, else localhost:4730, of the database server)"
    default = servers.get("")
    parts = [default] if default else ["(default not set)"]
    parts += [f"{fn}: {spec}" for fn, spec in sorted(servers.items()) if fn]
    return "; ".join(parts)
