"""``gear serve --http``: gearmand's HTTP protocol module (``-r http``), and more.

``POST /FUNCTION`` (or PUT, or GET with no body) runs a job: the path is the
function, the body the workload.  Headers, as gearmand reads them:
``X-Gearman-Unique`` (default ``-``: identical bodies coalesce, as in
gearmand), ``X-Gearman-Background: true``, ``X-Gearman-Priority: high|low``.
The reply carries ``X-Gearman-Job-Handle`` and ``X-Gearman-Command``
(``WORK_COMPLETE``, ``JOB_CREATED`` …) and, for a foreground job, the
WORK_DATA and WORK_COMPLETE data as its body.  Beyond gearmand: HTTP/1.1
keep-alive; ``GET /jobs/HANDLE`` answers the job's status as JSON;
``X-Gearman-Timeout: SECONDS`` bounds the wait (504); a foreground job for
a function no worker has registered gets 404 at once instead of waiting;
WORK_FAIL and WORK_EXCEPTION give 500 (the exception's text, or the data
sent before the failure, as the body) and a refused submit 503 or 400 with
the server's reason; a body larger than ``--max-packet-size`` allows gets
413 before it is read.  With ``--tls-cert`` the listener speaks HTTPS with
the server's TLS context, and under ``--acl`` a submit needs the peer's
``submit`` grant (by address, or by client certificate over HTTPS), else 403.

Strategy: each request is one broker session, an in-process connection.
The broker only ever talks to sessions in packets: it appends reply bytes to
``session.out`` and the server's ``flush`` hands them to ``session.io``.
Here ``session.io`` is a ``GatewayIO`` that decodes those bytes with the
protocol's own decoder and resolves a future on the job's last packet.  So
the gateway submits straight into the broker (no TCP hop, no client
library), and every rule of the protocol (coalescing, priorities,
durable-store acknowledgements, retries, timeouts, WORK_EXCEPTION for
sessions that opted in, queue limits, the ``workers`` listing) applies to
HTTP jobs without a line of its own.  When the HTTP client goes away (aiohttp
cancels the handler) or the wait times out, the session disconnects, as a
TCP client would, and a queued job nobody waits for is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gear._version import __version__
from gear.protocol.constants import RES, Priority
from gear.protocol.constants import PacketType as P
from gear.protocol.framing import NEED_DATA, Decoder
from gear.protocol.packets import Packet
from gear.server.acl import Grants, Identity
from gear.server.state import Session
from gear.server.tls import peer_subject

if TYPE_CHECKING:
    from gear.server.server import Server

log = logging.getLogger("gear.server.http")

SERVER_HEADER = f"gear/{__version__}"
PRIORITY_HEADER = {"high": Priority.HIGH, "normal": Priority.NORMAL, "low": Priority.LOW}
BOOLEAN_HEADER = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
#: HTTP status of the broker's ERROR codes for a submit (others: 500)
ERROR_STATUS = {"QUEUE_ERROR": 503, "INVALID_ARGUMENT": 400, "ARGUMENT_TOO_LARGE": 400}
_FINAL = (P.WORK_COMPLETE, P.WORK_FAIL, P.WORK_EXCEPTION, P.ERROR)
_PRIORITY_NAMES = {int(v): k for k, v in PRIORITY_HEADER.items()}


class RequestError(Exception):
    """A request the gateway refuses, with its HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.reason + "\n", headers=_headers())


def _headers(**extra: str) -> dict[str, str]:
    return {"Server": SERVER_HEADER, **extra}


class GatewayIO:
    """A gateway session's transport: the broker's reply bytes, decoded into one result."""

    def __init__(self, background: bool, max_size: int) -> None:
        self.background = background
        self.decoder = Decoder(expect=RES, max_packet_size=max_size, allow_text=False)
        #: the job handle, once JOB_CREATED came
        self.handle = b""
        #: WORK_DATA payloads, in order
        self.data: list[bytes] = []
        #: resolved with the packet that ends the request
        self.done: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()

    def write(self, data: bytes) -> None:
        """Bytes the broker sent this session (called by the server's ``flush``)."""
        self.decoder.feed(data)
        while True:
            packet = self.decoder.next_event()
            if packet is NEED_DATA:
                return
            assert isinstance(packet, Packet)
            self._packet(packet)

    def _packet(self, packet: Packet) -> None:
        ptype = packet.type
        if ptype == P.JOB_CREATED:
            self.handle = packet.args[0]
            if not self.background:
                return
        elif ptype == P.WORK_DATA:
            self.data.append(packet.args[1])
            return
        elif ptype not in _FINAL:
            return  # WORK_STATUS, WORK_WARNING: nothing to keep
        if not self.done.done():
            self.done.set_result(packet)

    def close(self) -> None:
        """Nothing to close: the HTTP connection belongs to aiohttp."""


