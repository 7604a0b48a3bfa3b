"""``--store sqlite:PATH``: background jobs in an embedded SQLite file.

Strategy: the standard library's sqlite3 in WAL mode with
``synchronous=FULL`` (each commit is on disk: one fsync of the log per
batch).  Every database call runs in one writer thread (a single-thread
executor), never on the event loop; the loop only queues operations (see
``gear.server.stores.batching``).

The writer thread and the event loop share the GIL, and sqlite3 gives the
GIL up around every statement step, so a statement per row would make the
writer wait for the loop once per row.  A batch is therefore written with
few statements: rows are inserted and deleted in multi-row statements of
fixed sizes (256, 64, 16, 4, 1 rows, so few distinct statements are
prepared and cached), and attempt counts are updated with one
``UPDATE ... FROM (VALUES ...)`` per chunk.

Rows are keyed by job handle (``seq`` keeps submission order), so jobs with
an empty unique never collide, unlike C gearmand's (unique, function) key.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from gear.server.store import StoredJob
from gear.server.stores.batching import (
    BatchingStore,
    Changes,
    Op,
    Row,
    StoreError,
    compact,
    stored_job,
)

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS gear_jobs (
    seq INTEGER PRIMARY KEY,
    handle BLOB NOT NULL UNIQUE,
    function BLOB NOT NULL,
    unique_key BLOB NOT NULL,
    priority INTEGER NOT NULL,
    data BLOB NOT NULL,
    run_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    reducer BLOB NOT NULL,
    created REAL NOT NULL
);
"""
COLUMNS = "handle, function, unique_key, priority, data, run_at, attempts, reducer, created"
SELECT = f"SELECT {COLUMNS} FROM gear_jobs ORDER BY seq"
#: rows per statement: a batch is cut greedily into chunks of these sizes
CHUNKS = (256, 64, 16, 4, 1)
#: how long a statement waits for another process's lock, in milliseconds
BUSY_TIMEOUT_MS = 5000


def chunks(items: Sequence[T]) -> list[Sequence[T]]:
    """``items`` cut into pieces whose lengths are in ``CHUNKS``, in order."""
    out: list[Sequence[T]] = []
    i = 0
    n = len(items)
    for size in CHUNKS:
        while n - i >= size:
            out.append(items[i : i + size])
            i += size
    return out


@functools.cache
def _insert_sql(n: int) -> str:
    values = ",".join(["(?,?,?,?,?,?,?,?,?)"] * n)
    return f"INSERT OR REPLACE INTO gear_jobs ({COLUMNS}) VALUES {values}"


@functools.cache
def _delete_sql(n: int) -> str:
    return f"DELETE FROM gear_jobs WHERE handle IN ({','.join(['?'] * n)})"


@functools.cache
def _update_sql(n: int) -> str:
    values = ",".join(["(?,?)"] * n)
    return (
        "UPDATE gear_jobs SET attempts = v.column1 "
        f"FROM (VALUES {values}) AS v WHERE gear_jobs.handle = v.column2"
    )


# sqlite3 binds int, float, str and bytearray directly but sends bytes through
# its adapter lookup first, which costs several times more per value: blobs
# are bound as bytearray copies (cheaper than the lookup, even for large data).
def _insert_params(rows: Sequence[Row]) -> list[Any]:
    out: list[Any] = []
    extend = out.extend
    ba = bytearray
    for handle, function, unique, priority, data, when, attempts, reducer, created in rows:
        extend((ba(handle), ba(function), ba(unique), priority, ba(data), when, attempts))
        extend((ba(reducer), created))
    return out


def _update_params(updates: Sequence[tuple[int, bytes]]) -> list[Any]:
    out: list[Any] = []
    for attempts, handle in updates:
        out.append(attempts)
        out.append(bytearray(handle))
    return out


def _handles(handles: Sequence[bytes]) -> list[bytearray]:
    return [bytearray(h) for h in handles]


class SQLiteStore(BatchingStore):
    """Background jobs in a SQLite database file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        #: the database file
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"sqlite store {self.path}"

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ----------------------------------------------------------- back-end --
    async def _connect(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gear-sqlite")
        try:
            await self._call(self._open_db)
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreError(f"cannot open the sqlite store {self.path}: {exc}") from exc

    async def _read(self) -> list[StoredJob]:
        try:
            return await self._call(self._read_db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the sqlite store {self.path}: {exc}") from exc

    async def _write(self, ops: list[Op]) -> None:
        await self._call(self._write_db, ops)

    async def _disconnect(self) -> None:
        if self._executor is None:
            return
        await self._call(self._close_db)
        self._executor.shutdown(wait=False)
        self._executor = None

    # ------------------------------------------- in the writer thread only --
    def _open_db(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise StoreError(f"no such directory: {directory}")
        db = sqlite3.connect(self.path, isolation_level=None, cached_statements=64)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot use WAL mode (got {mode})")
            db.execute("PRAGMA synchronous = FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"made by a newer gear (schema {version})")
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _read_db(self) -> list[StoredJob]:
        assert self._db is not None
        return [stored_job(row) for row in self._db.execute(SELECT)]

    def _write_db(self, ops: list[Op]) -> None:
        db = self._db
        assert db is not None
        changes = compact(ops)
        if not changes:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            self._apply(db, changes)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @staticmethod
    def _apply(db: sqlite3.Connection, changes: Changes) -> None:
        for part in chunks(changes.deletes):
            db.execute(_delete_sql(len(part)), _handles(part))
        for upd in chunks(changes.updates):
            db.execute(_update_sql(len(upd)), _update_params(upd))
        for ins in chunks(changes.inserts):
            db.execute(_insert_sql(len(ins)), _insert_params(ins))

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
