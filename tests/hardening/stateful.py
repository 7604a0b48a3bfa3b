"""A Hypothesis state machine over the whole server but its sockets.

Strategy: a real ``Server`` (started on port 0, then fed directly) gets
connections through its own protocol factory, each with a ``FakeTransport``
that records what the server writes.  Rules interleave clients (submits,
foreground and background, with coalescing uniques, fed whole or split at a
random byte), workers (CAN_DO, grabs, completes, fails), admin lines
(status, workers, show jobs, cancel, maxqueue), garbage and truncated
packets, and disconnects.  After every step the server's output is decoded
and these invariants are checked:

* every live job is exactly one of queued or running, and the per-function
  counters (``status``) match the job and worker listings;
* every acknowledged background job is still known or was finished by a
  worker or cancelled (none lost);
* no job is handed to two workers at once, or again after it ended (none
  duplicated).

``tests/hardening/test_stateful.py`` runs it briefly in the suite;
``bench/fuzz.py`` runs it long (GEAR_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from gear.protocol import RES, Decoder, Packet, request
from gear.protocol import PacketType as P
from gear.server import ServerConfig
from gear.server.server import Server

FUNCTIONS = ["f", "g"]
UNIQUES = [b"", b"", b"u1", b"u2", b"-"]
#: counters the fuzz script reports
COUNTS = {"steps": 0, "examples": 0, "garbage_bytes": 0}


class FakeTransport:
    """Enough of asyncio's transport for ``GearProtocol``; records writes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", self.port) if name == "peername" else default

    def close(self) -> None:
        self.closed = True

    abort = close

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class Conn:
    """One connection as the machine sees it."""

    def __init__(self, server: Server, port: int) -> None:
        self.proto: Any = server._new_connection()
        self.transport = FakeTransport(port)
        self.proto.connection_made(self.transport)
        self.decoder = Decoder(expect=RES, allow_text=False)
        self.seen = 0
        #: background flag of each submit still waiting for its reply
        self.pending: list[bool] = []
        #: handles this worker holds
        self.holding: list[bytes] = []
        self.alive = True
        self.functions: set[str] = set()

    def feed(self, data: bytes, split: int | None = None) -> None:
        if split is not None and 0 < split < len(data):
            self.proto.data_received(data[:split])
            self.proto.data_received(data[split:])
        else:
            self.proto.data_received(data)

    def new_packets(self) -> list[Packet]:
        fresh = bytes(self.transport.out[self.seen :])
        self.seen = len(self.transport.out)
        self.decoder.feed(fresh)
        out = []
        while True:
            event = self.decoder.next_event()
            if not isinstance(event, Packet):
                return out
            out.append(event)