class Gateway:
    """Answers the ``--http`` listener's requests from inside the server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.broker = server.broker
        self.max_packet_size = server.config.max_packet_size
        #: ids of the broker sessions of requests in progress (the metrics' ``http`` role)
        self.session_ids: set[int] = set()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request."""
        try:
            response = await self._route(request)
        except RequestError as exc:
            response = exc.response()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("http %s %s -> %d", request.method, request.path, response.status)
        return response

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        method = request.method
        if method == "GET" and request.path.startswith("/jobs/"):
            return self._status(request.path[len("/jobs/") :])
        if method == "HEAD":
            return self._head(request.path.lstrip("/"))
        if method not in ("POST", "PUT", "GET"):
            raise RequestError(405, f"{method} is not supported: POST /FUNCTION runs a job")
        return await self._submit(request)

    def _head(self, name: str) -> web.Response:
        """``HEAD /`` answers 200 (gearmand's echo); ``HEAD /F`` whether F has a worker."""
        if name and not self._has_worker(name.encode("utf-8", "surrogateescape")):
            return web.Response(status=404, headers=_headers())
        return web.Response(headers=_headers())

    def _has_worker(self, name: bytes) -> bool:
        f = self.broker.functions.get(name)
        return f is not None and bool(f.workers)

    def _status(self, handle: str) -> web.Response:
        """``GET /jobs/HANDLE``: GET_STATUS as JSON."""
        job = self.broker.jobs.get(handle.encode("utf-8", "surrogateescape"))
        body: dict[str, Any] = {"handle": handle, "known": job is not None}
        if job is not None:
            body.update(
                running=job.worker is not None,
                numerator=job.numerator,
                denominator=job.denominator,
                function=job.function.name.decode("utf-8", "replace"),
                priority=_PRIORITY_NAMES[job.priority],
                background=job.background,
                waiting_clients=len(job.clients),
                attempts=job.attempts,
            )
        return web.json_response(body, status=200 if job else 404, headers=_headers())

    async def _submit(self, request: web.BaseRequest) -> web.Response:
        name = request.path.lstrip("/").encode("utf-8", "surrogateescape")
        if not name:
            raise RequestError(404, "no function: POST /FUNCTION runs a job of FUNCTION")
        headers = request.headers
        unique = headers.get("X-Gearman-Unique", "-").encode("utf-8", "surrogateescape")
        background = _choice(headers, "X-Gearman-Background", BOOLEAN_HEADER, False)
        priority = int(_choice(headers, "X-Gearman-Priority", PRIORITY_HEADER, Priority.NORMAL))
        timeout = _timeout(headers.get("X-Gearman-Timeout"))
        grants = self._grants(request)
        if grants is not None and not grants.may_submit(name):
            what = name.decode(errors="replace")
            raise RequestError(403, f"PERMISSION_DENIED may not submit to {what}")
        data = await self._body(request, self.max_packet_size - len(name) - len(unique) - 2)
        if not background and not self._has_worker(name):
            raise RequestError(404, f"no worker has registered {name.decode(errors='replace')}")
        io = GatewayIO(background, self.max_packet_size + 1024)
        session = self._connect(request, io)
        try:
            self.broker.submit(session, name, unique, data, priority, background)
            self.server.flush()
            packet = await asyncio.wait_for(io.done, timeout)
        except TimeoutError:
            raise RequestError(504, f"no result within {timeout:g} s") from None
        finally:
            self._disconnect(session)
        return _result(io, packet)

    async def _body(self, request: web.BaseRequest, limit: int) -> bytes:
        """The request body; 413 when it would not fit in one packet."""
        too_large = RequestError(413, f"the body is over {max(limit, 0)} bytes (--max-packet-size)")
        length = request.content_length
        if length is not None and length > limit:
            raise too_large
        chunks = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _grants(self, request: web.BaseRequest) -> Grants | None:
        """What the peer may do under ``--acl``, as for a Gearman connection from it."""
        transport = request.transport
        cn, dn = peer_subject(transport) if transport and self.server.tls else ("", "")
        return self.server.access.grants_for(Identity(request.remote or "-", cn, dn))

    def _connect(self, request: web.BaseRequest, io: GatewayIO) -> Session:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        session = self.broker.connect(request.remote or "-", sock.fileno() if sock else -1)
        session.io = io
        session.exceptions = self.broker.config.exceptions
        self.session_ids.add(session.id)
        return session

    def _disconnect(self, session: Session) -> None:
        """The request is answered or abandoned: the session goes, as a closed connection."""
        self.session_ids.discard(session.id)
        session.io = None
        self.broker.disconnect(session)
        self.server.flush()


def _choice(headers: Any, name: str, table: dict[str, Any], default: Any) -> Any:
    raw = headers.get(name)
    if raw is None:
        return default
    value = table.get(raw.strip().lower())
    if value is None:
        raise RequestError(400, f"{name} takes one of {', '.join(table)}, not {raw!r}")
    return value


def _timeout(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e9:
        raise RequestError(400, f"X-Gearman-Timeout takes seconds > 0, not {raw!r}")
    return seconds


def _result(io: GatewayIO, packet: Packet) -> web.Response:
    """The HTTP reply for the packet that ended the request."""
    ptype = packet.type
    command = P(ptype).name
    if ptype == P.ERROR:
        code = packet.args[0].decode(errors="replace")
        text = packet.args[1].decode(errors="replace")
        headers = _headers(**{"X-Gearman-Command": command, "X-Gearman-Error": code})
        return web.Response(status=ERROR_STATUS.get(code, 500), text=text + "\n", headers=headers)
    headers = _headers(
        **{"X-Gearman-Job-Handle": io.handle.decode(errors="replace"), "X-Gearman-Command": command}
    )
    if ptype == P.JOB_CREATED:
        return web.Response(headers=headers)
    if ptype == P.WORK_COMPLETE:
        return web.Response(body=b"".join([*io.data, packet.args[1]]), headers=headers)
    if ptype == P.WORK_EXCEPTION:
        return web.Response(status=500, body=packet.args[1], headers=headers)
    return web.Response(status=500, body=b"".join(io.data), headers=headers)  # WORK_FAIL
