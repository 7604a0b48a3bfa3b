"""Connections of a multi-server run: clients that spread jobs, workers on every server.

Strategy: a client of a multi-server run is a ``Spread``: one connection to
each server (``SpreadClient``, or ``SpreadBulkClient`` for bg submits and
echoes) sharing one window.  Each job picks its server as ``gear.client``
does: the CRC32 of its unique id modulo the number of servers (so the same
unique always meets on the same server), or round-robin; a server that was
lost is skipped for the next one in order.  A worker of the run is one
``ServerWorker`` connection per server, as a Gearman worker connects to
every job server it serves.  Echoes are not jobs and are not spread: an
echo client's connection to each server is a ``Spread`` of its own, with
the whole window; so is every connection with ``--spread conn``.

Why ``conn`` exists: one window shared by a client's connections drifts.
An answer from one server frees room that the next jobs fill on every
server alike, so the jobs in flight wander from one server to another (a
random walk: 7 against 121 of 128 in samples of a 2-server fg run), and a
server whose queue runs dry sends its workers NO_JOB and to sleep.  That
is what a client with one window over several servers does (``gear.client``
and ``gear submit --window`` too), so ``unique`` stays the default; to
measure what the servers can do, give each connection its own window.

The member classes only add what a multi-server run needs to the
single-server ones of ``wire`` and ``bulk``: their ``fill`` refills the
shared window (so an answer on any server's connection lets the next job
go to whichever server it hashes to), they count what they did (for the
per-server rates), and a lost connection is not the end of the run.  The
``Cluster`` notes which servers are lost and how many jobs each took with it:
the requests in flight on its connections when they broke, whose answers
never came.  The run fails only when every server is lost.

Compiled with mypyc alongside ``wire`` (``gear.build``): the members are
native subclasses of native classes, so the per-batch path costs the same.
"""

from __future__ import annotations

from binascii import hexlify
from time import monotonic_ns
from typing import Final
from zlib import crc32

from gear.bench.bulk import BulkClient
from gear.bench.wire import T_JOB_ASSIGN, T_JOB_ASSIGN_UNIQ, Client, Tally, Worker, packet_type

_hexlify: Final = hexlify
_crc32: Final = crc32


class Cluster:
    """The servers of a multi-server run, as this process sees them.

    Args:
        tally: the process's counters (failed when every server is lost).
        names: the servers' ``host:port``, in the run's order.
    """

    def __init__(self, tally: Tally, names: list[str]) -> None:
        self.tally = tally
        #: ``host:port`` of each server
        self.names = names
        #: whether each server is still reachable
        self.alive = [True] * len(names)
        #: jobs each server took with it (in flight on its connections when lost)
        self.lost = [0] * len(names)
        #: servers not lost
        self.live = len(names)

    def server_lost(self, index: int, why: str) -> None:
        """Note that server ``index`` is gone; fail the run if it was the last."""
        if not self.alive[index]:
            return
        self.alive[index] = False
        self.live -= 1
        if not self.live:
            self.tally.fail(f"every server was lost (the last, {self.names[index]}: {why})")

    def losses(self) -> dict[str, int]:
        """Jobs lost per lost server's ``host:port``."""
        return {self.names[i]: self.lost[i] for i in range(len(self.names)) if not self.alive[i]}


def _why(exc: Exception | None) -> str:
    return f"{exc}" if exc else "connection closed"


def submits(client: Client, seqs: list[int]) -> bytes:
    """The requests of ``client`` for these unique ids, as one write."""
    data = client.tail
    if client.stamped:
        data = b"%b%b" % (_hexlify(monotonic_ns().to_bytes(8, "big")), client.rest)
    if client.echo:
        return (client.echo_head + data) * len(seqs)
    head, width = client.head, client.uid_bytes
    return b"".join(
        [b"%b%b\0%b" % (head, _hexlify(seq.to_bytes(width, "big")), data) for seq in seqs]
    )


