"""``sd_notify`` without libsystemd: tell systemd the server is ready or stopping.

Strategy: under ``Type=notify`` systemd sets ``NOTIFY_SOCKET`` to a Unix
datagram socket (a path, or ``@name`` in the abstract namespace) and waits
for ``READY=1`` on it; the message is plain ``KEY=value`` lines, so one
``sendto`` is the whole protocol.  Without the variable (not started by
systemd) ``notify`` does nothing.
"""

from __future__ import annotations

import os
import socket


def notify(*fields: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``KEY=value`` fields to systemd; False when not run by systemd or it failed."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET")
    if not address or not fields:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError:
        return False
    return True
