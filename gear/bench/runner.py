"""Runs a scenario in one process or spread over several, and merges.

Strategy: with ``processes == 1`` the scenario runs on a fresh event loop in
this process (uvloop when installed).  With more, ``config.split`` deals the
connections out and each share runs in its own *spawned* process (no fork of
a process that may hold an event loop), each with its own loop; they meet at
a ``multiprocessing.Barrier`` between phases, waited on in a thread so the
loop keeps serving the workers meanwhile.  Each process sends its
``PartResult`` back through a pipe and the parent merges them.  A process
that stops early aborts the barrier, so the others stop instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from gear.bench.config import BenchConfig, BenchError, split
from gear.bench.engine import PartRun, run_part
from gear.bench.multi import MultiPartRun
from gear.bench.results import PartResult, ScenarioResult, merge_parts
from gear.bench.spawn import SpawnedServer
from gear.errors import ConnectError

T = TypeVar("T")
#: seconds a process may take to start, beyond the run's own timeout
_START_SLACK = 30.0


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a new event loop, uvloop's when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a default dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run_scenario(config: BenchConfig) -> ScenarioResult:
    """Run one scenario against the configured server and report it.

    Raises:
        BenchConfigError: the configuration is out of range.
        ConnectError: the server could not be reached.
        BenchError: a generator process died.
    """
    config.validate()
    if config.processes == 1:
        return merge_parts(config, [run_loop(run_part(config, kind=part_kind(config)))])
    return merge_parts(config, _run_processes(config))


def part_kind(config: BenchConfig) -> type[PartRun]:
    """The engine for ``config``: one server, or several (``multi``)."""
    return MultiPartRun if len(config.addresses) > 1 else PartRun


class BarrierSync:
    """The meeting point of several processes: a barrier waited on in a thread."""

    def __init__(self, barrier: threading.Barrier, timeout: float) -> None:
        self.barrier = barrier
        self.timeout = timeout

    async def wait(self) -> bool:
        """Wait for every process; False if the barrier broke."""
        try:
            await asyncio.to_thread(self.barrier.wait, self.timeout)
        except threading.BrokenBarrierError:
            return False
        return True

    def abort(self) -> None:
        """Break the barrier for everyone."""
        self.barrier.abort()


def _child(config: BenchConfig, barrier: Any, seq_base: int, conn: Connection) -> None:
    sync = BarrierSync(barrier, config.timeout)
    try:
        result: PartResult | str = run_loop(run_part(config, sync, seq_base, part_kind(config)))
    except ConnectError as exc:
        barrier.abort()
        result = f"connect:{exc}"
    except Exception as exc:  # reported to the parent, which raises it
        barrier.abort()
        result = f"error:{type(exc).__name__}: {exc}"
    conn.send(result)
    conn.close()


def _run_processes(config: BenchConfig) -> list[PartResult]:
    ctx = multiprocessing.get_context("spawn")
    shares = split(config)
    barrier = ctx.Barrier(len(shares))
    procs, pipes = [], []
    seq_base = 0
    for share in shares:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(share, barrier, seq_base, send), daemon=True)
        proc.start()
        send.close()
        procs.append(proc)
        pipes.append(recv)
        seq_base += share.count
    try:
        return _collect(config, pipes)
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _collect(config: BenchConfig, pipes: list[Connection]) -> list[PartResult]:
    results: dict[int, PartResult] = {}
    pending = list(pipes)
    while pending:
        ready = wait(pending, timeout=config.timeout + _START_SLACK)
        if not ready:
            raise BenchError("a generator process did not report in time")
        for pipe in ready:
            assert isinstance(pipe, Connection)
            pending.remove(pipe)
            try:
                got = pipe.recv()
            except EOFError:
                raise BenchError("a generator process died without a report") from None
            if isinstance(got, str):
                kind, _, message = got.partition(":")
                raise (ConnectError if kind == "connect" else BenchError)(message)
            results[pipes.index(pipe)] = got
    return [results[i] for i in sorted(results)]


def run_benchmark(
    config: BenchConfig,
    scenarios: Sequence[str],
    *,
    spawn: bool = False,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run ``scenarios`` one after the other; stop after one that fails.

    Args:
        config: the run (its ``scenario`` field is replaced by each of ``scenarios``).
        scenarios: scenario names, in order.
        spawn: start ``gear serve`` on a free port for the run instead of
            using ``config.host``/``config.port``.
        on_result: called with each scenario's result as soon as it is known.

    Raises:
        BenchConfigError: an option is out of range.
        ConnectError: the server could not be reached.
        BenchError: the spawned server did not start, or a generator process died.
    """
    for name in scenarios:
        config.for_scenario(name).validate()
    results: list[ScenarioResult] = []
    with contextlib.ExitStack() as stack:
        if spawn:
            server = stack.enter_context(SpawnedServer())
            config = replace(config, host="127.0.0.1", port=server.port, server_pid=server.pid)
        for name in scenarios:
            result = run_scenario(config.for_scenario(name))
            results.append(result)
            if on_result is not None:
                on_result(result)
            if result.failure or result.timed_out or result.lost:
                break
    return results
