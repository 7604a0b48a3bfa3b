"""``--store postgresql://...``: background jobs in a PostgreSQL table.

Strategy: one psycopg 3 ``AsyncConnection`` on the server's event loop,
fed by the group-commit core (``gear.server.stores.batching``): a batch is
one statement (deletes, attempt updates and inserts as data-modifying CTEs,
whole columns passed as arrays to ``unnest``), so whatever its size it
costs one round trip and one WAL flush.  Rows are keyed by job handle (``seq``, a
``bigserial``, keeps submission order).

When a batch fails the connection is dropped if it is broken (or the batch
timed out) and opened again for the next batch, so a database restart
costs the submits that arrived while it was down, nothing more.  The table
is ``gear_jobs``: give each server its own database (or schema, with
``?options=-csearch_path%3DNAME`` in the URL).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeGuard

from gear.server.store import StoredJob
from gear.server.stores.batching import BatchingStore, Changes, Op, StoreError, compact, stored_job

if TYPE_CHECKING:
    from psycopg import AsyncConnection

#: seconds to connect, and to write one batch, before the attempt counts as failed
CONNECT_TIMEOUT = 10
WRITE_TIMEOUT = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS gear_jobs (
    seq bigserial,
    handle bytea PRIMARY KEY,
    function bytea NOT NULL,
    unique_key bytea NOT NULL,
    priority smallint NOT NULL,
    data bytea NOT NULL,
    run_at double precision NOT NULL,
    attempts integer NOT NULL,
    reducer bytea NOT NULL,
    created double precision NOT NULL
)
"""
COLUMNS = "handle, function, unique_key, priority, data, run_at, attempts, reducer, created"
SELECT = f"SELECT {COLUMNS} FROM gear_jobs ORDER BY seq"
#: a whole batch in one statement (so one round trip, and atomic without
#: BEGIN/COMMIT); a batch touches each handle at most once, so the three
#: parts never meet the same row.  Parameters are sent in binary (%b): the
#: text form of bytea arrays costs the client several times more.
WRITE = (
    "WITH gone AS (DELETE FROM gear_jobs WHERE handle = ANY(%b::bytea[])),"
    " runs AS (UPDATE gear_jobs AS j SET attempts = v.attempts"
    " FROM unnest(%b::int[], %b::bytea[]) AS v(attempts, handle) WHERE j.handle = v.handle)"
    f" INSERT INTO gear_jobs ({COLUMNS}) SELECT * FROM unnest("
    "%b::bytea[], %b::bytea[], %b::bytea[], %b::smallint[], %b::bytea[],"
    " %b::float8[], %b::int[], %b::bytea[], %b::float8[])"
    " ON CONFLICT (handle) DO UPDATE SET function = excluded.function,"
    " unique_key = excluded.unique_key, priority = excluded.priority, data = excluded.data,"
    " run_at = excluded.run_at, attempts = excluded.attempts, reducer = excluded.reducer,"
    " created = excluded.created"
)


def _params(changes: Changes) -> list[Any]:
    """The parameters of ``WRITE``: deletes, updates (2 arrays), inserts (9 arrays)."""
    if changes.updates:
        attempts, handles = (list(c) for c in zip(*changes.updates, strict=True))
    else:
        attempts, handles = [], []
    inserts = [list(c) for c in zip(*changes.inserts, strict=True)] or [[] for _ in range(9)]
    return [changes.deletes, attempts, handles, *inserts]


def _idle(conn: AsyncConnection[Any]) -> bool:
    """True when the connection is between transactions (usable again)."""
    from psycopg.pq import TransactionStatus

    return conn.info.transaction_status == TransactionStatus.IDLE


def _redact(url: str) -> str:
    """The URL without its password, for the log."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{tail}"


class PostgresStore(BatchingStore):
    """Background jobs in a PostgreSQL database."""

    def __init__(self, url: str) -> None:
        super().__init__()
        #: the libpq connection URL
        self.url = url
        self._conn: AsyncConnection[Any] | None = None

    def __repr__(self) -> str:
        return f"postgresql store {_redact(self.url)}"

    async def _connection(self) -> AsyncConnection[Any]:
        conn = self._conn
        if self._usable(conn):
            return conn
        await self._drop()
        import psycopg

        extra: dict[str, Any] = {"application_name": "gear"}
        if "connect_timeout" not in self.url:
            extra["connect_timeout"] = CONNECT_TIMEOUT
        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **extra)
        await conn.execute(SCHEMA)
        self._conn = conn
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    # ----------------------------------------------------------- back-end --
    async def _connect(self) -> None:
        import psycopg

        try:
            await self._connection()
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the {self!r}: {exc}") from exc

    async def _read(self) -> list[StoredJob]:
        import psycopg

        try:
            conn = await self._connection()
            async with conn.cursor(binary=True) as cur:
                await cur.execute(SELECT)
                return [stored_job(row) for row in await cur.fetchall()]
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the {self!r}: {exc}") from exc

    async def _write(self, ops: list[Op]) -> None:
        changes = compact(ops)
        if not changes:
            return
        reused = self._usable(self._conn)
        try:
            await self._transaction(changes)
        except Exception as exc:
            import psycopg

            if not (reused and self._conn is None and isinstance(exc, psycopg.OperationalError)):
                raise
            # the connection we had was cut (a database restart, an idle
            # timeout): a batch is idempotent (upserts, updates, deletes by
            # handle), so write it again, once, on a new connection
            await self._transaction(changes)

    async def _transaction(self, changes: Changes) -> None:
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                conn = await self._connection()
                await conn.execute(WRITE, _params(changes))
        except BaseException:
            if not self._usable(self._conn) or not _idle(self._conn):
                await self._drop()
            raise

    @staticmethod
    def _usable(conn: AsyncConnection[Any] | None) -> TypeGuard[AsyncConnection[Any]]:
        return conn is not None and not conn.closed and not conn.broken

    async def _disconnect(self) -> None:
        await self._drop()
