"""``gear bench``: flags map 1:1 onto BenchConfig, then ``gear.bench.run_benchmark``.

Exit codes: 0 every scenario ran clean; 1 a scenario failed, timed out, got
ERROR packets or lost a server mid-run; 2 bad options (one line, no usage
dump); 3 the server could not be reached or the spawned one did not start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from gear.bench import (
    SCENARIOS,
    BenchConfig,
    BenchConfigError,
    BenchError,
    ScenarioResult,
    format_table,
    run_benchmark,
    to_json,
)
from gear.bench.config import ALL_SCENARIOS, DEFAULT_HOST, DEFAULT_PORT, SPREADS, parse_address
from gear.bench.report import format_header
from gear.cli._common import ExitError as RunError
from gear.cli._common import tls_path_options
from gear.errors import ConnectError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class OneLineCommand(click.Command):
    """A command whose option errors are one ``Error: ...`` line (exit 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if isinstance(exc, click.NoSuchOption | click.BadParameter | click.MissingParameter):
                raise click.UsageError(exc.format_message().replace("\n", " ")) from None
            raise click.UsageError(str(exc)) from None


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a default dependency on Linux
        return "asyncio"
    return "uvloop"


@click.command(cls=OneLineCommand)
@click.argument("scenarios", nargs=-1, type=click.Choice(ALL_SCENARIOS), metavar="[SCENARIO]...")
@click.option(
    "--server",
    "-s",
    "servers",
    metavar="HOST:PORT",
    multiple=True,
    help="Server to load [default: 127.0.0.1:4730]; repeat to spread the run over "
    "several (every worker connects to each); excludes --spawn.",
)
@click.option(
    "--spread",
    type=click.Choice(SPREADS),
    default="unique",
    show_default=True,
    help="With several servers: a job's server by CRC32 of its unique id or round-robin "
    "(one window per client, as gear's client), or conn: a window per server connection.",
)
@click.option("--spawn", is_flag=True, help="Start `gear serve` on a free port for the run.")
@click.option(
    "--clients",
    "-c",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Client connections.",
)
@click.option(
    "--workers",
    "-k",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Worker connections that do the jobs.",
)
@click.option(
    "--window",
    "-w",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Requests in flight per client connection.",
)
@click.option(
    "--grabs",
    "-g",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="GRAB_JOBs pipelined per worker (after a wake-up and in the bg drain).",
)
@click.option(
    "--count",
    "-n",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Jobs (or echoes) per scenario.",
)
@click.option(
    "--duration",
    "-d",
    type=click.FloatRange(0),
    default=3.0,
    show_default=True,
    help="Stop issuing after this many seconds and finish what is in flight; 0 = no limit.",
)
@click.option(
    "--timeout",
    "-t",
    type=click.FloatRange(0, min_open=True),
    default=60.0,
    show_default=True,
    help="Hard limit of one scenario, seconds: abort, report partial counts.",
)
@click.option(
    "--size",
    type=click.IntRange(0),
    default=64,
    show_default=True,
    help="Job data / echo payload bytes (fg and herd need >= 16 for latency).",
)
@click.option(
    "--idle",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="herd: extra workers asleep on the same function.",
)
@click.option(
    "--function", "function", default=None, help="Function name [default: unique per run]."
)
@click.option(
    "--processes",
    "-P",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Generator processes to spread the connections over.",
)
@click.option(
    "--server-pid",
    "server_pids",
    type=click.IntRange(1),
    multiple=True,
    help="Sample this process's CPU time per phase (automatic with --spawn); "
    "repeat for several servers (their CPU is summed).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per scenario instead of a table."
)
@tls_path_options
def bench(
    scenarios: tuple[str, ...],
    servers: tuple[str, ...],
    server_pids: tuple[int, ...],
    spawn: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Measure Gearman servers: SCENARIOS among bg, fg, echo, herd, many (default: all but many).

    \b
    bg    submit background jobs, then drain them with workers
    fg    round trips client -> worker -> client, latency percentiles
    echo  ECHO_REQ round trips (the protocol ceiling)
    herd  fg with --idle more workers asleep on the function (NOOPs per job)
    many  fg with many connections: 1000 clients x 1 job in flight, 100 workers
          (-c, -w and -k change it)

    With several --server options, each client spreads its jobs over the
    servers (--spread), every worker connects to every server, and the
    table gives the aggregate and each server's rate; a server lost
    mid-run is reported with the jobs lost on it, and the run goes on.
    """
    try:
        if spawn and servers:
            raise BenchConfigError("--spawn and --server exclude each other")
        if spawn and (options["tls"] or options["tls_ca"] or options["tls_cert"]):
            raise BenchConfigError("--tls needs --server (start the TLS server yourself)")
        addresses = tuple(parse_address(s) for s in servers or [f"{DEFAULT_HOST}:{DEFAULT_PORT}"])
        if options["function"] is None:
            del options["function"]
        config = BenchConfig(
            host=addresses[0][0],
            port=addresses[0][1],
            servers=addresses if len(addresses) > 1 else (),
            server_pid=server_pids[0] if server_pids else 0,
            more_pids=server_pids[1:],
            explicit=_given(("clients", "workers", "window")),
            **options,
        )
    except BenchConfigError as exc:
        raise RunError(str(exc), EXIT_USAGE) from None
    results: list[ScenarioResult] = []

    def emit(result: ScenarioResult) -> None:
        results.append(result)
        if as_json:
            click.echo(json.dumps(to_json(result)))

    error = _run(config, scenarios or SCENARIOS, spawn, emit)
    if results and not as_json:
        target = "spawned gear serve" if spawn else None
        if len(config.addresses) > 1:
            target = " + ".join(f"{h}:{p}" for h, p in config.addresses)
        click.echo(format_header(results[0].config, _loop_name(), target))
        click.echo(format_table(results))
    if error is not None:
        raise error
    bad = [r for r in results if not r.ok]
    if bad:
        raise RunError(f"{bad[0].config.scenario}: {_problem(bad[0])}", EXIT_FAILED)


def _given(names: tuple[str, ...]) -> frozenset[str]:
    """Which of these options were given on the command line (or the environment)."""
    ctx = click.get_current_context()
    default = click.core.ParameterSource.DEFAULT
    return frozenset(n for n in names if ctx.get_parameter_source(n) is not default)


def _run(
    config: BenchConfig,
    scenarios: tuple[str, ...],
    spawn: bool,
    emit: Callable[[ScenarioResult], None],
) -> RunError | None:
    """Run the benchmark; the error to exit with once what ran is shown."""
    try:
        run_benchmark(config, scenarios, spawn=spawn, on_result=emit)
    except BenchConfigError as exc:
        raise RunError(str(exc), EXIT_USAGE) from None
    except ConnectError as exc:
        return RunError(str(exc), EXIT_UNREACHABLE)
    except BenchError as exc:
        return RunError(str(exc), EXIT_FAILED)
    return None


def _problem(result: ScenarioResult) -> str:
    if result.failure:
        return result.failure
    if result.timed_out:
        return f"timed out after {result.config.timeout:g} s"
    if result.lost:
        return "; ".join(
            f"lost {name} mid-run ({n:,} jobs lost)" for name, n in result.lost.items()
        )
    c = result.counters
    return f"{c['errors']} ERROR packets, {c['unexpected']} unexpected packets" + (
        f" (first error: {result.first_error})" if result.first_error else ""
    )
