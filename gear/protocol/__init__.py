"""The sans-I/O core of the Gearman protocol: bytes in, packets out, and back.

Imports nothing but the standard library and ``gear.errors``: no asyncio, no
sockets, no logging.
"""

from gear.protocol.constants import (
    ARGS,
    HEADER,
    REQ,
    RES,
    SUBMIT_KINDS,
    SUBMIT_TYPE,
    ErrorCode,
    PacketType,
    Priority,
)
from gear.protocol.framing import NEED_DATA, AdminLine, Decoder, NeedData
from gear.protocol.packets import Packet, encode, request, response

__all__ = [
    "ARGS",
    "HEADER",
    "NEED_DATA",
    "REQ",
    "RES",
    "SUBMIT_KINDS",
    "SUBMIT_TYPE",
    "AdminLine",
    "Decoder",
    "ErrorCode",
    "NeedData",
    "Packet",
    "PacketType",
    "Priority",
    "encode",
    "request",
    "response",
]
