"""Memory per queued job, and RSS after the queue drains: gear serve against C gearmand.

Usage::

    python bench/memory.py [-n 1000000] [--size 64]

Starts each server on a free loopback port, reads its RSS (/proc/PID/status),
queues N background jobs of SIZE bytes (pipelined SUBMIT_JOB_BG from one
connection), reads the RSS again, drains every job with a pipelined worker
(GRAB_JOB + WORK_COMPLETE), waits ``--settle`` seconds, and reads the RSS a
last time.  Prints one
Markdown table.  Bounded by count; talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

HEADER = struct.Struct(">4sII")
SUBMIT_JOB_BG, JOB_CREATED, GRAB_JOB, JOB_ASSIGN, WORK_COMPLETE, CAN_DO = 18, 8, 9, 11, 13, 1
ECHO_REQ, ECHO_RES = 16, 17
BATCH = 2000


def packet(ptype: int, *args: bytes) -> bytes:
    body = b"\0".join(args)
    return HEADER.pack(b"\0REQ", ptype, len(body)) + body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        match = re.search(r"VmRSS:\s+(\d+) kB", fh.read())
    assert match
    return int(match.group(1)) * 1024


class Reader:
    """Reads whole packets from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def packets(self, count: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        while len(out) < count:
            while len(self.buf) >= 12:
                _, ptype, size = HEADER.unpack_from(self.buf)
                if len(self.buf) < 12 + size:
                    break
                out.append((ptype, self.buf[12 : 12 + size]))
                self.buf = self.buf[12 + size :]
                if len(out) == count:
                    return out
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        return out


def sync(sock: socket.socket, reader: Reader) -> None:
    """Wait until the server has handled everything sent before (ECHO barrier)."""
    sock.sendall(packet(ECHO_REQ, b"sync"))
    while reader.packets(1)[0][0] != ECHO_RES:
        pass


def fill(port: int, count: int, size: int) -> None:
    payload = b"x" * size
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = Reader(sock)
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            sock.sendall(b"".join(packet(SUBMIT_JOB_BG, b"mem", b"", payload) for _ in range(n)))
            reader.packets(n)


def drain(port: int, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = Reader(sock)
        sock.sendall(packet(CAN_DO, b"mem"))
        done = 0
        while done < count:
            n = min(BATCH, count - done)
            sock.sendall(packet(GRAB_JOB) * n)
            assigned = reader.packets(n)
            sock.sendall(
                b"".join(
                    packet(WORK_COMPLETE, body.split(b"\0", 1)[0], b"") for _, body in assigned
                )
            )
            done += n
        sync(sock, reader)


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


@contextlib.contextmanager
def started(command: str) -> Iterator[tuple[int, int]]:
    """Run ``command`` (``{port}``, ``{tmp}`` filled in) until the block ends: (port, pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = shlex.split(command.format(port=port, tmp=tmp))
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, proc)
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(30)


def measure(name: str, command: str, count: int, size: int, settle: float) -> list[str]:
    with started(command) as (port, pid):
        base = rss(pid)
        fill(port, count, size)
        full = rss(pid)
        drain(port, count)
        time.sleep(settle)  # gear hands memory back on a 1 s timer
        after = rss(pid)
    per_job = (full - base) / count
    return [
        name,
        f"{base / 2**20:.1f}",
        f"{full / 2**20:.1f}",
        f"{per_job:.0f}",
        f"{after / 2**20:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds to wait after the drain (default 2)"
    )
    parser.add_argument("--gear", default=f"{sys.executable} -m gear serve --port {{port}}")
    parser.add_argument(
        "--ref", default="/usr/sbin/gearmand -L 127.0.0.1 -p {port} -t 1 -l stderr -P {tmp}/g.pid"
    )
    args = parser.parse_args()
    rows = [
        measure("C gearmand -t 1", args.ref, args.count, args.size, args.settle),
        measure("gear serve", args.gear, args.count, args.size, args.settle),
    ]
    print(f"{args.count:,} background jobs of {args.size} bytes, queued then drained")
    print("| server | RSS idle MiB | RSS queued MiB | bytes per queued job | RSS after drain MiB |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
