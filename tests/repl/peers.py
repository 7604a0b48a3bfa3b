"""gear serve and C gearmand as subprocesses on free loopback ports.

Both are started by tests/conftest.py: ``gearmand`` is ``running_c_gearmand``,
ready when gearmand's own stderr says "Listening on" (never after a sleep),
then drained by a thread so a chatty log cannot block the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import ServerProcess, free_port, running_c_gearmand, start_gear_process

__all__ = ["free_port", "gear_serve", "gearmand"]

#: C gearmand 1.1.x on 127.0.0.1 (skipped, or failed under GEAR_REQUIRE_PEERS=1)
gearmand = running_c_gearmand


@contextmanager
def gear_serve(*args: str) -> Iterator[ServerProcess]:
    """``gear serve`` as a subprocess on a free port, pipes closed afterwards."""
    server = start_gear_process(*args)
    try:
        yield server
    finally:
        server.stop()
