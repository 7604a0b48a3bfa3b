"""Job stores by URL: ``memory`` (default), and durable back-ends.

Strategy: ``create_store(url)`` is the only place that knows which URL
scheme maps to which back-end; the broker and the server see the ``Store``
protocol of ``gear.server.store`` and nothing else.
"""

from __future__ import annotations

from gear.server.store import MemoryStore, Store


class StoreURLError(ValueError):
    """A --store value that names no known back-end."""


def create_store(url: str) -> Store:
    """The store a ``--store`` URL names.

    Raises:
        StoreURLError: unknown scheme or malformed URL.
    """
    if url in ("", "memory", "memory:"):
        return MemoryStore()
    raise StoreURLError(f"unknown store {url!r}: use 'memory'")