class Spread:
    """One client of the run: a window of requests spread over every server.

    Args:
        tally: the process's counters.
        cluster: the run's servers.
        window: requests in flight, over all servers.
        seq_base: first unique id (see ``wire.Client``).
        by_unique: pick a job's server by CRC32 of its unique id (else round-robin).
    """

    def __init__(
        self, tally: Tally, cluster: Cluster, window: int, seq_base: int, by_unique: bool
    ) -> None:
        self.tally = tally
        self.cluster = cluster
        self.window = window
        self.seq_base = seq_base
        self.by_unique = by_unique
        #: one connection per server, in the cluster's order (set by ``join``)
        self.members: list[SpreadClient | SpreadBulkClient] = []
        self.rr = 0

    def join(self, member: SpreadClient | SpreadBulkClient) -> None:
        """Add the next server's connection."""
        self.members.append(member)

    def fill(self) -> None:
        """Issue requests until the window is full, each to its server."""
        tally = self.tally
        inflight = 0
        for member in self.members:
            inflight += member.inflight
        room = self.window - inflight
        left = tally.limit - tally.issued
        if left < room:
            room = left
        if room <= 0 or tally.stop_issuing:
            return
        alive = self.cluster.alive
        up = [alive[member.server] for member in self.members]
        if True not in up:
            return
        first = self.seq_base + tally.issued
        tally.issued += room
        tally.inflight += room
        if len(up) == 1:
            self.members[0].send(list(range(first, first + room)))
            return
        batches: list[list[int]] = [[] for _ in self.members]
        for seq in range(first, first + room):
            batches[self.pick(seq, up)].append(seq)
        for i, seqs in enumerate(batches):
            if seqs:
                self.members[i].send(seqs)

    def pick(self, seq: int, up: list[bool]) -> int:
        """The member for unique id ``seq``; ``up``: whether each member's server is."""
        n = len(up)
        if self.by_unique:
            width = self.members[0].uid_bytes
            at = _crc32(_hexlify(seq.to_bytes(width, "big"))) % n
        else:
            at = self.rr
            self.rr = (at + 1) % n
        while not up[at]:
            at = (at + 1) % n
        return at

    def lost(self, member: SpreadClient | SpreadBulkClient, why: str) -> None:
        """A server's connection broke: its requests in flight are lost."""
        tally, cluster = self.tally, self.cluster
        gone = member.inflight
        member.inflight = 0
        member.lost_jobs += gone
        cluster.lost[member.server] += gone
        tally.inflight -= gone
        cluster.server_lost(member.server, why)
        self.fill()
        tally.check()


class SpreadClient(Client):
    """A ``Spread``'s connection to one server (fg, herd, many).

    Args:
        spread: the client it belongs to.
        server: the server's index in the run.
        (the rest: see ``wire.Client``; its own window is unused)
    """

    def __init__(
        self,
        tally: Tally,
        ptype: int,
        function: bytes,
        size: int,
        seq_base: int,
        spread: Spread,
        server: int,
    ) -> None:
        super().__init__(tally, ptype, function, size, spread.window, seq_base)
        self.spread = spread
        self.server = server
        #: requests sent on this connection, and lost with it
        self.sent_total = 0
        self.lost_jobs = 0

    @property
    def answered(self) -> int:
        """Requests this server answered (or failed)."""
        return self.sent_total - self.inflight - self.lost_jobs

    def fill(self) -> None:
        """Refill the client's shared window (called after every answer)."""
        self.spread.fill()

    def send(self, seqs: list[int]) -> None:
        """Issue the requests with these unique ids on this connection."""
        self.inflight += len(seqs)
        self.sent_total += len(seqs)
        self.write(submits(self, seqs))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.closing = True
            self.spread.lost(self, _why(exc))


# SpreadBulkClient repeats SpreadClient's few members on purpose: both must be
# native subclasses of their own base (Client, BulkClient), and mypyc has no
# mixins for native classes (a trait comes after the base in the MRO, so it
# could not override ``fill`` or ``connection_lost``).
class SpreadBulkClient(BulkClient):
    """A ``Spread``'s connection to one server for bg submits or echoes (see ``SpreadClient``)."""

    def __init__(
        self,
        tally: Tally,
        ptype: int,
        function: bytes,
        size: int,
        seq_base: int,
        spread: Spread,
        server: int,
    ) -> None:
        super().__init__(tally, ptype, function, size, spread.window, seq_base)
        self.spread = spread
        self.server = server
        self.sent_total = 0
        self.lost_jobs = 0

    @property
    def answered(self) -> int:
        """Requests this server answered (or failed)."""
        return self.sent_total - self.inflight - self.lost_jobs

    def fill(self) -> None:
        """Refill the client's shared window (called after every answer)."""
        self.spread.fill()

    def send(self, seqs: list[int]) -> None:
        """Issue the requests with these unique ids, noting when (for latency)."""
        self.inflight += len(seqs)
        self.sent_total += len(seqs)
        self.write(submits(self, seqs))
        self.sent.append([len(seqs), monotonic_ns()])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.closing = True
            self.sent.clear()
            self.spread.lost(self, _why(exc))


class ServerWorker(Worker):
    """A worker's connection to one server of the run; counts its jobs.

    Args:
        cluster: the run's servers.
        server: the server's index in the run.
        (the rest: see ``wire.Worker``)
    """

    def __init__(
        self,
        tally: Tally,
        function: bytes,
        grabs: int,
        cluster: Cluster,
        server: int,
        idle: bool = False,
    ) -> None:
        super().__init__(tally, function, grabs, idle)
        self.cluster = cluster
        self.server = server
        #: jobs done on this connection
        self.jobs = 0

    def _answer(self, buf: bytes, pos: int, end: int) -> bytes:
        ptype = packet_type(buf, pos)
        if ptype == T_JOB_ASSIGN or ptype == T_JOB_ASSIGN_UNIQ:
            self.jobs += 1
        return super()._answer(buf, pos, end)

    def connection_lost(self, exc: Exception | None) -> None:
        """Lost with its server: stop waiting for it in the phase under way."""
        if self.closing:
            return
        self.closing = True
        tally = self.tally
        if not self.registered:
            self.registered = True
            tally.registered += 1
        elif tally.mode == "drain" and self.grabs_out:
            tally.finished += 1  # it would have finished at its last NO_JOB
        self.grabs_out = 0
        self.cluster.server_lost(self.server, _why(exc))
        tally.check()
