"""The ``gear`` command: a click group whose subcommands load lazily.

Strategy: ``gear --help`` imports nothing heavy; each subcommand's module is
imported only when that subcommand runs (click's LazyGroup pattern), so the
REPL and the dashboard never slow down ``gear serve``.  A broken pipe on
stdout that reaches the group (a one-shot printing into ``| head -1``) ends
the command quietly with 141 (see ``_stdout``).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from gear import __version__
from gear.cli._stdout import EXIT_STDOUT_CLOSED, discard_stdout, is_broken_pipe, reader_gone

#: subcommand name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("gear.cli.serve", "serve", "Run a Gearman job server."),
    "submit": ("gear.cli.jobs", "submit", "Submit jobs (like `gearman -f`)."),
    "work": ("gear.cli.jobs", "work", "Run a worker (like `gearman -w`)."),
    "status": ("gear.cli.jobs", "status", "Query a job's status by handle or unique."),
    "admin": ("gear.cli.admin", "admin", "Admin REPL and one-shot admin commands."),
    "top": ("gear.cli.top", "top", "Live dashboard of servers, functions, jobs, workers."),
    "bench": ("gear.cli.bench", "bench", "Load generator for any Gearman server."),
    "sql": ("gear.cli.sql", "sql", "gman_* functions in PostgreSQL: install, status, relay."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        command = getattr(module, spec[1])
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if not (is_broken_pipe(exc) and reader_gone()):
                raise
            discard_stdout()
            raise SystemExit(EXIT_STDOUT_CLOSED) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"auto_envvar_prefix": "GEAR", "help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="gear")
def main(**_: Any) -> None:
    """gear: a Gearman job server, client, worker and tools."""
