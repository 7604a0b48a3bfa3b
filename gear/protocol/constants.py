"""Numbers and names of the Gearman binary protocol.

Strategy: one table, ``ARGS``, names the arguments of every packet type; the
codec, the decoder's argument splitting and the packet constructors all read
it, so a packet's shape is written down exactly once.  Names follow the
protocol document (``PROTOCOL`` in gearmand) so the code can be searched
against it.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

#: 12-byte header: magic, packet type, body length (all big-endian)
HEADER: Final = struct.Struct(">4sII")
HEADER_SIZE: Final = HEADER.size

REQ: Final = b"\0REQ"
RES: Final = b"\0RES"


class PacketType(IntEnum):
    """Packet type numbers, with the names of the protocol document."""

    CAN_DO = 1
    CANT_DO = 2
    RESET_ABILITIES = 3
    PRE_SLEEP = 4
    UNUSED = 5
    NOOP = 6
    SUBMIT_JOB = 7
    JOB_CREATED = 8
    GRAB_JOB = 9
    NO_JOB = 10
    JOB_ASSIGN = 11
    WORK_STATUS = 12
    WORK_COMPLETE = 13
    WORK_FAIL = 14
    GET_STATUS = 15
    ECHO_REQ = 16
    ECHO_RES = 17
    SUBMIT_JOB_BG = 18
    ERROR = 19
    STATUS_RES = 20
    SUBMIT_JOB_HIGH = 21
    SET_CLIENT_ID = 22
    CAN_DO_TIMEOUT = 23
    ALL_YOURS = 24
    WORK_EXCEPTION = 25
    OPTION_REQ = 26
    OPTION_RES = 27
    WORK_DATA = 28
    WORK_WARNING = 29
    GRAB_JOB_UNIQ = 30
    JOB_ASSIGN_UNIQ = 31
    SUBMIT_JOB_HIGH_BG = 32
    SUBMIT_JOB_LOW = 33
    SUBMIT_JOB_LOW_BG = 34
    SUBMIT_JOB_SCHED = 35
    SUBMIT_JOB_EPOCH = 36
    SUBMIT_REDUCE_JOB = 37
    SUBMIT_REDUCE_JOB_BACKGROUND = 38
    GRAB_JOB_ALL = 39
    JOB_ASSIGN_ALL = 40
    GET_STATUS_UNIQUE = 41
    STATUS_RES_UNIQUE = 42


class PT:
    """PacketType numbers as plain ints, for hot paths.

    Reading an enum member (``PacketType.GRAB_JOB``) costs about 0.2 µs, ten
    times a plain class attribute; the routing core reads these instead.
    ``tests/protocol/test_packets.py`` checks they equal PacketType.
    """

    CAN_DO: Final = 1
    CANT_DO: Final = 2
    RESET_ABILITIES: Final = 3
    PRE_SLEEP: Final = 4
    UNUSED: Final = 5
    NOOP: Final = 6
    SUBMIT_JOB: Final = 7
    JOB_CREATED: Final = 8
    GRAB_JOB: Final = 9
    NO_JOB: Final = 10
    JOB_ASSIGN: Final = 11
    WORK_STATUS: Final = 12
    WORK_COMPLETE: Final = 13
    WORK_FAIL: Final = 14
    GET_STATUS: Final = 15
    ECHO_REQ: Final = 16
    ECHO_RES: Final = 17
    SUBMIT_JOB_BG: Final = 18
    ERROR: Final = 19
    STATUS_RES: Final = 20
    SUBMIT_JOB_HIGH: Final = 21
    SET_CLIENT_ID: Final = 22
    CAN_DO_TIMEOUT: Final = 23
    ALL_YOURS: Final = 24
    WORK_EXCEPTION: Final = 25
    OPTION_REQ: Final = 26
    OPTION_RES: Final = 27
    WORK_DATA: Final = 28
    WORK_WARNING: Final = 29
    GRAB_JOB_UNIQ: Final = 30
    JOB_ASSIGN_UNIQ: Final = 31
    SUBMIT_JOB_HIGH_BG: Final = 32
    SUBMIT_JOB_LOW: Final = 33
    SUBMIT_JOB_LOW_BG: Final = 34
    SUBMIT_JOB_SCHED: Final = 35
    SUBMIT_JOB_EPOCH: Final = 36
    SUBMIT_REDUCE_JOB: Final = 37
    SUBMIT_REDUCE_JOB_BACKGROUND: Final = 38
    GRAB_JOB_ALL: Final = 39
    JOB_ASSIGN_ALL: Final = 40
    GET_STATUS_UNIQUE: Final = 41
    STATUS_RES_UNIQUE: Final = 42


P = PacketType
_SUBMIT = ("function", "unique", "data")

#: argument names per packet type; the last argument may contain NUL bytes
ARGS: dict[PacketType, tuple[str, ...]] = {
    P.CAN_DO: ("function",),
    P.CANT_DO: ("function",),
    P.RESET_ABILITIES: (),
    P.PRE_SLEEP: (),
    P.UNUSED: (),
    P.NOOP: (),
    P.SUBMIT_JOB: _SUBMIT,
    P.JOB_CREATED: ("handle",),
    P.GRAB_JOB: (),
    P.NO_JOB: (),
    P.JOB_ASSIGN: ("handle", "function", "data"),
    P.WORK_STATUS: ("handle", "numerator", "denominator"),
    P.WORK_COMPLETE: ("handle", "data"),
    P.WORK_FAIL: ("handle",),
    P.GET_STATUS: ("handle",),
    P.ECHO_REQ: ("data",),
    P.ECHO_RES: ("data",),
    P.SUBMIT_JOB_BG: _SUBMIT,
    P.ERROR: ("code", "text"),
    P.STATUS_RES: ("handle", "known", "running", "numerator", "denominator"),
    P.SUBMIT_JOB_HIGH: _SUBMIT,
    P.SET_CLIENT_ID: ("client_id",),
    P.CAN_DO_TIMEOUT: ("function", "timeout"),
    P.ALL_YOURS: (),
    P.WORK_EXCEPTION: ("handle", "data"),
    P.OPTION_REQ: ("option",),
    P.OPTION_RES: ("option",),
    P.WORK_DATA: ("handle", "data"),
    P.WORK_WARNING: ("handle", "data"),
    P.GRAB_JOB_UNIQ: (),
    P.JOB_ASSIGN_UNIQ: ("handle", "function", "unique", "data"),
    P.SUBMIT_JOB_HIGH_BG: _SUBMIT,
    P.SUBMIT_JOB_LOW: _SUBMIT,
    P.SUBMIT_JOB_LOW_BG: _SUBMIT,
    P.SUBMIT_JOB_SCHED: (
        "function",
        "unique",
        "minute",
        "hour",
        "day_of_month",
        "month",
        "day_of_week",
        "data",
    ),
    P.SUBMIT_JOB_EPOCH: ("function", "unique", "epoch", "data"),
    P.SUBMIT_REDUCE_JOB: ("function", "unique", "reducer", "aggregator", "data"),
    P.SUBMIT_REDUCE_JOB_BACKGROUND: ("function", "unique", "reducer", "aggregator", "data"),
    P.GRAB_JOB_ALL: (),
    P.JOB_ASSIGN_ALL: ("handle", "function", "unique", "reducer", "data"),
    P.GET_STATUS_UNIQUE: ("unique",),
    P.STATUS_RES_UNIQUE: ("unique", "known", "running", "numerator", "denominator", "clients"),
}

#: argument count per type number, for the decoder's hot path
ARG_COUNT: tuple[int, ...] = tuple(
    len(ARGS[PacketType(n)]) if n in PacketType._value2member_map_ else 0 for n in range(43)
)

#: packets a client, worker or admin tool sends to a server
REQUEST_TYPES = frozenset(
    {
        P.CAN_DO,
        P.CANT_DO,
        P.RESET_ABILITIES,
        P.PRE_SLEEP,
        P.SUBMIT_JOB,
        P.GRAB_JOB,
        P.WORK_STATUS,
        P.WORK_COMPLETE,
        P.WORK_FAIL,
        P.GET_STATUS,
        P.ECHO_REQ,
        P.SUBMIT_JOB_BG,
        P.SUBMIT_JOB_HIGH,
        P.SET_CLIENT_ID,
        P.CAN_DO_TIMEOUT,
        P.ALL_YOURS,
        P.WORK_EXCEPTION,
        P.OPTION_REQ,
        P.WORK_DATA,
        P.WORK_WARNING,
        P.GRAB_JOB_UNIQ,
        P.SUBMIT_JOB_HIGH_BG,
        P.SUBMIT_JOB_LOW,
        P.SUBMIT_JOB_LOW_BG,
        P.SUBMIT_JOB_SCHED,
        P.SUBMIT_JOB_EPOCH,
        P.SUBMIT_REDUCE_JOB,
        P.SUBMIT_REDUCE_JOB_BACKGROUND,
        P.GRAB_JOB_ALL,
        P.GET_STATUS_UNIQUE,
    }
)

#: packets a server sends (WORK_* are relayed from workers to clients)
RESPONSE_TYPES = frozenset(
    {
        P.NOOP,
        P.JOB_CREATED,
        P.NO_JOB,
        P.JOB_ASSIGN,
        P.WORK_STATUS,
        P.WORK_COMPLETE,
        P.WORK_FAIL,
        P.ECHO_RES,
        P.ERROR,
        P.STATUS_RES,
        P.WORK_EXCEPTION,
        P.OPTION_RES,
        P.WORK_DATA,
        P.WORK_WARNING,
        P.JOB_ASSIGN_UNIQ,
        P.JOB_ASSIGN_ALL,
        P.STATUS_RES_UNIQUE,
    }
)


class Priority(IntEnum):
    """Job priority; lower value runs first."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


