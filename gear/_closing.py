"""``with`` support for gear's blocking objects: one base instead of a copy in each.

Strategy: ``Closing`` is the context-manager protocol once: ``with x:``
runs ``x._open()`` (nothing by default) and ends with ``x.close()``.
``Blocking`` adds what the blocking facades over async objects share: a
private ``asyncio.Runner`` that runs their coroutines (``_run``), and a
``close`` that awaits the async object's ``_aclose`` on it, then closes
the loop.  Used by ``gear.client.sync`` and ``gear.client.admin`` (the
facades) and ``gear.bench.spawn`` (a server process).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")


class Closing:
    """A resource for a ``with`` block: ``_open`` on entry, ``close`` on exit."""

    def _open(self) -> None:
        """Run on entering a ``with`` block; nothing by default."""

    def close(self) -> None:
        """Release the resource."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Blocking(Closing):
    """A blocking facade: a private event loop runs the async object's coroutines.

    It must not be used from inside a running event loop.
    """

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    async def _aclose(self) -> None:
        """Close the async object (run by ``close``)."""

    def close(self) -> None:
        """Close the async object, then the private event loop."""
        self._run(self._aclose())
        self._runner.close()
