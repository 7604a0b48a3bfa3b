"""Overload and slow peers: connection limits, keepalive, unread replies.

Strategy: three guards, none on the per-packet path.

* ``--max-connections``: ``ConnectionGuard.admit`` is asked once per
  accepted socket; past the limit the socket gets a ``Refuser`` protocol,
  which closes it at once (the refusal is logged at most once a second).
* TCP keepalive on every accepted socket (``tune_socket``), with
  configurable timings, and ``TCP_USER_TIMEOUT`` set to the same total, so
  a peer that vanishes without a FIN (power cut, cable, NAT dropped the
  flow) is reaped whether or not replies are waiting for it.
* Replies a peer does not read: above the transport's high-water mark the
  connection's protocol stops reading that peer's requests
  (``pause_writing``); the shell lists paused connections, and
  ``drop_overflowing`` closes any whose unwritten output passed the hard
  limit (other peers' traffic — NOOPs, WORK_DATA — can still grow it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("gear.server.limits")


def tune_socket(sock: socket.socket | None, idle: int, interval: int, count: int) -> None:
    """Turn on TCP keepalive (``idle`` 0: leave it off) with these timings."""
    if sock is None or idle <= 0:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            total_ms = (idle + interval * count) * 1000
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, total_ms)


class _RateLimitedLog:
    """Log a message at most once a second, counting what was left out."""

    __slots__ = ("_last", "_skipped")

    def __init__(self) -> None:
        self._last = 0.0
        self._skipped = 0

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            self._skipped += 1
            return
        if self._skipped:
            msg += f" (and {self._skipped} more in the last second)"
        self._last = now
        self._skipped = 0
        log.warning(msg, *args)


class Refuser:
    """The protocol of a connection over ``--max-connections``: close at once."""

    __slots__ = ("_guard",)

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else str(peer or "-")
        self._guard.refused += 1
        self._guard.log.warning(
            "refused a connection from %s: --max-connections %d reached", host, self._guard.limit
        )
        transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class ConnectionGuard:
    """Counts connections against ``--max-connections`` (0 = no limit)."""

    def __init__(self, limit: int) -> None:
        #: most connections open at once, 0 for no limit
        self.limit = limit
        #: connections still in their TLS handshake (not yet sessions)
        self.handshaking = 0
        #: connections refused since start
        self.refused = 0
        self.log = _RateLimitedLog()

    def full(self, sessions: int) -> bool:
        """Whether one more connection would pass the limit."""
        return 0 < self.limit <= sessions + self.handshaking


def drop_overflowing(paused: Iterable[Any], hard_limit: int) -> None:
    """Close the paused connections whose unwritten replies passed ``hard_limit``.

    ``paused`` holds connection protocols with ``transport`` and ``session``
    attributes (the shell's ``GearProtocol``).
    """
    for conn in list(paused):
        transport = conn.transport
        if transport is None or transport.is_closing():
            continue
        size = transport.get_write_buffer_size()
        if size > hard_limit:
            peer = conn.session.peer if conn.session is not None else "-"
            log.warning(
                "dropping %s: %d bytes of replies unread (--output-hard-limit %d)",
                peer,
                size,
                hard_limit,
            )
            transport.abort()
