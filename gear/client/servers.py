"""Server lists: ``host[:port]`` strings, comma lists, and the environment.

Strategy: every front door (library constructors, ``--server`` options)
funnels through ``resolve_servers``, so a server list means the same thing
everywhere.  Precedence: explicit arguments, then ``GEAR_SERVERS``, then
libgearman's ``GEARMAN_SERVER`` (``h1:p1,h2:p2``), then ``localhost:4730``.
IPv6 literals are written ``[::1]:4730`` (a bare ``::1`` is taken as a host
without a port).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: the IANA port of Gearman
DEFAULT_PORT = 4730
#: environment variables consulted, in order, when no server is given
SERVER_ENV_VARS = ("GEAR_SERVERS", "GEARMAN_SERVER")


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One job server's address."""

    #: host name or IP literal (IPv6 without brackets)
    host: str
    #: TCP port
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(
        cls, text: str, default_port: int = DEFAULT_PORT, default_host: str | None = None
    ) -> ServerAddress:
        """Parse ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or ``:port``.

        The one parser of server addresses: the client, ``AdminClient`` and
        ``gear bench`` all read them here.  An empty host is
        ``default_host``, or an error when there is none.

        Raises:
            ValueError: an empty host (without ``default_host``) or a bad
                port (not a number from 1 to 65535).
        """
        text = text.strip()
        host, port_text = _split_host_port(text)
        if not host:
            if default_host is None:
                raise ValueError(f"server {text!r} has no host")
            host = default_host
        if port_text is None or port_text == "":
            return cls(host, default_port)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"server {text!r}: port must be a number from 1 to 65535")
        return cls(host, int(port_text))


ServerSpec = str | ServerAddress | tuple[str, int]


def _split_host_port(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"server {text!r}: missing ']' after an IPv6 address")
        rest = text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"server {text!r}: expected ':port' after ']'")
        return text[1:end], rest[1:] if rest else None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def parse_servers(
    specs: ServerSpec | Iterable[ServerSpec], default_port: int = DEFAULT_PORT
) -> list[ServerAddress]:
    """Turn server specs into addresses; strings may be comma lists.

    Duplicates are dropped, first occurrence kept.

    Raises:
        ValueError: a spec that cannot be parsed.
    """
    if isinstance(specs, (str, ServerAddress, tuple)):
        specs = [specs]
    found: list[ServerAddress] = []
    for spec in specs:
        if isinstance(spec, ServerAddress):
            addresses = [spec]
        elif isinstance(spec, tuple):
            addresses = [ServerAddress(spec[0], int(spec[1]))]
        else:
            addresses = [ServerAddress.parse(p, default_port) for p in spec.split(",") if p.strip()]
        found.extend(a for a in addresses if a not in found)
    return found


def resolve_servers(
    specs: ServerSpec | Iterable[ServerSpec] | None = None,
    *,
    default_port: int = DEFAULT_PORT,
    environ: Mapping[str, str] | None = None,
) -> list[ServerAddress]:
    """The servers to use: ``specs`` if given, else the environment, else localhost.

    Args:
        specs: addresses or ``host[:port]`` strings (comma lists allowed);
            ``None`` or an empty list means "not given".
        default_port: the port of a spec without one.
        environ: the environment to read (``os.environ`` by default).

    Raises:
        ValueError: a spec (or environment value) that cannot be parsed.
    """
    if specs is not None:
        found = parse_servers(specs, default_port)
        if found:
            return found
    env = os.environ if environ is None else environ
    for name in SERVER_ENV_VARS:
        value = env.get(name, "").strip()
        if value:
            try:
                return parse_servers(value, default_port)
            except ValueError as exc:
                raise ValueError(f"${name}: {exc}") from None
    return [ServerAddress("localhost", default_port)]
