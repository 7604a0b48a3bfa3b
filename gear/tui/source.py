"""Where the dashboard's data comes from: the ``StatsSource`` seam.

Strategy: ``GearDashboard`` knows only the ``StatsSource`` protocol: one
``poll()`` per refresh returning a ``Snapshot``, and the three admin
actions.  ``AdminClientSource`` is the real one: a ``ServerPoller`` per
server, all read concurrently (each read a task of its own, so one server
that hangs delays a refresh by ``wait`` at most), then the pure steps (``rates.estimate`` per
server, ``aggregate.build_snapshot``, the sparkline ``History``).  A server
that is down stays in the list as down and is tried again at every refresh;
nothing here raises because a server is unreachable.  Tests and the
screenshots use ``gear.tui.fake.FakeSource`` instead (harlequin's adapter
idea: the UI is written against the interface, not the network).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from gear.client.admin import AsyncAdminClient
from gear.client.servers import ServerAddress, parse_servers
from gear.errors import GearError
from gear.tui.aggregate import build_snapshot
from gear.tui.model import ActionResult, Capabilities, Rates, Snapshot
from gear.tui.poller import ServerPoller, ServerReading
from gear.tui.rates import History, RateInput, ServerRates, counters_from_stats, estimate

__all__ = ["AdminClientSource", "StatsSource"]


class StatsSource(Protocol):
    """What the dashboard reads and asks of the job servers."""

    async def poll(self, selected: str | None) -> Snapshot:
        """One refresh; ``selected`` is the function whose jobs to list.

        Must not raise for a server that is down: it is shown as down.
        """
        ...

    async def cancel_job(self, server: str, handle: str) -> tuple[ActionResult, ...]:
        """``cancel job HANDLE`` on the server ``server``."""
        ...

    async def drop_function(self, function: str) -> tuple[ActionResult, ...]:
        """``drop function`` on every server that lists ``function``."""
        ...

    async def set_maxqueue(self, function: str, sizes: tuple[int, ...]) -> tuple[ActionResult, ...]:
        """``maxqueue FUNCTION [sizes]`` on every server that has the command."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class AdminClientSource:
    """The real source: admin connections to one or several servers.

    Args:
        servers: ``host[:port]`` strings (comma lists allowed) or addresses.
        timeout: seconds to wait for a connection and for each reply.
        wait: seconds a refresh waits for a slow server before showing its
            last reading (its read goes on and is used when it ends); None
            waits for every server.
        clock: monotonic clock for rates; injectable for tests.
        wall: wall clock for the snapshot's time.
    """

    def __init__(
        self,
        servers: Iterable[str | ServerAddress],
        *,
        timeout: float = 5.0,
        wait: float | None = None,
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        addresses = parse_servers(list(servers))
        if not addresses:
            raise ValueError("no server to watch")
        self.pollers = [
            ServerPoller(AsyncAdminClient(a.host, a.port, timeout=timeout, tls=tls), clock)
            for a in addresses
        ]
        self.wait = wait
        self._clock = clock
        self._wall = wall
        #: reads still running, by server address
        self._reading: dict[str, asyncio.Task[ServerReading]] = {}
        #: the last finished reading of each server, and its rates
        self._last: dict[str, tuple[ServerReading, ServerRates]] = {}
        self._previous: dict[str, RateInput] = {}
        #: monotonic time each server was last seen up
        self._last_up: dict[str, float] = {}
        #: function names each server listed at the last refresh
        self._functions: dict[str, set[str]] = {}
        self._history = History()

    async def poll(self, selected: str | None) -> Snapshot:
        """Read every server at once and build the snapshot."""
        tasks = []
        for poller in self.pollers:
            task = self._reading.get(poller.address)
            if task is None:
                task = asyncio.ensure_future(poller.read(selected))
                self._reading[poller.address] = task
            tasks.append(task)
        # the reads are tasks of their own: a slow server, or this poll being
        # cancelled for a newer one, leaves them running for the next poll
        await asyncio.wait(tasks, timeout=self.wait)
        readings, rates = [], {}
        for poller, task in zip(self.pollers, tasks, strict=True):
            if task.done():
                del self._reading[poller.address]
                fresh = task.result()
                self._last[poller.address] = (fresh, self._rates(fresh))
            reading, rate = self._last.get(poller.address) or self._no_answer_yet(poller)
            readings.append(reading)
            rates[reading.address] = rate
        snapshot = build_snapshot(
            readings,
            wall=self._wall(),
            selected=selected,
            rates=rates,
            down_since=self._last_up,
        )
        self._history.record({f.name: f.rates for f in snapshot.functions})
        self._history.forget(f.name for f in snapshot.functions)
        functions = tuple(replace(f, history=self._history.of(f.name)) for f in snapshot.functions)
        return replace(snapshot, functions=functions)

    def _no_answer_yet(self, poller: ServerPoller) -> tuple[ServerReading, ServerRates]:
        reading = ServerReading(
            address=poller.address, up=False, taken=self._clock(), error="no answer yet"
        )
        return reading, ServerRates(Rates())

    def _rates(self, reading: ServerReading) -> ServerRates:
        address = reading.address
        if not reading.up:
            self._previous.pop(address, None)
            self._functions.pop(address, None)
            return ServerRates(Rates())
        self._last_up[address] = reading.taken
        self._functions[address] = {s.function for s in reading.status}
        handles = None
        if reading.queue is not None and reading.queue_complete:
            handles = {q.handle: q.function for q in reading.queue}
        current = RateInput(
            taken=reading.taken,
            counters=counters_from_stats(reading.stats) if reading.stats is not None else None,
            handles=handles,
            workers=reading.worker_details,
            function_counters=None
            if reading.function_counters is None
            else {c.function: (c.submitted, c.finished) for c in reading.function_counters},
        )
        found = estimate(self._previous.get(address), current)
        self._previous[address] = current
        return found

    # ------------------------------------------------------------ actions --
    async def cancel_job(self, server: str, handle: str) -> tuple[ActionResult, ...]:
        """``cancel job HANDLE`` on ``server``."""
        pollers = [p for p in self.pollers if p.address == server]
        return await self._each(pollers, lambda c: c.cancel, lambda a: a.cancel_job(handle))

    async def drop_function(self, function: str) -> tuple[ActionResult, ...]:
        """``drop function`` on the servers that listed ``function``."""
        pollers = [p for p in self.pollers if function in self._functions.get(p.address, ())]
        return await self._each(pollers, lambda c: c.drop, lambda a: a.drop_function(function))

    async def set_maxqueue(self, function: str, sizes: tuple[int, ...]) -> tuple[ActionResult, ...]:
        """``maxqueue`` on every server that is up and has the command."""
        pollers = [p for p in self.pollers if p.kind is not None]
        return await self._each(
            pollers, lambda c: c.maxqueue, lambda a: a.maxqueue(function, *sizes)
        )

    async def _each(
        self,
        pollers: Sequence[ServerPoller],
        allowed: Callable[[Capabilities], bool],
        call: Callable[[AsyncAdminClient], Awaitable[object]],
    ) -> tuple[ActionResult, ...]:
        # each action gets a connection of its own: a refresh cancelled by the
        # user closes the poll connection, and must not take an action with it
        results = []
        for poller in pollers:
            if not allowed(poller.capabilities):
                kind = poller.kind.value if poller.kind else "this server"
                results.append(ActionResult(poller.address, False, f"not supported by {kind}"))
                continue
            polled = poller.client
            try:
                async with AsyncAdminClient(
                    polled.host, polled.port, timeout=polled.timeout, tls=polled.tls
                ) as a:
                    await call(a)
            except GearError as exc:
                results.append(ActionResult(poller.address, False, str(exc)))
            else:
                results.append(ActionResult(poller.address, True, "OK"))
        if not results:
            results.append(ActionResult("", False, "no server to ask"))
        return tuple(results)

    async def close(self) -> None:
        """Stop the reads still running and close every admin connection."""
        for task in self._reading.values():
            task.cancel()
        await asyncio.gather(*self._reading.values(), return_exceptions=True)
        self._reading.clear()
        for poller in self.pollers:
            await poller.close()
