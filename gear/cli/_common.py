"""What ``gear submit``, ``gear work`` and ``gear status`` share.

Strategy: the documented exit codes live here, with the one function that
maps a library error to (message, code), so every command reports a user
error as one line on stderr, prefixed with the command (``gear work: …``),
and never as a traceback.  A stdout whose reader went away (``| head -1``)
ends a command quietly with ``EXIT_STDOUT_CLOSED`` (see ``_stdout``).
``--server``/``--port`` are one decorator, resolved through the library's
``resolve_servers`` so the CLI and the library read
``GEAR_SERVERS``/``GEARMAN_SERVER`` identically.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import click

from gear.cli._stdout import EXIT_STDOUT_CLOSED as EXIT_STDOUT_CLOSED
from gear.client.servers import DEFAULT_PORT, ServerAddress, resolve_servers
from gear.client.tls import TlsConfigError, client_context
from gear.errors import (
    ConnectError,
    GearError,
    JobException,
    JobFailed,
    JobTimeout,
    ServerError,
    ServerUnavailable,
)

#: every job succeeded
EXIT_OK = 0
#: a job failed (WORK_FAIL), the server refused it, or a status query found nothing
EXIT_FAILED = 1
#: bad options or arguments (click's own code), or the worker command does not exist
EXIT_USAGE = 2
#: no server could be reached, or a timeout passed
EXIT_UNREACHABLE = 3
#: a job ended with WORK_EXCEPTION
EXIT_EXCEPTION = 4
#: Ctrl-C: 128 + SIGINT
EXIT_INTERRUPTED = 130

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class ExitError(click.ClickException):
    """A one-line ``Error: MESSAGE`` with one of the documented exit codes."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        # an instance attribute shadows click's class-level default (a ClassVar
        # in click >= 8.5's annotations, hence no plain assignment)
        object.__setattr__(self, "exit_code", exit_code)


class CommandError(ExitError):
    """An ``ExitError`` shown as ``gear work: MESSAGE``, named after its command."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message, exit_code)
        # the context is gone by the time click shows the error
        ctx = click.get_current_context(silent=True)
        #: ``gear work``, ``gear sql install``: the command the message is from
        self.command = " ".join(["gear", *_subcommand_names(ctx)])

    def show(self, file: Any = None) -> None:
        """The message on stderr, after the command's name."""
        click.echo(f"{self.command}: {self.format_message()}", file=file, err=file is None)


def _subcommand_names(ctx: click.Context | None) -> list[str]:
    """The names of the subcommands from the root to ``ctx`` (the root's own name left out)."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return names


def exit_code(exc: BaseException) -> int:
    """The documented exit code for a library error."""
    if isinstance(exc, JobException):
        return EXIT_EXCEPTION
    if isinstance(exc, ConnectError | ServerUnavailable | JobTimeout):
        return EXIT_UNREACHABLE
    if isinstance(exc, JobFailed | ServerError):
        return EXIT_FAILED
    return EXIT_FAILED


def server_options(func: F) -> F:
    """Add ``--server/-S`` (repeatable) and ``--port/-p`` to a command."""
    func = click.option(
        "--port",
        "-p",
        type=click.IntRange(1, 65535),
        default=DEFAULT_PORT,
        show_default=True,
        help="Port of servers given without one (libgearman -p).",
    )(func)
    return click.option(
        "--server",
        "-S",
        "servers",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Job server; repeat or use commas for several. "
        "Default: $GEAR_SERVERS, else $GEARMAN_SERVER, else localhost:4730.",
    )(func)


def servers_from(specs: tuple[str, ...], port: int) -> list[ServerAddress]:
    """Resolve ``--server`` values, or the environment; usage error if bad."""
    try:
        return resolve_servers(list(specs) or None, default_port=port)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--server'") from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh asyncio loop.

    The plain asyncio loop, not uvloop: uvloop's subprocess start-up is
    several times slower, and ``gear work`` starts one process per job.

    Raises:
        CommandError: a ``GearError`` escaped, with its exit code.
    """
    try:
        return asyncio.run(coro)
    except GearError as exc:
        raise CommandError(str(exc), exit_code(exc)) from None


def tls_options(func: F) -> F:
    """Add ``--tls``, ``--tls-ca``, ``--tls-cert``, ``--tls-key``; pass ``tls=SSLContext|None``.

    TLS is on with ``--tls`` or any ``--tls-*`` path.  Paths not given come
    from libgearman's ``GEARMAN_CA_CERTIFICATE``, ``GEARMAN_CLIENT_PEM`` and
    ``GEARMAN_CLIENT_KEY`` (as ``gearman -S``), see ``gear.client.tls``.
    """

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        tls: bool,
        tls_ca: str | None,
        tls_cert: str | None,
        tls_key: str | None,
        **kwargs: Any,
    ) -> Any:
        return func(*args, tls=tls_context(tls, tls_ca, tls_cert, tls_key), **kwargs)

    return tls_path_options(cast(F, wrapper))


def tls_path_options(func: F) -> F:
    """The same four options, passed on as they are (``tls``, ``tls_ca``, ...).

    For commands whose work runs in other processes (``gear bench``), which
    build their SSLContext there from the paths.
    """
    options = [
        click.option(
            "--tls-key",
            type=click.Path(dir_okay=False),
            help="Private key of --tls-cert (default $GEARMAN_CLIENT_KEY).",
        ),
        click.option(
            "--tls-cert",
            type=click.Path(dir_okay=False),
            help="Client certificate (PEM) for servers that ask for one "
            "(default $GEARMAN_CLIENT_PEM).",
        ),
        click.option(
            "--tls-ca",
            type=click.Path(dir_okay=False),
            help="CA bundle the server's certificate must chain to "
            "(default $GEARMAN_CA_CERTIFICATE, else the system's).",
        ),
        click.option(
            "--tls",
            is_flag=True,
            help="Connect over TLS (libgearman -S); implied by any --tls-* option.",
        ),
    ]
    decorated: Any = func
    for option in options:
        decorated = option(decorated)
    return cast(F, decorated)


def tls_context(
    enabled: bool, ca: str | None, cert: str | None, key: str | None
) -> ssl.SSLContext | None:
    """The client SSLContext the ``--tls*`` options ask for (None: plain TCP)."""
    if not (enabled or ca or cert or key):
        return None
    try:
        return client_context(ca=ca, cert=cert, key=key)
    except TlsConfigError as exc:
        raise click.UsageError(str(exc)) from None
