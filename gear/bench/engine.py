"""Runs one scenario in one generator process: connect, phases, result.

Strategy: ``PartRun`` opens its share of connections, then walks the
scenario's phases.  A phase is: reset the stop condition on the ``Tally``,
read the clocks (monotonic, own CPU, the server's CPU, the machine's), kick
the connections off, await the tally's waiter (bounded by the hard deadline),
read the clocks again.  The protocols in ``wire`` do all the work in
between.  Between phases every process of the run meets at ``sync`` (a
no-op with one process), so the bg drain starts only once all submits of all
processes are done, and nobody closes its workers while another process
still has jobs in flight.

Scenarios:
  bg    submit phase (clients, SUBMIT_JOB_BG), then drain phase (workers
        CAN_DO + G GRAB_JOBs; a worker is finished at a NO_JOB with no grab
        outstanding: every job was queued before the drain began).
  fg    workers register and fall asleep, then the round-trip phase.
  herd  fg with ``idle`` more workers on the same function.
  many  fg with many connections, one job in flight each (a preset: see config).
  echo  ECHO_REQ round trips, no workers.
"""

from __future__ import annotations

import asyncio
import resource
import ssl
import time
from collections.abc import Callable
from typing import Protocol, cast

from gear.bench.bulk import BulkClient
from gear.bench.config import BenchConfig
from gear.bench.results import COUNTERS, PartResult
from gear.bench.stats import Phase, machine_cpu, pid_cpu, self_cpu
from gear.bench.wire import Client, Tally, Worker
from gear.client.tls import client_context
from gear.errors import ConnectError
from gear.protocol.constants import PacketType

#: (phase name, tally counter it counts, whether -d stops its issuing)
_COUNTED = {
    "submit": ("created", True),
    "drain": ("assigned", False),
    "rt": ("completed", True),
    "echo": ("completed", True),
}


class Sync(Protocol):
    """Where the processes of one run meet between phases."""

    async def wait(self) -> bool:
        """Wait for every process; False if the meeting was called off."""
        ...

    def abort(self) -> None:
        """Call every meeting off (this process stops early)."""
        ...


class NoSync:
    """The meeting point of a run with a single process."""

    async def wait(self) -> bool:
        """Nobody to wait for."""
        return True

    def abort(self) -> None:
        """Nothing to call off."""


