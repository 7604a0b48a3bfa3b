"""Packets of the binary protocol, and turning them into bytes.

Strategy: a packet is one small immutable value, ``Packet(type, args)``, whose
shape is checked against the ``ARGS`` table when it is built by hand
(``Packet.build``).  The decoder builds packets through the tuple constructor
directly: it has already split the body into exactly the table's number of
arguments, and skipping the checks there keeps the server's hot path cheap
(STYLE.md "speed on the hot path": one generic value instead of one class per
packet type is that trade, measured in the benchmarks).  Named access goes
through the same table (``packet.get("handle")``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from gear.errors import LocalProtocolError
from gear.protocol.constants import ARGS, HEADER, REQ, RES, PacketType

_pack_header: Final = HEADER.pack


#: a packet as a plain ``(type, args)`` tuple: what a server's decoder hands
#: the broker (building a NamedTuple costs more than the rest of decoding);
#: a ``Packet`` is one too
Frame = tuple[int, tuple[bytes, ...]]


class Packet(NamedTuple):
    """One binary packet: its type number and its arguments as bytes."""

    #: the packet type (a PacketType member, or its int value)
    type: int
    #: the arguments in the order of ``ARGS[type]``; only the last may hold NULs
    args: tuple[bytes, ...]

    @classmethod
    def build(cls, ptype: int, *args: object) -> Packet:
        """Build a packet, checking its arguments against the protocol.

        Args:
            ptype: the packet type (a PacketType member or its number).
            *args: one value per argument of ``ARGS[ptype]``: ``bytes``, or
                ``str`` (encoded as UTF-8) or ``int`` (its decimal digits).
                They are checked at run time, so the compiled build and
                untyped callers get the same LocalProtocolError.

        Raises:
            LocalProtocolError: wrong number of arguments, an argument of
                another type, or a NUL byte in an argument that is not the last.
        """
        names = ARGS[PacketType(ptype)]
        if len(args) != len(names):
            raise LocalProtocolError(
                f"{PacketType(ptype).name} takes {len(names)} arguments {names}, got {len(args)}"
            )
        raw = tuple(_as_bytes(a) for a in args)
        for name, value in zip(names[:-1], raw[:-1], strict=True):
            if b"\0" in value:
                raise LocalProtocolError(f"{PacketType(ptype).name}: NUL byte in {name!r}")
        return cls(PacketType(ptype), raw)

    def get(self, name: str) -> bytes:
        """The argument called ``name`` in the protocol table."""
        return self.args[ARGS[PacketType(self.type)].index(name)]

    @property
    def name(self) -> str:
        """The protocol name of the packet type."""
        return PacketType(self.type).name

    def encode(self, magic: bytes = REQ) -> bytes:
        """The packet as bytes on the wire, with ``magic`` (REQ or RES)."""
        return encode(magic, self.type, self.args)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    raise LocalProtocolError(f"packet argument must be bytes, str or int, not {type(value)!r}")


def encode(magic: bytes, ptype: int, args: tuple[bytes, ...] | list[bytes]) -> bytes:
    """Frame ``args`` as one packet of type ``ptype``."""
    body = b"\0".join(args)
    return _pack_header(magic, ptype, len(body)) + body


def request(ptype: int, *args: bytes) -> bytes:
    """A request packet (``\\0REQ``) as bytes; arguments are not checked."""
    body = b"\0".join(args)
    return _pack_header(REQ, ptype, len(body)) + body


def response(ptype: int, *args: bytes) -> bytes:
    """A response packet (``\\0RES``) as bytes; arguments are not checked."""
    body = b"\0".join(args)
    return _pack_header(RES, ptype, len(body)) + body