class ServerMachine(RuleBasedStateMachine):
    """Clients, workers, admin lines, garbage and disconnects against one server."""

    clients = Bundle("clients")
    workers = Bundle("workers")

    def __init__(self) -> None:
        super().__init__()
        COUNTS["examples"] += 1
        self.loop = asyncio.new_event_loop()
        self.server = Server(ServerConfig(port=0))
        self.loop.run_until_complete(self.server.start())
        self.ports = iter(range(10_000, 60_000))
        self.conns: list[Conn] = []
        self.acked_bg: set[bytes] = set()
        self.ended: set[bytes] = set()
        self.assigned: dict[bytes, Conn] = {}
        self.admin = self._connect()

    def teardown(self) -> None:
        for conn in self.conns:
            if conn.alive:
                conn.proto.connection_lost(None)
        self.server.request_shutdown(False)
        self.loop.run_until_complete(self.server.serve_forever())
        self.loop.close()

    # ------------------------------------------------------------ helpers --
    def _connect(self) -> Conn:
        conn = Conn(self.server, next(self.ports))
        self.conns.append(conn)
        return conn

    def _settle(self) -> None:
        """Write what the server queued, then read every connection's output."""
        COUNTS["steps"] += 1
        self.server.flush()
        for conn in self.conns:
            if conn.alive and conn is not self.admin:
                for packet in conn.new_packets():
                    self._on_packet(conn, packet)
            if conn.alive and conn.transport.closed:
                self._drop(conn)

    def _on_packet(self, conn: Conn, packet: Packet) -> None:
        if packet.type == P.JOB_CREATED:
            if conn.pending.pop(0):
                self.acked_bg.add(packet.args[0])
        elif packet.type == P.ERROR and conn.pending:
            conn.pending.pop(0)
        elif packet.type == P.JOB_ASSIGN_UNIQ:
            handle = packet.args[0]
            holder = self.assigned.get(handle)
            assert holder is None, f"{handle!r} handed out twice"
            assert handle not in self.ended, f"{handle!r} handed out after it ended"
            self.assigned[handle] = conn
            conn.holding.append(handle)

    def _drop(self, conn: Conn) -> None:
        conn.alive = False
        conn.proto.connection_lost(None)
        for handle in conn.holding:
            self.assigned.pop(handle, None)
        conn.holding.clear()
        self.server.flush()

    # -------------------------------------------------------------- rules --
    @rule(target=clients)
    def new_client(self) -> Conn:
        self._settle()
        return self._connect()

    @rule(target=workers, fn=st.sampled_from(FUNCTIONS))
    def new_worker(self, fn: str) -> Conn:
        conn = self._connect()
        conn.feed(request(P.CAN_DO, fn.encode()) + request(P.GRAB_JOB_UNIQ))
        conn.functions.add(fn)
        self._settle()
        return conn

    @rule(
        conn=clients,
        fn=st.sampled_from(FUNCTIONS),
        unique=st.sampled_from(UNIQUES),
        background=st.booleans(),
        split=st.integers(0, 40),
    )
    def submit(self, conn: Conn, fn: str, unique: bytes, background: bool, split: int) -> None:
        if not conn.alive:
            return
        ptype = P.SUBMIT_JOB_BG if background else P.SUBMIT_JOB
        conn.pending.append(background)
        conn.feed(request(ptype, fn.encode(), unique, b"data"), split)
        self._settle()

    @rule(conn=workers)
    def grab(self, conn: Conn) -> None:
        if conn.alive:
            conn.feed(request(P.GRAB_JOB_UNIQ))
            self._settle()

    @rule(conn=workers, fail=st.booleans())
    def finish(self, conn: Conn, fail: bool) -> None:
        if not conn.alive or not conn.holding:
            return
        handle = conn.holding.pop(0)
        del self.assigned[handle]
        packet = request(P.WORK_FAIL, handle) if fail else request(P.WORK_COMPLETE, handle, b"r")
        conn.feed(packet)
        self.ended.add(handle)
        self._settle()

    @rule(conn=workers, n=st.integers(1, 5), fail=st.booleans())
    def work_some(self, conn: Conn, n: int, fail: bool) -> None:
        """Grab and finish up to ``n`` jobs in a row (the common worker loop)."""
        for _ in range(n):
            if not conn.alive:
                return
            conn.feed(request(P.GRAB_JOB_UNIQ))
            self._settle()
            if not conn.holding:
                return
            self.finish(conn, fail)

    @rule(conn=workers, fn=st.sampled_from(FUNCTIONS))
    def also_can_do(self, conn: Conn, fn: str) -> None:
        if conn.alive:
            conn.feed(request(P.CAN_DO, fn.encode()))
            conn.functions.add(fn)
            self._settle()

    @rule(conn=st.one_of(consumes(clients), consumes(workers)))
    def disconnect(self, conn: Conn) -> None:
        if conn.alive:
            self._drop(conn)
        self._settle()

    @rule(conn=st.one_of(consumes(clients), consumes(workers)), cut=st.integers(1, 15))
    def truncated_then_gone(self, conn: Conn, cut: int) -> None:
        if conn.alive:
            conn.feed(request(P.SUBMIT_JOB_BG, b"f", b"", b"partial")[:cut])
            self._drop(conn)
        self._settle()

    @rule(data=st.binary(min_size=1, max_size=64))
    def garbage(self, data: bytes) -> None:
        COUNTS["garbage_bytes"] += len(data)
        conn = self._connect()
        conn.feed(data)
        self.server.flush()
        self._drop(conn)
        self._settle()

    @rule(
        line=st.sampled_from(
            ["status", "workers", "show jobs", "prioritystatus", "maxqueue f 3", "maxqueue f 0"]
        )
    )
    def admin_read(self, line: str) -> None:
        self.admin.feed(line.encode() + b"\n")
        self._settle()

    @precondition(lambda self: bool(self.acked_bg))
    @rule(pick=st.integers(0, 1000))
    def cancel(self, pick: int) -> None:
        handles = sorted(self.acked_bg)
        handle = handles[pick % len(handles)]
        before = len(self.admin.transport.out)
        self.admin.feed(b"cancel job " + handle + b"\n")
        self.server.flush()
        if bytes(self.admin.transport.out[before:]).startswith(b"OK"):
            self.ended.add(handle)
        self._settle()

    # --------------------------------------------------------- invariants --
    @invariant()
    def every_job_is_queued_or_running_and_counters_match(self) -> None:
        broker = self.server.broker
        for job in broker.jobs.values():
            assert job.queued != (job.worker is not None), f"{job.handle!r} is in two states"
        for f in broker.functions.values():
            jobs = [j for j in broker.jobs.values() if j.function is f]
            for priority in range(3):
                assert f.queued[priority] == sum(
                    1 for j in jobs if j.queued and j.priority == priority
                )
            assert f.running == sum(1 for j in jobs if j.worker is not None)
            assert f.total == len(jobs)
            workers = [s for s in broker.sessions.values() if f in s.abilities]
            assert len(f.workers) == len(workers)
        running = sum(len(s.running) for s in broker.sessions.values())
        assert running == sum(1 for j in broker.jobs.values() if j.worker is not None)

    @invariant()
    def no_acknowledged_job_is_lost(self) -> None:
        known = self.server.broker.jobs
        lost = [h for h in self.acked_bg if h not in known and h not in self.ended]
        assert not lost, f"background jobs lost: {lost}"

    @invariant()
    def status_lines_match_the_listings(self) -> None:
        broker = self.server.broker
        session = next(iter(broker.sessions.values()), None)
        if session is None:
            return
        reply = self.server.admin.run(session, b"status").decode()
        for line in reply.splitlines()[:-1]:
            name, total, running, workers = line.split("\t")
            f = broker.functions[name.encode()]
            assert (int(total), int(running), int(workers)) == (
                f.total,
                f.running,
                len(f.workers),
            )


def machine_settings(default_examples: int) -> settings:
    """Examples from GEAR_FUZZ_EXAMPLES, else ``default_examples``."""
    examples = int(os.environ.get("GEAR_FUZZ_EXAMPLES", default_examples))
    return settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        database=None,
    )