def raise_fd_limit() -> None:
    """Let this process open as many sockets as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class PartRun:
    """One process's share of a scenario run.

    Args:
        config: this process's share (see ``config.split``).
        sync: the meeting point of the run's processes.
        seq_base: first unique id of this process's jobs.
    """

    def __init__(self, config: BenchConfig, sync: Sync, seq_base: int = 0) -> None:
        self.config = config
        self.sync = sync
        self.seq_base = seq_base
        self.tally = Tally(config.count)
        self.function = config.function.encode()
        self.clients: list[Client] = []
        self.workers: list[Worker] = []
        self.deadline = 0.0
        self.timed_out = False
        #: the TLS context of every connection (built here: configs cross processes)
        self.tls: ssl.SSLContext | None = None
        if config.uses_tls:
            self.tls = client_context(ca=config.tls_ca, cert=config.tls_cert, key=config.tls_key)

    async def run(self) -> PartResult:
        """Connect, run the phases, close; the partial figures on a timeout.

        Raises:
            ConnectError: a connection could not be opened.
        """
        self.deadline = time.monotonic() + self.config.timeout
        started = time.monotonic()
        connect_s = 0.0
        phases: list[Phase] = []
        try:
            await self._connect()
            connect_s = time.monotonic() - started
            await self._scenario(phases)
        finally:
            for conn in [*self.clients, *self.workers]:
                conn.close()
        tally = self.tally
        return PartResult(
            phases=tuple(phases),
            counters={name: getattr(tally, name) for name in COUNTERS}
            | {"grabs": tally.grabs + tally.assigned},
            latencies=tally.lat.tobytes(),
            latency_runs=tally.lat_runs.tobytes(),
            connect_s=connect_s,
            timed_out=self.timed_out,
            failure=tally.failure,
            first_error=tally.first_error,
            lost=self.losses(),
        )

    def losses(self) -> dict[str, int]:
        """Servers lost during the run and the jobs lost with each (none here)."""
        return {}

    def server_counts(self, name: str) -> tuple[int, ...]:
        """What each server has done so far in phase ``name`` (multi-server runs only)."""
        return ()

    async def _connect(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        ptype = {"bg": PacketType.SUBMIT_JOB_BG, "echo": PacketType.ECHO_REQ}.get(
            cfg.scenario, PacketType.SUBMIT_JOB
        )
        kind = Client if cfg.round_trips else BulkClient
        for _ in range(cfg.clients):
            client = kind(self.tally, ptype, self.function, cfg.size, cfg.window, self.seq_base)
            await self._open(loop, client)
            self.clients.append(client)
        if not cfg.uses_workers:
            return
        for i in range(cfg.workers + cfg.idle_workers):
            worker = Worker(self.tally, self.function, cfg.grabs, idle=i >= cfg.workers)
            await self._open(loop, worker)
            self.workers.append(worker)

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: Client | Worker,
        address: tuple[str, int] | None = None,
    ) -> None:
        host, port = address or (self.config.host, self.config.port)
        try:
            await asyncio.wait_for(
                # the protocols have asyncio.Protocol's interface, not its class (see wire)
                loop.create_connection(
                    lambda: cast(asyncio.Protocol, conn),
                    host,
                    port,
                    ssl=self.tls,
                    server_hostname=host if self.tls is not None else None,
                ),
                max(self.deadline - time.monotonic(), 0.001),
            )
        except (OSError, TimeoutError) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or "timed out"
            raise ConnectError(f"cannot connect to {host}:{port}: {why}") from None

    async def _scenario(self, phases: list[Phase]) -> None:
        scenario = self.config.scenario
        if self.config.round_trips:
            await self._register()
            if self.tally.failure or self.timed_out:
                self.sync.abort()
                return
        steps: list[tuple[str, Callable[[], None]]]
        if scenario == "bg":
            steps = [("submit", self._fill), ("drain", self._drain)]
        elif scenario == "echo":
            steps = [("echo", self._fill)]
        else:
            steps = [("rt", self._fill)]
        if not await self._meet():
            return
        for name, start in steps:
            phase, go_on = await self._phase(name, start)
            phases.append(phase)
            if not go_on:
                return

    async def _meet(self) -> bool:
        if await self.sync.wait():
            return True
        self.timed_out = self.timed_out or not self.tally.failure
        return False

    async def _register(self) -> None:
        tally = self.tally
        tally.mode, tally.expected = "register", len(self.workers)
        for worker in self.workers:
            worker.start()
        await self._await_phase()
        if not self.timed_out:
            # as gearbench: count what traffic does, not the set-up
            tally.no_jobs = tally.pre_sleeps = tally.grabs = 0

    def _fill(self) -> None:
        self.tally.mode = "clients"
        for client in self.clients:
            client.fill()

    def _drain(self) -> None:
        tally = self.tally
        tally.mode, tally.expected, tally.finished = "drain", len(self.workers), 0
        for worker in self.workers:
            worker.start(self.config.grabs)

    async def _phase(self, name: str, start: Callable[[], None]) -> tuple[Phase, bool]:
        """Run one phase; whether the scenario may go on after it.

        The generator's CPU is read after every process has finished the
        phase (the meeting): until then this one's workers may still be
        serving another process's clients.
        """
        tally, cfg = self.tally, self.config
        counter, soft = _COUNTED[name]
        before = getattr(tally, counter)
        loop = asyncio.get_running_loop()
        stopper = None
        if soft and cfg.duration > 0:
            stopper = loop.call_later(cfg.duration, self._stop_issuing)
        srv0, all0, gen0 = pid_cpu(cfg.server_pid, *cfg.more_pids), machine_cpu(), self_cpu()
        per0 = self.server_counts(name)
        tally.t_last = 0
        t0 = time.monotonic_ns()
        start()
        await self._await_phase()
        t1 = time.monotonic_ns() if name == "drain" or not tally.t_last else tally.t_last
        srv1, all1 = pid_cpu(cfg.server_pid, *cfg.more_pids), machine_cpu()
        per1 = self.server_counts(name)
        if stopper is not None:
            stopper.cancel()
        if tally.failure or self.timed_out:
            self.sync.abort()
            go_on = False
        else:
            go_on = await self._meet()
        gen1 = self_cpu()
        tally.settle()
        tally.stop_issuing = False
        phase = Phase(
            name=name,
            count=getattr(tally, counter) - before,
            t0=t0,
            t1=max(t1, t0 + 1),
            gen_cpu=gen1 - gen0,
            srv_cpu=(srv0, srv1),
            all_cpu=(all0, all1),
            per_server=tuple(b - a for a, b in zip(per0, per1, strict=True)),
        )
        return phase, go_on

    def _stop_issuing(self) -> None:
        self.tally.stop_issuing = True
        self.tally.check()

    async def _await_phase(self) -> None:
        tally = self.tally
        tally.waiter = asyncio.get_running_loop().create_future()
        tally.check()
        try:
            await asyncio.wait_for(tally.waiter, max(self.deadline - time.monotonic(), 0.001))
        except TimeoutError:
            self.timed_out = True
        finally:
            tally.waiter = None


async def run_part(
    config: BenchConfig,
    sync: Sync | None = None,
    seq_base: int = 0,
    kind: type[PartRun] = PartRun,
) -> PartResult:
    """Run ``config``'s scenario with this process's connections.

    ``kind`` is the ``PartRun`` class (``multi.MultiPartRun`` for several servers).

    Raises:
        ConnectError: the server could not be reached.
    """
    raise_fd_limit()
    return await kind(config, sync or NoSync(), seq_base).run()
