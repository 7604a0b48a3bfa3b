"""A peer that vanishes without a FIN, in a network namespace of its own.

Run as ``unshare -n python -m tests.hardening.stalled_peer`` (root): loopback
in the new namespace is this script's alone.  A worker takes a job, then a
``blackhole`` qdisc on ``lo`` drops every packet, as if its host lost power:
no FIN, no RST.  The server's TCP keepalive (1 s idle, 1 s interval, 2
probes) must reap the worker's connection and queue the job again.  The
qdisc is removed, and ``status`` is read.  Prints one JSON line.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

from gear.protocol import RES, Decoder, Packet, request
from gear.protocol import PacketType as P


def recv_packet(sock: socket.socket, decoder: Decoder) -> Packet:
    while True:
        event = decoder.next_event()
        if isinstance(event, Packet):
            return event
        decoder.feed(sock.recv(65536))


def admin(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(line.encode() + b"\n")
        data = b""
        while not data.endswith(b".\n"):
            data += sock.recv(65536)
        return data.decode()


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gear", "serve", "--port", "0", "--log-level", "INFO"),
            *("--keepalive-idle", "1", "--keepalive-interval", "1", "--keepalive-count", "2"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stderr is not None
    port = int(re.search(r":(\d+) ", server.stdout.readline()).group(1))  # type: ignore[union-attr]
    worker = socket.create_connection(("127.0.0.1", port))
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(request(P.SUBMIT_JOB_BG, b"stalled", b"", b"job"))
    assert recv_packet(client, Decoder(expect=RES, allow_text=False)).type == P.JOB_CREATED
    worker.sendall(request(P.CAN_DO, b"stalled") + request(P.GRAB_JOB))
    assert recv_packet(worker, Decoder(expect=RES, allow_text=False)).type == P.JOB_ASSIGN
    running = admin(port, "status")
    subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "blackhole"], check=True)
    cut = time.monotonic()
    lost = ""
    for line in server.stderr:
        if "lost" in line:
            lost = line.strip()
            break
    reaped_after = time.monotonic() - cut
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=True)
    after = admin(port, "status")
    server.terminate()
    server.wait(10)
    print(
        json.dumps(
            {
                "running": running,
                "lost": lost,
                "reaped_after": round(reaped_after, 2),
                "after": after,
            }
        )
    )


if __name__ == "__main__":
    main()
