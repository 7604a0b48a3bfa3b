"""TLS for clients, workers and admin connections: one place builds the context.

Strategy: every front door (``AsyncClient``, ``AsyncWorker``,
``AsyncAdminClient``, the CLI's ``--tls`` options, ``gear bench``) takes an
``ssl.SSLContext`` built by ``client_context``, which reads libgearman's
environment the way ``gearman -S`` does: ``GEARMAN_CA_CERTIFICATE`` (the CA
that signed the server), ``GEARMAN_CLIENT_PEM`` and ``GEARMAN_CLIENT_KEY``
(this side's certificate and key, for servers that ask for one).  Explicit
paths win over the environment.  The server's certificate is always
verified, against the CA given or else the system's trust store, and so is
its name unless ``check_hostname=False``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from typing import Final

#: libgearman's variables (``gearman -S``), read when no path is given
ENV_CA: Final = "GEARMAN_CA_CERTIFICATE"
ENV_CERT: Final = "GEARMAN_CLIENT_PEM"
ENV_KEY: Final = "GEARMAN_CLIENT_KEY"


class TlsConfigError(ValueError):
    """A certificate or key file that cannot be used; the message says which."""


def client_context(
    *,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    check_hostname: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ssl.SSLContext:
    """An SSLContext for connecting to a TLS job server.

    Args:
        ca: CA bundle (PEM) the server's certificate must chain to; default
            ``$GEARMAN_CA_CERTIFICATE``, else the system's trust store.
        cert: this side's certificate (PEM); default ``$GEARMAN_CLIENT_PEM``.
        key: its private key (PEM); default ``$GEARMAN_CLIENT_KEY``, else
            taken from ``cert``.
        check_hostname: also match the server's name against its certificate.
        environ: the environment to read (``os.environ`` by default).

    Raises:
        TlsConfigError: a file is missing or unreadable, or key and
            certificate do not match.
    """
    env = os.environ if environ is None else environ
    ca = ca or env.get(ENV_CA) or None
    cert = cert or env.get(ENV_CERT) or None
    key = key or env.get(ENV_KEY) or None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = check_hostname
    if key and not cert:
        raise TlsConfigError(f"TLS: a key ({key}) without a certificate")
    if ca:
        _load(ca, lambda: ctx.load_verify_locations(cafile=ca))
    if cert:
        _load(cert, lambda: ctx.load_cert_chain(cert, key))
    return ctx


def _load(path: str, action: Callable[[], None]) -> None:
    try:
        action()
    except ssl.SSLError as exc:
        raise TlsConfigError(f"TLS: cannot load {path}: {exc.reason or exc}") from None
    except OSError as exc:
        raise TlsConfigError(f"TLS: cannot load {path}: {exc.strerror or exc}") from None


def describe_error(exc: ssl.SSLError) -> str:
    """A one-line reason for a failed handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.verify_message or exc.reason}"
    return f"TLS: {exc.reason or exc}"
