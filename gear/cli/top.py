"""``gear top``: flags → ``TopConfig`` → the dashboard or one plain snapshot.

Strategy: the command only parses flags; ``run_top`` decides between the
Textual dashboard and, with ``--once`` or when stdout is not a terminal, one
plain-text snapshot (like ``gearman_top -b``).  Textual is imported only for
the dashboard.  An unreachable server is never a traceback: the dashboard
shows it as down, the snapshot prints it as down and exits 3 when no server
answered.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from dataclasses import dataclass

import click

from gear.cli._common import tls_options
from gear.client.servers import ServerAddress, resolve_servers
from gear.tui.plain import render
from gear.tui.source import AdminClientSource

#: the snapshot was printed and at least one server answered
EXIT_OK = 0
#: no server could be reached (the code gear's other commands use)
EXIT_UNREACHABLE = 3


@dataclass(frozen=True, slots=True)
class TopConfig:
    """What ``gear top`` was asked to do."""

    servers: tuple[ServerAddress, ...]
    #: seconds between refreshes
    interval: float = 1.0
    #: seconds to wait for a connection and for each reply
    timeout: float = 5.0
    #: print one plain snapshot instead of the dashboard
    once: bool = False
    #: TLS context of the admin connections (None: plain TCP)
    tls: ssl.SSLContext | None = None


def run_top(config: TopConfig) -> int:
    """Run the dashboard, or print one snapshot; the exit code."""
    if config.once:
        return asyncio.run(
            _print_once(AdminClientSource(config.servers, timeout=config.timeout, tls=config.tls))
        )
    # a refresh shows slow servers' last readings after one interval
    source = AdminClientSource(
        config.servers, timeout=config.timeout, wait=config.interval, tls=config.tls
    )
    from gear.tui.app import GearDashboard

    GearDashboard(source, interval=config.interval).run()
    return EXIT_OK


async def _print_once(source: AdminClientSource) -> int:
    try:
        snapshot = await source.poll(None)
    finally:
        await source.close()
    click.echo(render(snapshot), nl=False)
    return EXIT_OK if snapshot.servers_up else EXIT_UNREACHABLE


@click.command()
@click.option(
    "--server",
    "-s",
    "servers",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Job server to watch; repeat or use commas for several. "
    "Default: $GEAR_SERVERS, else $GEARMAN_SERVER, else localhost:4730.",
)
@click.option(
    "--interval",
    "-i",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between refreshes.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for a server's connection and for each reply.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Print one plain-text snapshot of the function table and exit "
    "(the default when stdout is not a terminal).",
)
@tls_options
def top(
    servers: tuple[str, ...],
    interval: float,
    timeout: float,
    once: bool,
    tls: ssl.SSLContext | None,
) -> None:
    """Live dashboard of servers, functions, queued jobs and workers."""
    try:
        addresses = resolve_servers(list(servers) or None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--server'") from None
    config = TopConfig(
        servers=tuple(addresses),
        interval=interval,
        timeout=timeout,
        once=once or not sys.stdout.isatty(),
        tls=tls,
    )
    sys.exit(run_top(config))
