"""What the ``gman_*`` functions run, inside PostgreSQL (PL/Python).

Strategy: the functions ``gear sql install`` creates are stubs (see
``gear.sql.schema``).  Each imports this module once per database session,
keeps it in PL/Python's session dictionary ``GD``, and hands it ``plpy``,
``GD``, its schema and its arguments, so everything here is ordinary,
typed, tested Python and the SQL side only declares signatures.

Settings are read on every call with one prepared query (``SETTINGS``): the
session's ``gear.servers`` / ``gear.timeout`` settings (GUCs) win, then the
schema's ``servers`` table (the function's own row, then the default row
``''``) and ``settings`` table; with nothing set, the library's default
servers ($GEAR_SERVERS, $GEARMAN_SERVER, localhost:4730) and
``DEFAULT_TIMEOUT``.  So ``gman_servers_set`` lasts (it writes a table,
like the MySQL UDF's process-wide list), and ``SET LOCAL gear.timeout``
changes one transaction.

Jobs go through the public blocking ``gear.Client`` (``exceptions=True``, so
a worker's WORK_EXCEPTION text reaches the SQL error).  One client per
server list stays open in ``GD`` between calls, so a trigger firing per row
does not reconnect per row.  A kept connection that the job server closed
meanwhile is noticed only when used: that call is tried once more on a
fresh client, within the same deadline.  Every call has one deadline (the
timeout), passed to the client as its ``timeout``, which bounds connecting,
JOB_CREATED and the result alike; PL/Python cannot be interrupted by
``statement_timeout``, so this deadline is what stops a call.  A client
whose call failed other than by the job's own failure is closed (so a
foreground job nobody waits for anymore leaves the job server's queue).

Errors leave as PostgreSQL errors: an exception class derived from
``plpy.Error``, named after the gear error (the message reads
``gear.JobTimeout: no result …``) and carrying a SQLSTATE of
``gear.sql.sqlstate``, a detail and a hint, which PL/Python copies into
the ERROR it raises.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import gear
from gear import BlockingJob, Client, GearError, Priority, ServerAddress
from gear.errors import (
    ConnectError,
    JobException,
    JobFailed,
    JobTimeout,
    ProtocolError,
    ServerError,
    ServerUnavailable,
)

from . import sqlstate

T = TypeVar("T")

#: seconds a call may take when neither gear.timeout nor gman_timeout_set says
DEFAULT_TIMEOUT = 10.0
#: GD key: {server list: open gear.Client}
CLIENTS = "gear.sql.clients"
#: GD key: {(schema, query name): prepared plan}
PLANS = "gear.sql.plans"
#: priorities by the names the SQL functions pass
PRIORITIES = {"high": Priority.HIGH, "normal": Priority.NORMAL, "low": Priority.LOW}

#: the settings of one call ($1: the function name)
SETTINGS = """
SELECT coalesce(nullif(current_setting('gear.servers', true), ''),
                (SELECT servers FROM {schema}.servers WHERE function = $1),
                (SELECT servers FROM {schema}.servers WHERE function = '')) AS servers,
       coalesce(nullif(current_setting('gear.timeout', true), ''),
                (SELECT value FROM {schema}.settings WHERE name = 'timeout')) AS timeout
"""
SET_SERVERS = """
INSERT INTO {schema}.servers (function, servers) VALUES ($1, $2)
ON CONFLICT (function) DO UPDATE SET servers = excluded.servers
"""
SET_TIMEOUT = """
INSERT INTO {schema}.settings (name, value) VALUES ('timeout', $1)
ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""
_QUERIES = {"settings": (SETTINGS, ["text"]), "servers": (SET_SERVERS, ["text", "text"])}
_QUERIES["timeout"] = (SET_TIMEOUT, ["text"])
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|min)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, None: 1.0}
#: (plpy.Error, name) -> the exception class raised for it
_ERROR_CLASSES: dict[tuple[Any, str], type] = {}


@dataclass
class _Call:
    """One SQL call: what it submits, where, and until when."""

    function: str
    #: the server list, or None for the library's default
    servers: str | None
    timeout: float
    deadline: float
    background: bool = False

    def left(self) -> float:
        """Seconds left before the deadline (a little more than 0 once past it)."""
        return max(self.deadline - time.monotonic(), 0.001)


# ---------------------------------------------------------------- entry points --
def do(
    plpy: Any,
    GD: dict[str, Any],
    schema: str,
    function: str | None,
    data: str | bytes | None,
    unique_key: str | None = None,
    *,
    priority: str = "normal",
    background: bool = False,
    text: bool = True,
) -> str | bytes:
    """``gman_do*`` and ``gman_do_background*``: run a job, or queue one.

    Returns the result (WORK_DATA chunks, then the WORK_COMPLETE payload) as
    text or bytes, or a background job's handle.
    """
    prio = _priority(plpy, priority)
    call = _prepare(plpy, GD, schema, function, background)
    payload = b"" if data is None else data.encode() if isinstance(data, str) else bytes(data)
    if background:
        job = _run(
            plpy,
            GD,
            call,
            lambda c: c.submit_background(
                call.function, payload, unique=unique_key, priority=prio, timeout=call.left()
            ),
        )
        return (job.handle or b"").decode()
    chunks: list[bytes] = []

    def submit(client: Client) -> bytes:
        chunks.clear()  # a retry starts over
        return client.submit(
            call.function,
            payload,
            unique=unique_key,
            priority=prio,
            timeout=call.left(),
            on_data=chunks.append,
        )

    complete = _run(plpy, GD, call, submit)
    result = b"".join(chunks) + complete
    return _text(plpy, result, call.function) if text else result


