"""``gear sql install | uninstall | status`` as functions, over psycopg.

Strategy: each operation is one transaction on one connection.  Install
creates the ``plpython3u`` extension, the schema, its tables and every
function of ``gear.sql.schema`` (CREATE OR REPLACE, so installing again
upgrades the functions and keeps the settings and the outbox), records the
gear version and the Python path in ``settings``, and then calls
``_gear_probe()``: if the database server's Python cannot import gear from
there, the whole install rolls back and says why.  Uninstall drops exactly
the objects the table names (refusing while the outbox still holds jobs,
unless forced) and the schema only when nothing else is left in it.
Every database error becomes one ``SQLAdminError`` line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gear
from gear.errors import GearError

from . import schema as sql
from .plpython import DEFAULT_TIMEOUT, normalize_servers, parse_seconds

if TYPE_CHECKING:
    import psycopg

#: seconds to wait for the database connection
CONNECT_TIMEOUT = 10


class SQLAdminError(GearError):
    """An install, uninstall or status request failed (one line, for the CLI)."""


@dataclass
class Status:
    """What a schema holds."""

    schema: str
    installed: bool = False
    #: the gear version that installed the functions
    version: str | None = None
    #: the directory the functions put on sys.path ('' for none)
    pythonpath: str | None = None
    installed_at: str | None = None
    #: functions present, as ``name(types)``
    functions: list[str] = field(default_factory=list)
    #: functions of this gear version that are missing
    missing: list[str] = field(default_factory=list)
    #: function ('' for every function) -> its servers
    servers: dict[str, str] = field(default_factory=dict)
    #: the stored default timeout (None: gear's default)
    timeout: float | None = None
    #: jobs queued by gman_do_background_on_commit and not yet sent
    outbox: int = 0
    #: what the database server's Python imports (gear, file, python)
    backend: dict[str, str] = field(default_factory=dict)
    #: why it cannot import gear
    backend_error: str | None = None

    @property
    def effective_timeout(self) -> float:
        return DEFAULT_TIMEOUT if self.timeout is None else self.timeout


@dataclass
class Uninstalled:
    """What uninstall removed."""

    functions: int
    #: jobs of the outbox dropped with it (with force)
    dropped_jobs: int
    #: the schema went too (False: it still holds objects that are not gear's)
    schema_dropped: bool


def default_pythonpath() -> str:
    """The directory this gear is imported from (what ``--pythonpath`` defaults to)."""
    return str(Path(gear.__file__).resolve().parent.parent)


def check_schema(name: str) -> str:
    """``name`` if gear accepts it as a schema name.

    Raises:
        SQLAdminError: not a lower-case identifier of at most 56 characters.
    """
    if not sql.SCHEMA_NAME.fullmatch(name):
        raise SQLAdminError(
            f"bad schema name {name!r}: use lower-case letters, digits and _ (at most 56)"
        )
    return name


def install(
    url: str,
    schema: str = "gear",
    *,
    pythonpath: str | None = None,
    servers: str | None = None,
    timeout: float | None = None,
) -> Status:
    """Create (or upgrade) the functions in ``schema``; return its status.

    Args:
        url: a libpq connection string or URL ('' for the PG* environment).
        schema: where the functions go.
        pythonpath: the directory holding the ``gear`` package, as the
            database server sees it; None for ``default_pythonpath()``, ''
            for none (gear installed in the server's own Python).
        servers: the default job servers to record (``host:port,...``).
        timeout: the default timeout to record, in seconds.

    Raises:
        SQLAdminError: a bad argument, a database error, or the database
            server's Python cannot import gear from ``pythonpath``.
    """
    check_schema(schema)
    path = default_pythonpath() if pythonpath is None else pythonpath
    if sql.TAG in path:
        raise SQLAdminError(f"the Python path may not contain {sql.TAG}")
    normalized = _servers_arg(servers)
    if timeout is not None and parse_seconds(repr(timeout)) is None:
        raise SQLAdminError(f"the timeout must be a positive number of seconds, not {timeout}")
    with _connect(url) as conn, _errors("install"), conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(sql.TABLES.format(s=schema))
        for function in sql.functions(schema, path):
            conn.execute(function.create(schema))
        settings = {sql.VERSION: gear.__version__, sql.PYTHONPATH: path}
        if timeout is not None:
            settings[sql.TIMEOUT] = repr(float(timeout))
        for name, value in settings.items():
            _upsert(conn, f"{schema}.settings", "name", "value", name, value)
        conn.execute(
            f"INSERT INTO {schema}.settings VALUES (%s, date_trunc('second', now())::text) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (sql.INSTALLED_AT,),
        )
        if normalized is not None:
            _upsert(conn, f"{schema}.servers", "function", "servers", "", normalized)
        _probe_or_fail(conn, schema, path)
        return _status(conn, schema)


def uninstall(url: str, schema: str = "gear", *, force: bool = False) -> Uninstalled:
    """Drop the functions and tables of ``schema`` (and the schema, if then empty).

    Raises:
        SQLAdminError: not installed there, jobs still in the outbox (without
            ``force``), or a database error (a view or SQL function that
            depends on a gman function, say).
    """
    check_schema(schema)
    with _connect(url) as conn, _errors("uninstall"), conn.transaction():
        if not _installed(conn, schema):
            raise SQLAdminError(f"gear's SQL functions are not installed in schema {schema}")
        waiting = _count(conn, f"SELECT count(*) FROM {schema}.outbox")
        if waiting and not force:
            raise SQLAdminError(
                f"{waiting} job(s) wait in {schema}.outbox for gear sql relay; "
                "run it first, or uninstall --force to drop them"
            )
        present = set(_functions(conn, schema))
        dropped = 0
        for function in reversed(sql.functions(schema)):
            dropped += function.signature in present
            conn.execute(function.drop(schema))
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(f'{schema}.{t}' for t in sql.TABLE_NAMES)}")
        return Uninstalled(dropped, waiting, _drop_schema_if_empty(conn, schema))


def status(url: str, schema: str = "gear") -> Status:
    """What ``schema`` holds and what the database server's Python imports.

    Raises:
        SQLAdminError: a database error.
    """
    check_schema(schema)
    with _connect(url) as conn, _errors("status"), conn.transaction():
        return _status(conn, schema)


# -------------------------------------------------------------------- helpers --
@contextmanager
def _connect(url: str) -> Iterator[psycopg.Connection[Any]]:
    try:
        import psycopg
    except ImportError:
        raise SQLAdminError("gear sql needs psycopg 3: pip install 'gearkit[postgres]'") from None
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, application_name="gear sql")
    except psycopg.Error as exc:
        raise SQLAdminError(f"cannot connect to the database: {_one_line(exc)}") from None
    with conn:
        yield conn


@contextmanager
def _errors(action: str) -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise SQLAdminError(f"{action} failed: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    text = primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = getattr(diag, "message_hint", None)
    return f"{text} ({hint})" if hint else text


def _servers_arg(servers: str | None) -> str | None:
    if servers is None:
        return None
    normalized = normalize_servers(servers)
    if normalized is None:
        raise SQLAdminError(f"bad server list {servers!r}: give host[:port],host[:port]...")
    return normalized


def _upsert(
    conn: psycopg.Connection[Any], table: str, key: str, column: str, name: str, value: str
) -> None:
    conn.execute(
        f"INSERT INTO {table} ({key}, {column}) VALUES (%s, %s) "
        f"ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column}",
        (name, value),
    )


def _probe_or_fail(conn: psycopg.Connection[Any], schema: str, path: str) -> None:
    error = _probe(conn, schema)[1]
    if error is not None:
        where = f"from {path}" if path else "(no --pythonpath given)"
        raise SQLAdminError(
            f"the database server's Python cannot import gear {where}: {error}; "
            "give --pythonpath a directory it can read that holds the gear package, "
            "or install gearkit into that Python and pass --pythonpath ''"
        )


def _probe(conn: psycopg.Connection[Any], schema: str) -> tuple[dict[str, str], str | None]:
    """What ``_gear_probe()`` says the server's Python imports, or why it cannot."""
    import psycopg

    try:
        with conn.transaction():
            row = conn.execute(f"SELECT {schema}._gear_probe()").fetchone()
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or _one_line(exc)
        return {}, reason.removeprefix("plpy.Error: ")
    assert row is not None
    found: dict[str, str] = json.loads(row[0])
    return found, None


def _installed(conn: psycopg.Connection[Any], schema: str) -> bool:
    return bool(
        _count(
            conn,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'settings'",
            (schema,),
        )
    )


def _count(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def _functions(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """The functions in ``schema`` as ``name(type,type)``."""
    rows = conn.execute(
        "SELECT p.proname, p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s ORDER BY 1, 2",
        (schema,),
    ).fetchall()
    return [name + sig[sig.index("(") :] for name, sig in rows]


def _drop_schema_if_empty(conn: psycopg.Connection[Any], schema: str) -> bool:
    import psycopg

    try:
        with conn.transaction():
            conn.execute(f"DROP SCHEMA {schema}")
    except psycopg.errors.DependentObjectsStillExist:
        return False
    return True


def _status(conn: psycopg.Connection[Any], schema: str) -> Status:
    found = Status(schema)
    if not _installed(conn, schema):
        return found
    found.installed = True
    settings = dict(conn.execute(f"SELECT name, value FROM {schema}.settings").fetchall())
    found.version = settings.get(sql.VERSION)
    found.pythonpath = settings.get(sql.PYTHONPATH)
    found.installed_at = settings.get(sql.INSTALLED_AT)
    timeout = settings.get(sql.TIMEOUT)
    found.timeout = parse_seconds(timeout) if timeout is not None else None
    found.functions = _functions(conn, schema)
    expected = [f.signature for f in sql.functions(schema)]
    found.missing = [f for f in expected if f not in found.functions]
    found.servers = dict(
        conn.execute(f"SELECT function, servers FROM {schema}.servers ORDER BY 1").fetchall()
    )
    found.outbox = _count(conn, f"SELECT count(*) FROM {schema}.outbox")
    found.backend, found.backend_error = _probe(conn, schema)
    return found
