"""``gear submit``, ``gear work`` and ``gear status``: flags → config → run.

Strategy (uvicorn's ``main`` → ``Config`` → ``run``): each command only
checks its flags, builds a ``SubmitConfig``/``WorkConfig`` and hands it to
``run_submit``/``run_work``; option meanings mirror libgearman's
``gearman`` tool (see docs/cli.md for the table).  Errors a user can act on
leave as ``CommandError`` (one line, documented exit code); usage errors as
click's ``UsageError`` (exit 2).
"""

from __future__ import annotations

import ssl

import click

from gear.client import AsyncClient, JobInfo, Priority
from gear.client.servers import ServerAddress

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    run,
    server_options,
    servers_from,
    tls_options,
)
from ._submit import SubmitConfig, run_submit
from ._work import WorkConfig, find_command, run_work


@click.command()
@click.argument("args", nargs=-1, metavar="[FUNCTION] [DATA]...")
@click.option(
    "--function",
    "-f",
    "functions",
    multiple=True,
    metavar="NAME",
    help="Function to submit to; repeat to send the same data to several. "
    "With -f every argument is DATA.",
)
@click.option("--lines", "-n", is_flag=True, help="One job per line of stdin (newline kept).")
@click.option(
    "--strip-newline", "-N", is_flag=True, help="One job per line of stdin, newline removed."
)
@click.option("--no-input", "-s", is_flag=True, help="One job with empty data; do not read stdin.")
@click.option("--background", "-b", is_flag=True, help="Queue the jobs and exit at once.")
@click.option("--high", "-I", is_flag=True, help="High priority.")
@click.option("--low", "-L", is_flag=True, help="Low priority.")
@click.option("--unique", "-u", metavar="KEY", help="Unique key (same key = same job; '-' = data).")
@click.option(
    "--at", type=float, metavar="EPOCH", help="Run no earlier than this Unix time (background)."
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Run no earlier than this many seconds from now (background).",
)
@click.option("--prefix", "-P", is_flag=True, help="Prefix each output chunk with 'FUNCTION: '.")
@click.option(
    "--timeout",
    "-t",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Give up on a job after this long (exit 3).",
)
@click.option("--verbose", "-v", is_flag=True, help="Print job handles.")
@click.option(
    "--window",
    "-w",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Most jobs in flight at once (output keeps input order).",
)
@server_options
@tls_options
def submit(
    args: tuple[str, ...],
    functions: tuple[str, ...],
    lines: bool,
    strip_newline: bool,
    no_input: bool,
    background: bool,
    high: bool,
    low: bool,
    unique: str | None,
    at: float | None,
    delay: float | None,
    prefix: bool,
    timeout: float | None,
    verbose: bool,
    window: int,
    servers: tuple[str, ...],
    port: int,
    tls: ssl.SSLContext | None,
) -> None:
    """Submit jobs, like `gearman -f FUNCTION`; print their results.

    Data comes from the DATA arguments (one job each), else from stdin (one
    job, or one per line with -n/-N).  Exit status: 0 ok, 1 a job failed,
    2 usage, 3 server unreachable or timeout, 4 a job raised an exception.
    """
    names, payloads = _split_function(args, functions)
    if high and low:
        raise click.UsageError("--high and --low exclude each other")
    if at is not None and delay is not None:
        raise click.UsageError("--at and --delay exclude each other")
    if (at is not None or delay is not None) and (high or low):
        raise click.UsageError("scheduled jobs (--at/--delay) have no priority")
    config = SubmitConfig(
        servers=servers_from(servers, port),
        functions=names,
        payloads=[p.encode() for p in payloads] or None,
        lines=lines,
        strip_newline=strip_newline,
        no_input=no_input,
        background=background,
        priority=Priority.HIGH if high else Priority.LOW if low else Priority.NORMAL,
        unique=unique,
        at=at,
        delay=delay,
        prefix=prefix,
        timeout=timeout,
        verbose=verbose,
        window=window,
        tls=tls,
    )
    raise SystemExit(run(run_submit(config)))