def sum_results(plpy: Any, GD: dict[str, Any], schema: str, state: list[str] | None) -> int | None:
    """``gman_sum``: run one job per row at once and add up their integer results.

    ``state`` is the aggregate's ``[function, data, function, data, …]``;
    the jobs share one deadline.
    """
    if not state:
        return None
    pairs = list(zip(state[0::2], state[1::2], strict=True))
    jobs = []
    calls: dict[str, _Call] = {}
    for function, data in pairs:
        if function not in calls:
            calls[function] = _prepare(plpy, GD, schema, function, False)
        call = calls[function]
        payload = (data or "").encode()

        def submit(client: Client, call: _Call = call, payload: bytes = payload) -> BlockingJob:
            return client.submit_job(call.function, payload, timeout=call.left())

        jobs.append((call, _run(plpy, GD, call, submit)))
    total = 0
    for call, job in jobs:

        def wait(_client: Client, job: BlockingJob = job, call: _Call = call) -> bytes:
            return job.wait(call.left())

        result = _run(plpy, GD, call, wait)
        total += _integer(plpy, _text(plpy, result, call.function), call.function)
    return total


def servers_set(
    plpy: Any, GD: dict[str, Any], schema: str, servers: str | None, function: str | None
) -> str:
    """``gman_servers_set``: the servers of every function, or of one; returns them."""
    if servers is None:
        _error(plpy, "InvalidArgument", sqlstate.NULL_VALUE, "the server list is NULL")
    normalized = normalize_servers(servers)
    if normalized is None:
        _error(
            plpy,
            "InvalidArgument",
            sqlstate.INVALID_PARAMETER,
            f"bad server list {servers!r}",
            hint="give host[:port] entries separated by commas, e.g. '127.0.0.1:4730'",
        )
    plpy.execute(_plan(plpy, GD, schema, "servers"), [function or "", normalized])
    return normalized


def timeout_set(plpy: Any, GD: dict[str, Any], schema: str, seconds: float | None) -> float:
    """``gman_timeout_set``: the default timeout of every call, in seconds."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        _error(
            plpy,
            "InvalidArgument",
            sqlstate.INVALID_PARAMETER,
            f"the timeout must be a positive number of seconds, not {seconds}",
        )
    plpy.execute(_plan(plpy, GD, schema, "timeout"), [repr(float(seconds))])
    return float(seconds)


def probe() -> str:
    """What the database server's Python runs: gear's version and file, Python's version."""
    return json.dumps(
        {"gear": gear.__version__, "file": gear.__file__, "python": sys.version.split()[0]}
    )


def normalize_servers(servers: str) -> str | None:
    """``servers`` as a canonical comma list, or None when it cannot be parsed."""
    parts = [p for p in servers.split(",") if p.strip()]
    try:
        addresses = [str(ServerAddress.parse(p)) for p in parts]
    except ValueError:
        return None
    return ",".join(dict.fromkeys(addresses)) or None


