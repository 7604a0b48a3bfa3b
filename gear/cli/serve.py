"""``gear serve``: flags map 1:1 onto ServerConfig, then ``gear.server.run``."""

from __future__ import annotations

from typing import Any

import click

from gear.server import ConfigError, ServerConfig, StaleBuildError, run
from gear.server.config import DEFAULT_PORT, LOG_LEVELS, TIMEOUT_UNITS


class Refused(click.ClickException):
    """A one-line ``Error: ...`` and exit status 2 (like a usage error, without the usage)."""

    exit_code = 2


@click.command()
@click.option(
    "--listen",
    "-L",
    multiple=True,
    default=["127.0.0.1"],
    show_default=True,
    help="Address to listen on (IPv4 or IPv6); repeat for several. "
    "Use --listen 0.0.0.0 --listen :: for all interfaces.",
)
@click.option(
    "--port",
    "-p",
    type=int,
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port; 0 picks a free port, shown on the first line of output.",
)
@click.option(
    "--job-retries",
    "-j",
    type=int,
    default=-1,
    show_default=True,
    help="Runs a job may have (its worker dying each time) before it fails; -1 = no limit.",
)
@click.option(
    "--worker-wakeup",
    "-w",
    type=int,
    default=0,
    show_default=True,
    help="Most sleeping workers one new job wakes; 0 = as many as there are jobs.",
)
@click.option(
    "--job-handle-prefix",
    default=None,
    help="Job handles become PREFIX:<n> (default H:<host>, as gearmand; "
    "<n> starts from the boot time in microseconds, so handles never repeat).",
)
@click.option(
    "--max-packet-size",
    type=int,
    default=64 * 1024 * 1024,
    show_default=True,
    help="Largest packet accepted, in bytes; larger ones get ARGUMENT_TOO_LARGE.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Least severe messages logged.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the log to this file instead of stderr.",
)
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the process id to this file while running.",
)
@click.option(
    "--allow-shutdown",
    is_flag=True,
    default=False,
    help="Accept the admin 'shutdown [graceful]' command.",
)
@click.option(
    "--exceptions/--no-exceptions",
    default=True,
    show_default=True,
    help="Honour OPTION_REQ exceptions (forward WORK_EXCEPTION to clients that ask).",
)
@click.option(
    "--store",
    default="memory",
    show_default=True,
    help="Where background jobs are kept: memory, sqlite:PATH or postgresql://...",
)
@click.option(
    "--can-do-timeout-unit",
    type=click.Choice(TIMEOUT_UNITS),
    default="auto",
    show_default=True,
    help="Unit of workers' CAN_DO_TIMEOUT values: auto reads values below 1000 as "
    "seconds (Perl, PHP, Go workers) and larger ones as milliseconds (libgearman).",
)
@click.option(
    "--require-fresh-build",
    is_flag=True,
    default=False,
    help="Refuse to start (exit 2) when a compiled module does not match its source.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False),
    default=None,
    help="Serve TLS on the whole port with this certificate chain (PEM); "
    "as gearmand --ssl-certificate.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False),
    default=None,
    help="Private key of --tls-cert (PEM), unless the key is in that file.",
)
@click.option(
    "--tls-ca",
    type=click.Path(dir_okay=False),
    default=None,
    help="CA bundle for client certificates: asked for (and matched by --acl cn/dn rules).",
)
@click.option(
    "--tls-require-client-cert",
    is_flag=True,
    default=False,
    help="Refuse TLS clients without a certificate signed by --tls-ca.",
)
@click.option(
    "--tls-handshake-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds a TLS handshake may take before the connection is dropped.",
)
@click.option(
    "--acl",
    type=click.Path(dir_okay=False),
    default=None,
    help="Access rules (TOML): who may register, submit, and run mutating admin "
    "commands; reloaded on SIGHUP. Without it, mutating admin commands are "
    "accepted from loopback only.",
)
@click.option(
    "--max-connections",
    type=int,
    default=0,
    show_default=True,
    help="Most connections open at once (0 = no limit); more are closed at once.",
)
@click.option(
    "--max-queue",
    type=int,
    default=0,
    show_default=True,
    help="Default queue limit of every function (0 = none); admin 'maxqueue' overrides "
    "it per function. Submits past it get ERROR QUEUE_ERROR.",
)
@click.option(
    "--output-high-water",
    type=int,
    default=1024 * 1024,
    show_default=True,
    help="Unwritten replies (bytes) above which a peer's requests stop being read.",
)
@click.option(
    "--output-hard-limit",
    type=int,
    default=256 * 1024 * 1024,
    show_default=True,
    help="Unwritten replies (bytes) above which a peer is dropped (and logged).",
)
@click.option(
    "--keepalive-idle",
    type=int,
    default=60,
    show_default=True,
    help="TCP keepalive: idle seconds before the first probe (0 = keepalive off).",
)
@click.option(
    "--keepalive-interval",
    type=int,
    default=10,
    show_default=True,
    help="TCP keepalive: seconds between probes.",
)
@click.option(
    "--keepalive-count",
    type=int,
    default=6,
    show_default=True,
    help="TCP keepalive: unanswered probes before a vanished peer is dropped.",
)
def serve(
    listen: tuple[str, ...],
    port: int,
    job_retries: int,
    worker_wakeup: int,
    job_handle_prefix: str | None,
    max_packet_size: int,
    log_level: str,
    log_file: str | None,
    pid_file: str | None,
    allow_shutdown: bool,
    exceptions: bool,
    store: str,
    can_do_timeout_unit: str,
    require_fresh_build: bool,
    **hardening: Any,  # the --tls-*, --acl, --max-*, --output-*, --keepalive-* options
) -> None:
    """Run a Gearman job server (drop-in for gearmand)."""
    config = ServerConfig(
        listen=list(listen),
        port=port,
        job_retries=job_retries,
        worker_wakeup=worker_wakeup,
        job_handle_prefix=job_handle_prefix,
        max_packet_size=max_packet_size,
        log_level=log_level.upper(),
        log_file=log_file,
        pid_file=pid_file,
        allow_shutdown=allow_shutdown,
        exceptions=exceptions,
        store=store,
        can_do_timeout_unit=can_do_timeout_unit,
        require_fresh_build=require_fresh_build,
        **hardening,
    )
    try:
        config.validate()
        code = run(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except StaleBuildError as exc:
        raise Refused(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve: {exc.strerror or exc}") from None
    raise SystemExit(code)
