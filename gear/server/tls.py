"""TLS on the whole listening port, as C gearmand's ``--ssl``.

Strategy: the listening socket stays plain TCP and every accepted socket is
upgraded with ``loop.start_tls`` (asyncio and uvloop both run the handshake
inside the event loop, so a slow or hostile handshake never blocks other
connections).  ``TlsAcceptor`` is the protocol of a socket that is still
shaking hands: it holds the connection's real protocol and gives it the
TLS transport once the handshake is done.  Doing the upgrade ourselves,
rather than passing ``ssl=`` to ``create_server``, is what lets a failed
handshake be one log line with the peer's address: asyncio and uvloop drop
it silently (or with a traceback in debug mode).

uvloop starts reading a new socket right after ``connection_made`` (a
``pause_reading`` there is undone), so the client's first bytes may reach
the acceptor before ``start_tls`` takes the socket over.  They are kept and
handed to the TLS layer once its own ``connection_made`` has run (two
``call_soon`` hops: ``start_tls`` schedules that with one), before anything
read later; the client sends nothing more until the server answers.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, Final

from gear.server.config import ConfigError, ServerConfig

log = logging.getLogger("gear.server.tls")

#: the protocol an accepted connection gets once its handshake is done
AppProtocol = Any


def server_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The server's SSLContext, or None when TLS is off.

    Raises:
        ConfigError: a file cannot be read, or the key does not match the
            certificate.
    """
    if not config.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(config.tls_cert, config.tls_key or None)
        if config.tls_ca:
            ctx.load_verify_locations(cafile=config.tls_ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS: cannot load the certificate files: {_reason(exc)}") from None
    if config.tls_ca:
        # ask for a certificate (the ACL can match its subject); demand one if told
        ctx.verify_mode = ssl.CERT_REQUIRED if config.tls_require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def peer_subject(transport: Any) -> tuple[str, str]:
    """The verified client certificate's (CN, full DN), or ("", "") without one.

    The DN is written RFC 4514 style, most specific first
    (``CN=worker1,O=Example``), the form ``openssl x509 -subject
    -nameopt RFC2253`` prints.
    """
    cert = transport.get_extra_info("peercert")
    if not cert:
        return "", ""
    rdns = cert.get("subject", ())
    cn = ""
    parts = []
    for rdn in reversed(rdns):
        for key, value in rdn:
            name = _DN_KEYS.get(key, key)
            parts.append(f"{name}={value}")
            if key == "commonName" and not cn:
                cn = value
    return cn, ",".join(parts)


_DN_KEYS: Final = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "emailAddress": "emailAddress",
    "domainComponent": "DC",
}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class TlsAcceptor:
    """An accepted socket during its TLS handshake (asyncio's Protocol interface)."""

    __slots__ = ("_app", "_ctx", "_done", "_early", "_timeout", "_transport")

    def __init__(
        self,
        app: AppProtocol,
        ctx: ssl.SSLContext,
        timeout: float,
        done: Callable[[TlsAcceptor], None],
    ) -> None:
        #: the connection's protocol, handed the TLS transport when ready
        self._app = app
        self._ctx = ctx
        self._timeout = timeout
        #: called once the handshake has ended, either way
        self._done = done
        self._transport: asyncio.Transport | None = None
        #: bytes read before the TLS layer took over (uvloop)
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw: asyncio.Transport = transport  # type: ignore[assignment]
        self._transport = raw
        raw.pause_reading()  # nothing may be read before start_tls takes over
        asyncio.get_running_loop().create_task(self._handshake(raw))

    async def _handshake(self, raw: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        peer = _peer(raw)
        loop.call_soon(loop.call_soon, self._hand_over_early, raw)
        try:
            tls = await loop.start_tls(
                raw, self._app, self._ctx, server_side=True, ssl_handshake_timeout=self._timeout
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError) as exc:
            log.warning("TLS handshake with %s failed: %s", peer, _reason(exc))
            raw.abort()
            self._done(self)
            return
        self._done(self)
        if tls is None or tls.is_closing():
            return
        self._app.connection_made(tls)

    def _hand_over_early(self, raw: asyncio.Transport) -> None:
        """Feed the bytes read before ``start_tls`` to the TLS layer, in order."""
        early, self._early = b"".join(self._early), []
        tls_layer = raw.get_protocol()
        while early and not raw.is_closing():
            buf = tls_layer.get_buffer(len(early))  # type: ignore[attr-defined]
            n = min(len(buf), len(early))
            buf[:n] = early[:n]
            tls_layer.buffer_updated(n)  # type: ignore[attr-defined]
            early = early[n:]

    def data_received(self, data: bytes) -> None:
        """Bytes read before ``start_tls`` took the socket (uvloop): keep them."""
        self._early.append(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket closed before the handshake started; ``_handshake`` reports it."""


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(peer or "-")
