"""A SQLite store on a small tmpfs: disk full, then read-only, then back.

Run as ``unshare -m python -m tests.hardening.store_outage`` (root): the
tmpfs is mounted in a mount namespace of this process alone and vanishes
with it.  Background jobs of 4 KiB are submitted until the disk is full
(the store refuses with QUEUE_ERROR), the tmpfs is grown, and submits are
accepted again.  The server is stopped, the file system remounted
read-only, and a new server must refuse to start with one clear line; it
is remounted read-write, a server replays the store, and a worker drains
it: every acknowledged job must run, none more.  Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile

from gear.protocol import PacketType as P
from gear.server import ServerConfig
from gear.server.server import Server
from gear.testing import RawConnection, running_server

PAYLOAD = b"x" * 4096


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


async def fill(port: int, limit: int, tag: bytes) -> tuple[list[bytes], str]:
    """Submit until the first refusal (or ``limit`` jobs); the handles and the refusal."""
    conn = await RawConnection.open(port)
    handles: list[bytes] = []
    refusal = ""
    for i in range(limit):
        await conn.send(P.SUBMIT_JOB_BG, b"outage", b"%s%d" % (tag, i), PAYLOAD)
        reply = await conn.recv()
        if reply.type != P.JOB_CREATED:
            refusal = b" ".join(reply.args).decode()
            break
        handles.append(reply.args[0])
    await conn.close()
    return handles, refusal


async def drain(port: int, function: bytes) -> list[bytes]:
    """Run every queued job of ``function`` with one worker; the handles run."""
    worker = await RawConnection.open(port)
    await worker.send(P.CAN_DO, function)
    ran = []
    while True:
        await worker.send(P.GRAB_JOB)
        reply = await worker.recv()
        if reply.type == P.NO_JOB:
            break
        ran.append(reply.args[0])
        await worker.send(P.WORK_COMPLETE, reply.args[0], b"")
    await worker.close()
    return ran


async def main(folder: str) -> dict[str, object]:
    store = f"sqlite:{folder}/queue.db"
    result: dict[str, object] = {}
    async with running_server(ServerConfig(store=store)) as server:
        acked, refusal = await fill(server.port, 10_000, b"a")
        result["acked_before_full"] = len(acked)
        result["refusal_when_full"] = refusal
        mount("-o", "remount,size=16m", folder)
        more, refusal_after = await fill(server.port, 50, b"b")
        result["acked_after_growing"] = len(more)
        result["refusal_after_growing"] = refusal_after
        acked += more
    mount("-o", "remount,ro", folder)
    try:
        Server(ServerConfig(store=store))  # validates; opening happens in start()
        async with running_server(ServerConfig(store=store)):
            result["read_only_start"] = "started"
    except Exception as exc:  # the one line gear serve would print
        result["read_only_start"] = f"{type(exc).__name__}: {exc}"
    mount("-o", "remount,rw", folder)
    async with running_server(ServerConfig(store=store)) as server:
        result["replayed"] = len(server.broker.jobs)
        ran = await drain(server.port, b"outage")
    result["acked"] = len(acked)
    result["ran"] = len(ran)
    result["lost"] = len(set(acked) - set(ran))
    result["unexpected"] = len(set(ran) - set(acked))
    return result


def run() -> None:
    folder = tempfile.mkdtemp(prefix="gear-tmpfs-")
    mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", folder)
    try:
        print(json.dumps(asyncio.run(main(folder))))
    finally:
        subprocess.run(["umount", folder], check=False)
        os.rmdir(folder)


if __name__ == "__main__":
    run()
