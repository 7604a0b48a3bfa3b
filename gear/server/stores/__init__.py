"""Job stores by URL: ``memory`` (default), and durable back-ends.

Strategy: ``create_store(url)`` is the only place that knows which URL
scheme maps to which back-end; the broker and the server see the ``Store``
protocol of ``gear.server.store`` and nothing else.  Constructing a store
only checks the URL (``ServerConfig.validate`` builds one for that): files
and connections are opened by ``await store.open(flush)``.

=======================  ===================================================
``memory``               jobs in the broker only (as gearmand's default)
``sqlite:PATH``          embedded SQLite file (``sqlite:///abs/path`` too)
``postgresql://...``     a PostgreSQL database (libpq URL; needs psycopg)
=======================  ===================================================
"""

from __future__ import annotations

import importlib.util

from gear.server.store import MemoryStore, Store
from gear.server.stores.batching import StoreError

__all__ = ["StoreError", "StoreURLError", "create_store"]


class StoreURLError(ValueError):
    """A --store value that names no known back-end."""


KNOWN = "use memory, sqlite:PATH or postgresql://USER@HOST/DB"


def create_store(url: str) -> Store:
    """The store a ``--store`` URL names.

    Raises:
        StoreURLError: unknown scheme or malformed URL.
    """
    if url in ("", "memory", "memory:"):
        return MemoryStore()
    if url.startswith("sqlite:"):
        return _sqlite(url[len("sqlite:") :])
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres(url)
    raise StoreURLError(f"unknown store {url!r}: {KNOWN}")


def _sqlite(path: str) -> Store:
    if path.startswith("//"):
        path = path[2:]  # sqlite:///abs/path, as SQLAlchemy writes it
    if not path or path == ":memory:" or path.startswith("file:") or "\0" in path:
        raise StoreURLError(f"sqlite store needs a file path: sqlite:PATH (got {path!r})")
    from gear.server.stores.sqlite import SQLiteStore

    return SQLiteStore(path)


def _postgres(url: str) -> Store:
    if importlib.util.find_spec("psycopg") is None:
        raise StoreURLError("the postgresql store needs psycopg 3: pip install 'gearkit[postgres]'")
    from gear.server.stores.postgres import PostgresStore

    return PostgresStore(url)
