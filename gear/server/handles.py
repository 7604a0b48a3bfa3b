"""Job handles in C gearmand's format: ``H:<host>:<n>``.

Strategy: the broker's job table numbers handles from a counter
(``gear.server.jobs``); this module only says where a boot's prefix and
counter start, which needs the host name and the clock, so it stays out
of the pure core.  Clients match handles with a regex (PHP's tests do), so
the format is gearmand's; the counter starts at the boot time in
microseconds so handles never repeat across restarts.
"""

from __future__ import annotations

import socket
import time


def default_handle_prefix() -> bytes:
    """``H:<host>:``, C gearmand's handle format (clients match it with a regex)."""
    host = socket.gethostname()[:40] or "localhost"
    return f"H:{host}:".encode()


def first_handle_id() -> int:
    """Where this boot's handle counter starts: microseconds since the epoch.

    Handles then never repeat across restarts (the previous boot would
    have had to hand out more than a million jobs a second to catch up),
    and the store replay moves the counter past every stored handle.
    """
    return time.time_ns() // 1000
