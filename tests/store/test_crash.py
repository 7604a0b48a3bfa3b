"""Crash test as real processes (issue #6, tests): SIGKILL in mid-stream.

A client pipelines 20,000 background submits over 8 raw connections (256
in flight on each) to ``gear serve --store URL``; once a quarter of them are acknowledged, the
server is killed with SIGKILL.  A new server on the same store replays it,
and a worker drains every job.  Every job whose JOB_CREATED reached the
client must run (at least once), and no job may appear that was not
submitted; jobs stored but not yet acknowledged when the kill came may run
too.  A last restart checks that the drained jobs stay gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gear.protocol import RES, Decoder, Packet, request
from gear.protocol import PacketType as P
from tests.conftest import ServerProcess, start_gear_process
from tests.store.conftest import Backend

N = 20_000
CONNECTIONS = 8
FN = b"crash"
#: submits each client connection keeps in flight
WINDOW = 256
#: grabs a draining worker keeps in flight
GRABS = 64


@dataclass
class Tally:
    """What the client saw before the kill."""

    acked: set[int] = field(default_factory=set)
    refused: int = 0
    killed: bool = False


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for srv in started:
        srv.stop()
        for stream in (srv.proc.stdout, srv.proc.stderr):
            if stream is not None:
                stream.close()


def serve(servers: list[ServerProcess], url: str) -> ServerProcess:
    srv = start_gear_process("--store", url)  # returns once it listens: replay is done
    servers.append(srv)
    return srv


def packets(decoder: Decoder, data: bytes) -> list[Packet]:
    decoder.feed(data)
    out: list[Packet] = []
    while True:
        event = decoder.next_event()
        if not isinstance(event, Packet):
            return out
        out.append(event)


async def submit_and_kill(srv: ServerProcess, kill_at: int) -> Tally:
    tally = Tally()

    def submits(jobs: range) -> bytes:
        return b"".join(request(P.SUBMIT_JOB_BG, FN, b"", b"%d" % i) for i in jobs)

    async def one(jobs: range) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        sent = min(WINDOW, len(jobs))
        writer.write(submits(jobs[:sent]))
        decoder = Decoder(expect=RES, allow_text=False)
        answered = 0
        try:
            while data := await reader.read(65536):
                for packet in packets(decoder, data):
                    if packet.type == P.JOB_CREATED:
                        tally.acked.add(jobs[answered])
                    else:
                        tally.refused += 1
                    answered += 1
                more = min(answered + WINDOW, len(jobs))
                if more > sent:
                    writer.write(submits(jobs[sent:more]))
                    sent = more
                if len(tally.acked) >= kill_at and not tally.killed:
                    os.kill(srv.proc.pid, signal.SIGKILL)
                    tally.killed = True
        except ConnectionError:
            pass  # the kill
        finally:
            writer.close()

    share = N // CONNECTIONS
    await asyncio.gather(*(one(range(k * share, (k + 1) * share)) for k in range(CONNECTIONS)))
    return tally


async def drain(srv: ServerProcess) -> list[int]:
    """Run every queued job; the data of each, in the order run."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(request(P.CAN_DO, FN) + request(P.GRAB_JOB_UNIQ) * GRABS)
    decoder = Decoder(expect=RES, allow_text=False)
    ran: list[int] = []
    waiting = GRABS
    while waiting:
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "the server closed the connection"
        out = []
        for packet in packets(decoder, data):
            waiting -= 1
            if packet.type == P.JOB_ASSIGN_UNIQ:
                handle, _fn, _unique, payload = packet.args
                ran.append(int(payload))
                out.append(request(P.WORK_COMPLETE, handle, b""))
                out.append(request(P.GRAB_JOB_UNIQ))
                waiting += 1
            else:
                assert packet.type == P.NO_JOB, packet
        writer.write(b"".join(out))
    writer.write(request(P.ECHO_REQ, b"end"))  # the completes are in before the echo
    while not any(p.type == P.ECHO_RES for p in packets(decoder, await reader.read(65536))):
        pass
    writer.close()
    return ran


async def test_sigkill_mid_stream_loses_no_acknowledged_job(
    backend: Backend, servers: list[ServerProcess]
) -> None:
    first = serve(servers, backend.url)
    tally = await submit_and_kill(first, kill_at=N // 4)
    first.proc.wait(10)
    assert tally.killed and first.proc.returncode == -signal.SIGKILL
    assert tally.refused == 0
    assert len(tally.acked) < N, "the kill came after the last acknowledgement"

    second = serve(servers, backend.url)
    ran = await drain(second)
    recovered = set(ran)
    lost = tally.acked - recovered
    print(
        f"\n{backend.name}: submitted {N}, acknowledged {len(tally.acked)}, "
        f"recovered {len(recovered)} ({len(recovered - tally.acked)} stored but not yet "
        f"acknowledged), lost {len(lost)}"
    )
    assert not lost
    assert len(ran) == len(recovered), "a job was replayed twice"
    assert recovered <= set(range(N)), "a job was invented"
    second.stop()
    assert second.proc.returncode == 0

    third = serve(servers, backend.url)
    assert await drain(third) == []  # the drained jobs were deleted
