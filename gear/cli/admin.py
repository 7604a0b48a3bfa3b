"""``gear admin``: flags map onto ``AdminOptions``, then ``repl.app.run``."""

from __future__ import annotations

import ssl

import click

from gear.cli._common import tls_options
from gear.cli.repl.app import AdminOptions, run, split_servers
from gear.client.admin import parse_address


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--server",
    "-s",
    "servers",
    multiple=True,
    envvar="GEAR_SERVERS",
    show_default="localhost:4730",
    help="Server as host[:port]; repeat (or comma-separate) for several. Env: GEAR_SERVERS.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document per command.")
@click.option("--header", is_flag=True, help="Print a header line before tab-separated rows.")
@click.option("--yes", "-y", is_flag=True, help="Run destructive commands without asking.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait for a connection or a reply.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@tls_options
def admin(
    servers: tuple[str, ...],
    as_json: bool,
    header: bool,
    yes: bool,
    timeout: float,
    command: tuple[str, ...],
    tls: ssl.SSLContext | None,
) -> None:
    """Admin REPL, or run COMMAND once (e.g. `gear admin status`).

    Without COMMAND and with stdin not a terminal, each line of stdin is a
    command. Exit status: 0 OK, 1 a server answered ERR, 2 bad command or
    refused, 3 a server was unreachable.
    """
    addresses = split_servers(servers)
    for address in addresses:
        try:
            parse_address(address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--server") from None
    options = AdminOptions(
        servers=addresses,
        command=" ".join(command),
        json=as_json,
        header=header,
        yes=yes,
        timeout=timeout,
        tls=tls,
    )
    raise SystemExit(run(options))
