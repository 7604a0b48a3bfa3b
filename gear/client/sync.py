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
import functools
import ssl
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from gear._closing import Blocking

from .client import AsyncClient
from .events import JobStatus, JobUpdate, ServerLoss
from .job import Job
from .servers import ServerAddress, ServerSpec
from .worker import AsyncWorker, Handler

T = TypeVar("T")
P = ParamSpec("P")


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


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Client, P], T]:
    """``Client``'s twin of an ``AsyncClient`` method: same parameters, run to completion."""

    @functools.wraps(method)
    def run(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self.async_client, *args, **kwargs))

    return run


def _blocking_job(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, Job]],
) -> Callable[Concatenate[Client, P], BlockingJob]:
    """As ``_blocking``, for a method returning a ``Job``: the job comes back blocking too."""

    @functools.wraps(method)
    def run(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> BlockingJob:
        return BlockingJob(self._run(method(self.async_client, *args, **kwargs)), self._runner)

    return run


class Client(Blocking):
    """The blocking twin of ``AsyncClient``: the same arguments, and the same methods
    (their signatures are ``AsyncClient``'s, so type checkers check calls)."""

    def __init__(
        self,
        servers: ServerSpec | Iterable[ServerSpec] | None = None,
        *,
        exceptions: bool = False,
        timeout: float | None = None,
        connect_timeout: float = 5.0,
        failover: bool = True,
        backoff_max: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        #: the asyncio client doing the work
        self.async_client = AsyncClient(
            servers,
            exceptions=exceptions,
            timeout=timeout,
            connect_timeout=connect_timeout,
            failover=failover,
            backoff_max=backoff_max,
            tls=tls,
        )

    @property
    def servers(self) -> list[ServerAddress]:
        """The servers, in the order given."""
        return self.async_client.servers

    async def _aclose(self) -> None:
        await self.async_client.close()

    @property
    def losses(self) -> dict[str, ServerLoss]:
        """Servers lost while in use and the jobs lost with each (``AsyncClient.losses``)."""
        return self.async_client.losses

    #: run a foreground job; see ``AsyncClient.submit``
    submit = _blocking(AsyncClient.submit)
    #: queue a background job; see ``AsyncClient.submit_background``
    submit_background = _blocking(AsyncClient.submit_background)
    #: submit a job and return it once created; see ``AsyncClient.submit_job``
    submit_job = _blocking_job(AsyncClient.submit_job)
    #: GET_STATUS; see ``AsyncClient.get_status``
    get_status = _blocking(AsyncClient.get_status)
    #: GET_STATUS_UNIQUE; see ``AsyncClient.get_status_unique``
    get_status_unique = _blocking(AsyncClient.get_status_unique)
    #: ECHO_REQ; see ``AsyncClient.echo``
    echo = _blocking(AsyncClient.echo)


class Worker:
    """The blocking twin of ``AsyncWorker`` (same arguments).

    Plain handler functions run in threads, so ``concurrency`` applies to
    them too; ``stop()`` may be called from any thread (or a handler).
    """

    def __init__(
        self,
        servers: ServerSpec | Iterable[ServerSpec] | None = None,
        *,
        client_id: str | None = None,
        concurrency: int = 1,
        connect_timeout: float = 5.0,
        backoff_max: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        #: the asyncio worker doing the work
        self.async_worker = AsyncWorker(
            servers,
            client_id=client_id,
            concurrency=concurrency,
            connect_timeout=connect_timeout,
            backoff_max=backoff_max,
            tls=tls,
        )
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
