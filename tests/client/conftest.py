"""Fixtures for library tests: workers that are always stopped, servers on fixed ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from gear.client import AsyncWorker
from gear.server import Server, ServerConfig
from tests.conftest import ServerProcess, start_gear_process


class WorkerRunner:
    """Starts workers as tasks; the fixture stops them all at teardown."""

    def __init__(self) -> None:
        self.tasks: list[tuple[AsyncWorker, asyncio.Task[int]]] = []

    def start(self, worker: AsyncWorker, **run_kwargs: Any) -> asyncio.Task[int]:
        task = asyncio.create_task(worker.run(**run_kwargs))
        self.tasks.append((worker, task))
        return task

    async def close(self) -> None:
        for worker, _ in self.tasks:
            worker.stop()
        for _, task in self.tasks:
            if not task.done():
                try:
                    await asyncio.wait_for(task, 5)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            elif not task.cancelled():
                task.exception()


@pytest.fixture
async def workers() -> AsyncIterator[WorkerRunner]:
    runner = WorkerRunner()
    yield runner
    await runner.close()


class FixedServer:
    """A gear server on a chosen port that can be stopped and started again."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.server: Server | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FixedServer:
        self.server = Server(
            ServerConfig(listen=["127.0.0.1"], port=self.port, job_handle_prefix="H:fixed")
        )
        await self.server.start()
        self.port = self.server.port
        self.task = asyncio.create_task(self.server.serve_forever())
        return self

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.request_shutdown(False)
            await asyncio.wait_for(self.task, 5)
            self.server = self.task = None


@pytest.fixture
async def fixed_servers() -> AsyncIterator[Callable[[], Any]]:
    made: list[FixedServer] = []

    async def make(port: int = 0) -> FixedServer:
        srv = await FixedServer(port).start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        await srv.stop()


@pytest.fixture
def server_process() -> Iterator[ServerProcess]:
    """``gear serve`` as a subprocess, stopped (pipes closed) afterwards."""
    srv = start_gear_process()
    yield srv
    srv.stop()
