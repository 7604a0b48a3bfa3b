"""``gear serve``: flags map 1:1 onto ServerConfig, then ``gear.server.run``.

Strategy: every option's parameter name is a ServerConfig field name, and
the body builds the config from whatever options exist, so an option added
for a new field needs no other code.  ``--config FILE`` is eager: it reads
the file before the other options are resolved and hands its values to
click as the context's ``default_map``, which gives the precedence
file < ``GEAR_SERVE_*`` environment < command line for free, and lets
``ctx.get_parameter_source`` say where each value came from
(``--print-config``).  Fields without an option are read from the file and
the environment by ``gear.server.config_file``.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.core import ParameterSource

from gear.server import ConfigError, ServerConfig, StaleBuildError, config_file, run
from gear.server.config import DEFAULT_PORT, LOG_FORMATS, LOG_LEVELS, TIMEOUT_UNITS

#: where ``ctx.meta`` keeps what the config file set for fields without an option
_FILE_ONLY = "gear.serve.file_only"
_FILE_PATH = "gear.serve.file_path"


def _read_config_file(ctx: click.Context, param: click.Parameter, path: str | None) -> str | None:
    """Eager ``--config``: the file's values become the other options' defaults."""
    if path is None:
        return None
    try:
        values = config_file.load(path)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    options = {p.name for p in ctx.command.params}
    ctx.default_map = {k: v for k, v in values.items() if k in options}
    ctx.meta[_FILE_ONLY] = {k: v for k, v in values.items() if k not in options}
    ctx.meta[_FILE_PATH] = path
    return path


class Refused(click.ClickException):
    """A one-line ``Error: ...`` and exit status 2 (like a usage error, without the usage)."""

    exit_code = 2


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="GEAR_SERVE_CONFIG",
    is_eager=True,
    expose_value=False,
    callback=_read_config_file,
    help="Read settings from this TOML file (keys: the long option names; "
    "also $GEAR_SERVE_CONFIG). Precedence: file < GEAR_SERVE_* environment < command line.",
)
@click.option(
    "--print-config",
    is_flag=True,
    default=False,
    help="Print the effective configuration as TOML, with where each value came from, and exit.",
)
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
@click.option(
    "--busy-poll",
    metavar="USEC",
    type=int,
    default=50,
    show_default=True,
    help="Microseconds the server keeps polling for input, without sleeping, after "
    "serving some (0 = sleep at once). A request arriving then skips the kernel's "
    "wake-up: lower latency, and about this much CPU per burst of requests.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="human",
    show_default=True,
    help="Log lines as human text, or as one JSON object per line (for log shippers).",
)
@click.option(
    "--metrics",
    metavar="HOST:PORT",
    default=None,
    help="Serve Prometheus /metrics and /healthz on HOST:PORT (port 0 picks one; "
    "the start-up output says which).",
)
@click.option(
    "--http",
    metavar="HOST:PORT",
    default=None,
    help="Serve the HTTP gateway (gearmand's -r http: POST /FUNCTION runs a job) on HOST:PORT.",
)
def serve(print_config: bool, **params: Any) -> None:
    """Run a Gearman job server (drop-in for gearmand)."""
    ctx = click.get_current_context()
    try:
        config, sources = _build_config(ctx, params)
        config.validate()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if print_config:
        click.echo(config_file.render(config, sources), nl=False)
        return
    try:
        code = run(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except StaleBuildError as exc:
        raise Refused(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve: {exc.strerror or exc}") from None
    raise SystemExit(code)


def _build_config(
    ctx: click.Context, params: dict[str, Any]
) -> tuple[ServerConfig, dict[str, str]]:
    """The ServerConfig the options, the file and the environment give, and each value's source."""
    file_only: dict[str, Any] = ctx.meta.get(_FILE_ONLY, {})
    path = ctx.meta.get(_FILE_PATH)
    settings = config_file.settings()
    unmapped = set(params) - {s.name for s in settings}
    if unmapped:  # an option whose name is no ServerConfig field would be dropped silently
        raise click.ClickException(f"internal error: options without a field: {sorted(unmapped)}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in settings:
        name = setting.name
        if name in params:
            value = params[name]
            values[name] = list(value) if isinstance(value, tuple) else value
            sources[name] = _source(ctx, name, setting, path)
            continue
        env = config_file.from_environment(setting, os.environ)
        if env is not None:
            values[name], sources[name] = env, f"environment {setting.env}"
        elif name in file_only:
            values[name], sources[name] = file_only[name], f"file {path}"
    if "log_level" in values:
        values["log_level"] = values["log_level"].upper()
    return ServerConfig(**values), sources


def _source(ctx: click.Context, name: str, setting: config_file.Setting, path: str | None) -> str:
    source = ctx.get_parameter_source(name)
    if source is ParameterSource.COMMANDLINE:
        return "command line"
    if source is ParameterSource.ENVIRONMENT:
        return f"environment {setting.env}"
    if source is ParameterSource.DEFAULT_MAP:
        return f"file {path}"
    return "default"
