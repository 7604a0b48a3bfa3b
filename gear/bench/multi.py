"""One process's share of a run over several servers (``gear bench -s A -s B ...``).

Strategy: ``MultiPartRun`` is the engine's ``PartRun`` with other
connections; the phases, the stop conditions and the clocks are the same.
Each client is a ``spread.Spread`` (one connection per server, one shared
window, each job to the server its unique id hashes to, or round-robin;
with ``--spread conn``, and for echoes, each server's connection keeps a
window of its own instead) and
each worker is one connection per server, as Gearman scales out: clients
spread over the job servers, workers serve them all.  What it adds:

- per-server counts for each phase (``server_counts``): the answers each
  server gave the clients (submit, rt, echo), or the jobs its workers did
  (drain), so the report has each server's rate beside the aggregate;
- losses (``losses``): a server whose connections break mid-run is skipped
  from then on, the requests in flight on it are counted as lost, and the
  run goes on with the others.  A bg run also counts the jobs a lost server
  had acknowledged but never handed to a worker.
"""

from __future__ import annotations

import asyncio

from gear.bench.engine import PartRun
from gear.bench.spread import Cluster, ServerWorker, Spread, SpreadBulkClient, SpreadClient
from gear.protocol.constants import PacketType


class MultiPartRun(PartRun):
    """One process's share of a scenario over every server of ``config.addresses``."""

    cluster: Cluster
    spreads: list[Spread]

    async def _connect(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        addresses = cfg.addresses
        self.cluster = Cluster(self.tally, [f"{h}:{p}" for h, p in addresses])
        self.spreads = []
        ptype = {"bg": PacketType.SUBMIT_JOB_BG, "echo": PacketType.ECHO_REQ}.get(
            cfg.scenario, PacketType.SUBMIT_JOB
        )
        kind = SpreadClient if cfg.round_trips else SpreadBulkClient
        by_unique = cfg.spread == "unique"
        # echoes are not spread (see ``spread``); "conn": a window per connection
        solo = cfg.scenario == "echo" or cfg.spread == "conn"
        for _ in range(cfg.clients):
            spread = Spread(self.tally, self.cluster, cfg.window, self.seq_base, by_unique)
            for index, address in enumerate(addresses):
                if solo and spread.members:
                    self.spreads.append(spread)
                    spread = Spread(self.tally, self.cluster, cfg.window, self.seq_base, False)
                member = kind(
                    self.tally, ptype, self.function, cfg.size, self.seq_base, spread, index
                )
                await self._open(loop, member, address)
                spread.join(member)
                self.clients.append(member)
            self.spreads.append(spread)
        if not cfg.uses_workers:
            return
        for i in range(cfg.workers + cfg.idle_workers):
            for index, address in enumerate(addresses):
                worker = ServerWorker(
                    self.tally, self.function, cfg.grabs, self.cluster, index, idle=i >= cfg.workers
                )
                await self._open(loop, worker, address)
                self.workers.append(worker)

    def _fill(self) -> None:
        self.tally.mode = "clients"
        for spread in self.spreads:
            spread.fill()

    def server_counts(self, name: str) -> tuple[int, ...]:
        """Answers per server (submit, rt, echo) or jobs done per server (drain)."""
        counts = [0] * len(self.config.addresses)
        if name == "drain":
            for worker in self.workers:
                assert isinstance(worker, ServerWorker)
                counts[worker.server] += worker.jobs
        else:
            for client in self.clients:
                assert isinstance(client, SpreadClient | SpreadBulkClient)
                counts[client.server] += client.answered
        return tuple(counts)

    def losses(self) -> dict[str, int]:
        """Lost servers and their lost jobs (bg: also those queued there, never drained)."""
        if not hasattr(self, "cluster"):
            return {}
        lost = self.cluster.losses()
        if self.config.scenario == "bg" and lost:
            created = [0] * len(self.config.addresses)
            for client in self.clients:
                assert isinstance(client, SpreadBulkClient)
                created[client.server] += client.answered
            drained = self.server_counts("drain")
            for i, name in enumerate(self.cluster.names):
                if name in lost:
                    lost[name] += created[i] - drained[i]
        return lost