def _split_function(
    args: tuple[str, ...], functions: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    if functions:
        return list(functions), list(args)
    if not args:
        raise click.UsageError("no function given: gear submit FUNCTION [DATA]... (or -f NAME)")
    return [args[0]], list(args[1:])


class _CommandAfterDashes(click.Command):
    """Everything after the first ``--`` is the worker's command, untouched."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["gear.command"] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)


@click.command(cls=_CommandAfterDashes)
@click.argument("names", nargs=-1, metavar="FUNCTION... [-- COMMAND [ARGS]...]")
@click.option(
    "--function", "-f", "functions", multiple=True, metavar="NAME", help="Also register NAME."
)
@click.option("--lines", "-n", is_flag=True, help="Send each output line as WORK_DATA as it comes.")
@click.option("--strip-newline", "-N", is_flag=True, help="Like --lines, without the newline.")
@click.option("--count", "-c", type=click.IntRange(min=1), help="Exit after this many jobs.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Jobs run at once.",
)
@click.option(
    "--timeout",
    "-t",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Kill a job's command and fail the job after this long (CAN_DO_TIMEOUT).",
)
@click.option("--burst", is_flag=True, help="Exit when no job is left.")
@click.option("--client-id", metavar="ID", help="Name shown by the admin 'workers' command.")
@server_options
@tls_options
@click.pass_context
def work(
    ctx: click.Context,
    names: tuple[str, ...],
    functions: tuple[str, ...],
    lines: bool,
    strip_newline: bool,
    count: int | None,
    concurrency: int,
    timeout: float | None,
    burst: bool,
    client_id: str | None,
    servers: tuple[str, ...],
    port: int,
    tls: ssl.SSLContext | None,
) -> None:
    """Run a worker, like `gearman -w -f FUNCTION [-- COMMAND]`.

    Without a command, each job's data is written to stdout.  With one, the
    command runs per job with the data on stdin; its stdout is the result,
    a non-zero exit fails the job.  SIGTERM finishes running jobs, then exits.
    """
    command: list[str] = ctx.meta.get("gear.command", [])
    every = list(dict.fromkeys([*names, *functions]))
    if not every:
        raise click.UsageError("no function given: gear work FUNCTION... [-- COMMAND]")
    if command and find_command(command) is None:
        raise CommandError(f"command not found: {command[0]}", EXIT_USAGE)
    config = WorkConfig(
        servers=servers_from(servers, port),
        functions=every,
        command=command,
        lines=lines,
        strip_newline=strip_newline,
        count=count,
        concurrency=concurrency,
        timeout=timeout,
        burst=burst,
        client_id=client_id,
        tls=tls,
    )
    raise SystemExit(run(run_work(config)))


@click.command()
@click.argument("handle", required=False)
@click.option("--unique", "-u", metavar="KEY", help="Ask by unique key (GET_STATUS_UNIQUE).")
@server_options
@tls_options
def status(
    handle: str | None,
    unique: str | None,
    servers: tuple[str, ...],
    port: int,
    tls: ssl.SSLContext | None,
) -> None:
    """Show a job's status by HANDLE or --unique KEY.

    Prints one line of key=value fields.  Exit status: 0 the job is known,
    1 no server knows it, 3 no server could be asked.
    """
    if (handle is None) == (unique is None):
        raise click.UsageError("give a HANDLE or --unique KEY (not both)")
    addresses = servers_from(servers, port)
    info = run(_query(addresses, handle, unique, tls))
    click.echo(_format_info(info))
    raise SystemExit(EXIT_OK if info.known else EXIT_FAILED)


async def _query(
    servers: list[ServerAddress],
    handle: str | None,
    unique: str | None,
    tls: ssl.SSLContext | None,
) -> JobInfo:
    async with AsyncClient(servers, tls=tls) as client:
        if handle is not None:
            return await client.get_status(handle)
        assert unique is not None
        return await client.get_status_unique(unique)


def _format_info(info: JobInfo) -> str:
    fields = [
        f"known={int(info.known)}",
        f"running={int(info.running)}",
        f"numerator={info.numerator}",
        f"denominator={info.denominator}",
    ]
    if info.clients is not None:
        fields.append(f"clients={info.clients}")
    key = info.key.decode(errors="replace")
    name = "handle" if info.clients is None else "unique"
    return " ".join([f"{name}={key}", *fields, f"server={info.server}"])
