"""Blocking front doors, ``Client`` and ``Worker``, over the asyncio ones.

Strategy (httpx's two front doors over one core, done the cheap way): each
facade owns a private event loop (``asyncio.Runner``) and runs the async
method to completion on it, so there is exactly one implementation of every
behaviour.  Connections stay open between calls; the loop simply is not
running while the caller does other things.  A facade must not be used from
inside a running event loop (use the async class there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from gear.protocol.constants import Priority

from .client import AsyncClient
from .events import JobInfo, JobStatus, JobUpdate, ServerLoss
from .job import DataCallback, Job, StatusCallback
from .servers import ServerAddress, ServerSpec
from .worker import AsyncWorker, Handler

T = TypeVar("T")


class BlockingJob:
    """A ``Job`` seen through a ``Client``: wait for it or iterate its updates."""

    def __init__(self, job: Job, runner: asyncio.Runner) -> None:
        #: the underlying asyncio job
        self.job = job
        self._runner = runner

    @property
    def handle(self) -> bytes | None:
        """The server's name for the job."""
        return self.job.handle

    @property
    def status(self) -> JobStatus:
        """Where the job is."""
        return self.job.status

    def wait(self, timeout: float | None = None) -> bytes:
        """Block until the job ends; see ``Job.wait``."""
        return self._runner.run(self.job.wait(timeout))

    def __iter__(self) -> Iterator[JobUpdate]:
        iterator = self.job.__aiter__()

        async def next_update() -> JobUpdate | None:
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                return None

        while (update := self._runner.run(next_update())) is not None:
            yield update


class Client:
    """The blocking twin of ``AsyncClient`` (same arguments)."""

    def __init__(self, servers: ServerSpec | Iterable[ServerSpec] | None = None, **kwargs: Any):
        self._runner = asyncio.Runner()
        #: the asyncio client doing the work
        self.async_client = AsyncClient(servers, **kwargs)

    @property
    def servers(self) -> list[ServerAddress]:
        """The servers, in the order given."""
        return self.async_client.servers

    @property
    def losses(self) -> dict[str, ServerLoss]:
        """Servers lost while in use and the jobs lost with each (``AsyncClient.losses``)."""
        return self.async_client.losses

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and the private loop."""
        self._runner.run(self.async_client.close())
        self._runner.close()

    def submit(
        self,
        function: str,
        data: bytes | str = b"",
        *,
        unique: bytes | str | None = None,
        priority: Priority = Priority.NORMAL,
        timeout: float | None = None,
        on_data: DataCallback | None = None,
        on_warning: DataCallback | None = None,
        on_status: StatusCallback | None = None,
    ) -> bytes:
        """Run a foreground job; see ``AsyncClient.submit``."""
        return self._runner.run(
            self.async_client.submit(
                function,
                data,
                unique=unique,
                priority=priority,
                timeout=timeout,
                on_data=on_data,
                on_warning=on_warning,
                on_status=on_status,
            )
        )

    def submit_background(self, function: str, data: bytes | str = b"", **kwargs: Any) -> Job:
        """Queue a background job; see ``AsyncClient.submit_background``."""
        return self._runner.run(self.async_client.submit_background(function, data, **kwargs))

    def submit_job(self, function: str, data: bytes | str = b"", **kwargs: Any) -> BlockingJob:
        """Submit a job and return it once created; see ``AsyncClient.submit_job``."""
        job = self._runner.run(self.async_client.submit_job(function, data, **kwargs))
        return BlockingJob(job, self._runner)

    def get_status(self, handle: bytes | str, **kwargs: Any) -> JobInfo:
        """GET_STATUS; see ``AsyncClient.get_status``."""
        return self._runner.run(self.async_client.get_status(handle, **kwargs))

    def get_status_unique(self, unique: bytes | str, **kwargs: Any) -> JobInfo:
        """GET_STATUS_UNIQUE; see ``AsyncClient.get_status_unique``."""
        return self._runner.run(self.async_client.get_status_unique(unique, **kwargs))

    def echo(self, data: bytes | str = b"", **kwargs: Any) -> bytes:
        """ECHO_REQ; see ``AsyncClient.echo``."""
        return self._runner.run(self.async_client.echo(data, **kwargs))


class Worker:
    """The blocking twin of ``AsyncWorker`` (same arguments).

    Plain handler functions run in threads, so ``concurrency`` applies to
    them too; ``stop()`` may be called from any thread (or a handler).
    """

    def __init__(self, servers: ServerSpec | Iterable[ServerSpec] | None = None, **kwargs: Any):
        #: the asyncio worker doing the work
        self.async_worker = AsyncWorker(servers, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None

    def function(self, name: str, *, timeout: float | None = None) -> Callable[[Handler], Handler]:
        """Decorator registering a function; see ``AsyncWorker.register``."""
        return self.async_worker.function(name, timeout=timeout)

    def register(self, name: str, handler: Handler, *, timeout: float | None = None) -> None:
        """Register a function; see ``AsyncWorker.register``."""
        self.async_worker.register(name, handler, timeout=timeout)

    def run(self, *, until_idle: bool = False, max_jobs: int | None = None) -> int:
        """Block running jobs until stopped; see ``AsyncWorker.run``."""

        async def main() -> int:
            self._loop = asyncio.get_running_loop()
            try:
                return await self.async_worker.run(until_idle=until_idle, max_jobs=max_jobs)
            finally:
                self._loop = None

        return asyncio.run(main())

    def stop(self) -> None:
        """Stop taking jobs; ``run`` returns when running jobs are done."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self.async_worker.stop)
