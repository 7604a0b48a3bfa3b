"""The job server's HTTP listeners: ``--metrics`` and ``--http`` on its own event loop.

Strategy: each listener is aiohttp's low-level server (``aiohttp.web.Server``:
HTTP/1.0 and 1.1, keep-alive, chunked bodies, no routing or middleware)
bound with ``loop.create_server`` in the loop that runs the Gearman
listeners, so a handler reads the broker's state directly and needs no
lock.  aiohttp (and prometheus-client) are imported only when one of the
options is given: a plain ``gear serve`` starts as fast as before.
``start_services`` is the one call the server makes; it returns the
listeners, which it closes at shutdown.  With ``--tls-cert`` the gateway
listener speaks HTTPS with the server's own TLS context (the ACL then
sees the client certificate); the metrics listener stays plain HTTP, for
scrapers and load balancers on a private address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gear.server.config import parse_address

if TYPE_CHECKING:
    from gear.server.server import Server

log = logging.getLogger("gear.server.http")

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
#: idle seconds before a kept-alive HTTP connection is closed
KEEPALIVE_SECONDS = 75.0
#: seconds a closing listener gives its requests to finish
SHUTDOWN_SECONDS = 1.0


class HttpService:
    """One HTTP listener: a name, a request handler, and the address it got."""

    def __init__(self, name: str, handler: Handler, *, cancel_on_disconnect: bool = False) -> None:
        #: ``metrics`` or ``http``, for the start-up line and the log
        self.name = name
        self._web = web.Server(
            handler,
            handler_cancellation=cancel_on_disconnect,
            access_log=None,  # one line per request would be per job: DEBUG lines instead
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        self._server: asyncio.Server | None = None
        #: the bound (host, port), known after ``start``
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        """Listen on ``host:port`` (port 0 picks a free one), over TLS with ``tls``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._web, host, port, reuse_address=True, ssl=tls)
        #: whether the listener speaks HTTPS
        self.tls = tls is not None
        sockets: Sequence[socket.socket] = getattr(self._server, "sockets")  # noqa: B009
        addr = sockets[0].getsockname()
        self.address = (addr[0], addr[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the listener."""
        host, port = self.address
        scheme = "https" if getattr(self, "tls", False) else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    async def close(self) -> None:
        """Stop listening and close the connections (requests get a moment to finish)."""
        if self._server is None:
            return
        self._server.close()
        await self._web.shutdown(SHUTDOWN_SECONDS)
        try:
            await asyncio.wait_for(self._server.wait_closed(), SHUTDOWN_SECONDS)
        except TimeoutError:
            log.warning("%s listener did not close in time", self.name)
        self._server = None


async def start_services(server: Server) -> list[Any]:
    """Start the listeners the server's config asks for (``--metrics``, ``--http``).

    Raises:
        OSError: an address cannot be bound (the ones already started are closed).
    """
    from gear.server.http_gateway import Gateway
    from gear.server.metrics import MetricsEndpoint

    config = server.config
    wanted: list[tuple[HttpService, str, ssl.SSLContext | None]] = []
    gateway = Gateway(server) if config.http else None
    if config.metrics:
        endpoint = MetricsEndpoint(server, gateway)
        wanted.append((HttpService("metrics", endpoint.handle), config.metrics, None))
    if gateway is not None and config.http:
        service = HttpService("http", gateway.handle, cancel_on_disconnect=True)
        wanted.append((service, config.http, server.tls))
    started: list[Any] = []
    try:
        for service, where, tls in wanted:
            await service.start(*parse_address(where), tls)
            started.append(service)
    except OSError:
        for service in started:
            await service.close()
        raise
    return started