def parse_seconds(text: str) -> float | None:
    """``'2.5'``, ``'2.5s'``, ``'500ms'``, ``'1min'`` as seconds; None if not positive."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    return seconds if math.isfinite(seconds) and seconds > 0 else None


# -------------------------------------------------------------------- helpers --
def _prepare(
    plpy: Any, GD: dict[str, Any], schema: str, function: str | None, background: bool
) -> _Call:
    """Check the function name, read the settings, start the clock."""
    if function is None:
        _error(plpy, "InvalidArgument", sqlstate.NULL_VALUE, "the function name is NULL")
    if not function:
        _error(plpy, "InvalidArgument", sqlstate.INVALID_PARAMETER, "the function name is empty")
    row = plpy.execute(_plan(plpy, GD, schema, "settings"), [function])[0]
    timeout = DEFAULT_TIMEOUT
    if row["timeout"] is not None:
        parsed = parse_seconds(row["timeout"])
        if parsed is None:
            _error(
                plpy,
                "InvalidArgument",
                sqlstate.INVALID_PARAMETER,
                f"bad timeout {row['timeout']!r}",
                hint="gear.timeout is a positive number of seconds: '2.5', '500ms', '1min'",
            )
        timeout = parsed
    deadline = time.monotonic() + timeout
    return _Call(function, row["servers"], timeout, deadline, background)


def _plan(plpy: Any, GD: dict[str, Any], schema: str, name: str) -> Any:
    plans = GD.setdefault(PLANS, {})
    plan = plans.get((schema, name))
    if plan is None:
        query, types = _QUERIES[name]
        plan = plans[(schema, name)] = plpy.prepare(query.format(schema=schema), types)
    return plan


def _priority(plpy: Any, name: str) -> Priority:
    prio = PRIORITIES.get(name)
    if prio is None:
        _error(
            plpy,
            "InvalidArgument",
            sqlstate.INVALID_PARAMETER,
            f"bad priority {name!r}",
            hint="one of 'high', 'normal', 'low'",
        )
    return prio


def _run(plpy: Any, GD: dict[str, Any], call: _Call, action: Callable[[Client], T]) -> T:
    """``action(client)`` on the kept client of ``call.servers``; errors become SQL errors."""
    clients: dict[str | None, Client] = GD.setdefault(CLIENTS, {})
    fresh = call.servers not in clients
    while True:
        client = clients.get(call.servers) or _new_client(plpy, clients, call)
        try:
            return action(client)
        except (JobFailed, JobException) as exc:
            _raise_gear(plpy, exc, call, client)  # the connection is fine: keep it
        except (ConnectError, ServerUnavailable) as exc:
            _drop(clients, call.servers)
            if fresh or time.monotonic() >= call.deadline:
                _raise_gear(plpy, exc, call, client)
            fresh = True  # a kept connection had gone stale: once more, on a new one
        except GearError as exc:
            _drop(clients, call.servers)
            _raise_gear(plpy, exc, call, client)


def _new_client(plpy: Any, clients: dict[str | None, Client], call: _Call) -> Client:
    try:
        client = Client(call.servers, exceptions=True)
    except ValueError as exc:
        _error(
            plpy,
            "InvalidArgument",
            sqlstate.INVALID_PARAMETER,
            f"bad server list: {exc}",
            hint="check gear.servers, gman_servers_set() or $GEAR_SERVERS",
        )
    clients[call.servers] = client
    return client


def _drop(clients: dict[str | None, Client], servers: str | None) -> None:
    client = clients.pop(servers, None)
    if client is not None:
        try:
            client.close()
        except (GearError, OSError):
            pass  # it is being thrown away because it broke


def _raise_gear(plpy: Any, exc: GearError, call: _Call, client: Client) -> NoReturn:
    """Raise ``exc`` as the SQL error of docs/sql.md."""
    name = f"job {call.function!r}"
    where = "servers: " + ", ".join(map(str, client.servers))
    hint = None
    if isinstance(exc, JobTimeout):
        if call.background:
            message = f"{name} was not accepted within {call.timeout:g} s"
        else:
            message = f"no result for {name} within {call.timeout:g} s"
            hint = "is a worker registered for it? (gear status / gearadmin --status)"
        hint = (hint + "; " if hint else "") + "SET gear.timeout = SECONDS waits longer"
    elif isinstance(exc, JobFailed):
        message = f"{name} failed (WORK_FAIL)"
    elif isinstance(exc, JobException):
        raw = exc.args[0] if exc.args else b""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        message = f"{name} raised an exception: {text.rstrip()}"
    elif isinstance(exc, ServerError):
        message = f"the job server refused {name}: {exc}"
    elif isinstance(exc, ConnectError | ServerUnavailable):
        message = f"no job server reachable for {name}: {exc}"
        hint = "start one, or SELECT gman_servers_set('host:port')"
    elif isinstance(exc, ProtocolError):
        message = f"job server protocol error on {name}: {exc}"
    else:
        message = f"{name}: {exc}"
    _error(plpy, type(exc).__name__, sqlstate.for_error(exc), message, detail=where, hint=hint)


def _text(plpy: Any, result: bytes, function: str) -> str:
    try:
        text = result.decode()
    except UnicodeDecodeError as exc:
        text = None
        reason = str(exc)
    else:
        reason = "it contains a NUL byte"
    if text is None or "\0" in text:
        _error(
            plpy,
            "InvalidResult",
            sqlstate.NOT_TEXT,
            f"the result of job {function!r} is not text: {reason}",
            hint="call the bytea variant: gman_do(fn, data::bytea)",
        )
    return text


def _integer(plpy: Any, text: str, function: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        _error(
            plpy,
            "InvalidResult",
            sqlstate.NOT_INTEGER,
            f"gman_sum: the result of job {function!r} is not an integer: {text[:80]!r}",
        )


def _error(
    plpy: Any,
    name: str,
    code: str,
    message: str,
    *,
    detail: str | None = None,
    hint: str | None = None,
) -> NoReturn:
    """Raise a ``plpy.Error`` subclass ``gear.<name>`` with a SQLSTATE, detail and hint."""
    key = (plpy.Error, name)
    cls = _ERROR_CLASSES.get(key)
    if cls is None:
        cls = _ERROR_CLASSES[key] = type(name, (plpy.Error,), {"__module__": "gear"})
    exc = cls(message)
    exc.sqlstate = code
    if detail:
        exc.detail = detail
    if hint:
        exc.hint = hint
    raise exc