#: (priority, background) of each submit packet
SUBMIT_KINDS: dict[int, tuple[Priority, bool]] = {
    P.SUBMIT_JOB: (Priority.NORMAL, False),
    P.SUBMIT_JOB_BG: (Priority.NORMAL, True),
    P.SUBMIT_JOB_HIGH: (Priority.HIGH, False),
    P.SUBMIT_JOB_HIGH_BG: (Priority.HIGH, True),
    P.SUBMIT_JOB_LOW: (Priority.LOW, False),
    P.SUBMIT_JOB_LOW_BG: (Priority.LOW, True),
    P.SUBMIT_JOB_EPOCH: (Priority.NORMAL, True),
    P.SUBMIT_JOB_SCHED: (Priority.NORMAL, True),
    P.SUBMIT_REDUCE_JOB: (Priority.NORMAL, False),
    P.SUBMIT_REDUCE_JOB_BACKGROUND: (Priority.NORMAL, True),
}

#: the submit packet for a (priority, background) pair
SUBMIT_TYPE: dict[tuple[Priority, bool], PacketType] = {
    (Priority.NORMAL, False): P.SUBMIT_JOB,
    (Priority.NORMAL, True): P.SUBMIT_JOB_BG,
    (Priority.HIGH, False): P.SUBMIT_JOB_HIGH,
    (Priority.HIGH, True): P.SUBMIT_JOB_HIGH_BG,
    (Priority.LOW, False): P.SUBMIT_JOB_LOW,
    (Priority.LOW, True): P.SUBMIT_JOB_LOW_BG,
}


class ErrorCode:
    """ERROR packet codes as C gearmand sends them (libgearman names without GEARMAN_)."""

    INVALID_COMMAND: Final = "INVALID_COMMAND"
    INVALID_MAGIC: Final = "INVALID_MAGIC"
    JOB_NOT_FOUND: Final = "JOB_NOT_FOUND"
    QUEUE_ERROR: Final = "QUEUE_ERROR"
    UNKNOWN_OPTION: Final = "UNKNOWN_OPTION"
    ARGUMENT_TOO_LARGE: Final = "ARGUMENT_TOO_LARGE"
    INVALID_ARGUMENT: Final = "INVALID_ARGUMENT"
    #: gear: the ACL (or the loopback-only admin default) refuses the request
    PERMISSION_DENIED: Final = "PERMISSION_DENIED"


#: protocol limits (C gearmand / libgearman)
MAX_UNIQUE: Final = 64
MAX_FUNCTION: Final = 512
MAX_HANDLE: Final = 64
MAX_CLIENT_ID: Final = 127
DEFAULT_MAX_PACKET: Final = 64 * 1024 * 1024
