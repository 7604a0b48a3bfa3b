"""Fixtures of the store tests: one URL per back-end, and a way to break each.

``backend`` is parametrized over every durable back-end, so each test body
in this folder runs against SQLite (a file in ``tmp_path``) and PostgreSQL
(a fresh schema in a throw-away cluster that ``pg_cluster``, in
tests/conftest.py, starts once per session).  ``Backend.outage`` makes the
store fail the way that back-end fails in production (SQLite: the disk is
full; PostgreSQL: the database refuses connections and the store's
connection is cut) until ``repair``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gear.server.store import Store
from tests.conftest import TEST_DB, Postgres

__all__ = ["TEST_DB", "Backend", "Postgres"]

BACKENDS = ["sqlite", "postgres"]


@dataclass
class Backend:
    """One durable back-end under test."""

    name: str
    url: str
    pg: Postgres | None = None
    #: the sqlite file (None for PostgreSQL)
    path: Path | None = None
    broken: list[Store] = field(default_factory=list)

    async def outage(self, store: Store) -> None:
        """Make ``store`` fail from its next batch on."""
        if self.pg is not None:
            self.pg.sql(f"ALTER DATABASE {TEST_DB} ALLOW_CONNECTIONS false")
            self.pg.sql(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                f"WHERE datname = '{TEST_DB}' AND application_name = 'gear'"
            )
        else:
            await _sqlite_page_limit(store, None)
        self.broken.append(store)

    async def repair(self, store: Store) -> None:
        """End the outage."""
        if self.pg is not None:
            self.pg.sql(f"ALTER DATABASE {TEST_DB} ALLOW_CONNECTIONS true")
        else:
            await _sqlite_page_limit(store, 1 << 30)
        self.broken.remove(store)


async def _sqlite_page_limit(store: Store, pages: int | None) -> None:
    """SQLITE_FULL ("database or disk is full") once the file needs a new page."""
    from gear.server.stores.sqlite import SQLiteStore

    assert isinstance(store, SQLiteStore)
    if store._executor is None:
        return  # closed: the limit went with its connection

    def limit() -> None:
        db = store._db
        assert db is not None
        n = pages if pages is not None else db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {n}")

    await store._call(limit)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each durable back-end in turn, with a fresh, empty store URL."""
    if request.param == "sqlite":
        path = tmp_path / "jobs.db"
        yield Backend("sqlite", f"sqlite:{path}", path=path)
        return
    pg: Postgres = request.getfixturevalue("pg_cluster")
    b = Backend("postgres", pg.new_schema(), pg=pg)
    try:
        yield b
    finally:
        if b.broken:
            pg.sql(f"ALTER DATABASE {TEST_DB} ALLOW_CONNECTIONS true")
