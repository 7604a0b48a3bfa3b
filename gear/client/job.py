"""``Job``: one submitted job as its client sees it.

Strategy: a ``Job`` is the sink of a submit flow.  The client calls the
private ``_created``/``_update``/``_finished``/``_failed`` methods as the
flow reports; users only read attributes, await the job, or iterate its
updates.  Updates go to callbacks when the submitter gave any, otherwise
they are buffered for ``async for`` (so an unread stream costs memory only
for jobs that asked to be iterated).  A job can be re-submitted on another
server after its connection is lost (``_reset``): its handle changes and its
updates may be seen twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

from gear.errors import JobException, JobFailed, JobTimeout
from gear.protocol.constants import SUBMIT_TYPE, PacketType, Priority
from gear.protocol.packets import Packet

from .events import (
    JobCreated,
    JobData,
    JobOutcome,
    JobProgress,
    JobStatus,
    JobUpdate,
    JobWarning,
)
from .servers import ServerAddress

#: a callback for WORK_DATA or WORK_WARNING payloads
DataCallback = Callable[[bytes], None]
#: a callback for WORK_STATUS (numerator, denominator)
StatusCallback = Callable[[int, int], None]


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Job:
    """A job submitted through ``AsyncClient``.

    Await it (``await job`` or ``await job.wait(timeout)``) for the
    WORK_COMPLETE payload, or iterate ``async for update in job`` for its
    ``JobData``/``JobWarning``/``JobProgress`` updates (iteration ends when
    the job ends; await it afterwards for the result or the error).
    """

    def __init__(
        self,
        function: str,
        data: bytes,
        *,
        unique: bytes = b"",
        priority: Priority = Priority.NORMAL,
        background: bool = False,
        when: int | None = None,
        on_data: DataCallback | None = None,
        on_warning: DataCallback | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        #: the function name
        self.function = function
        #: the workload sent
        self.data = data
        #: the unique key (b"" for none)
        self.unique = unique
        #: the job's priority
        self.priority = priority
        #: whether the client detaches after JOB_CREATED
        self.background = background
        #: run no earlier than this epoch second (background jobs only)
        self.when = when
        #: the server's name for the job, once created
        self.handle: bytes | None = None
        #: the server the job was created on
        self.server: ServerAddress | None = None
        #: where the job is
        self.status = JobStatus.PENDING
        #: the WORK_COMPLETE payload, once complete
        self.result: bytes | None = None
        #: last WORK_STATUS numerator and denominator
        self.numerator = 0
        self.denominator = 0
        #: how many servers this job was submitted to (failover re-submits)
        self.attempts = 0
        self._on_data = on_data
        self._on_warning = on_warning
        self._on_status = on_status
        self._buffer: deque[JobUpdate] | None = (
            None if (on_data or on_warning or on_status) else deque()
        )
        loop = asyncio.get_running_loop()
        self._accepted: asyncio.Future[None] = loop.create_future()
        self._ended: asyncio.Future[bytes] = loop.create_future()
        self._accepted.add_done_callback(_consume)
        self._ended.add_done_callback(_consume)
        self._wakeup: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        handle = self.handle.decode(errors="replace") if self.handle else None
        return f"<Job {self.function} handle={handle} {self.status.value}>"

    # ------------------------------------------------------------ public --
    @property
    def done(self) -> bool:
        """Whether the job has ended (a background job once it is created)."""
        return self._ended.done()

    def packet(self) -> Packet:
        """The submit packet for this job."""
        if self.when is not None:
            return Packet.build(
                PacketType.SUBMIT_JOB_EPOCH, self.function, self.unique, self.when, self.data
            )
        ptype = SUBMIT_TYPE[(self.priority, self.background)]
        return Packet.build(ptype, self.function, self.unique, self.data)

    async def created(self) -> None:
        """Wait until a server has accepted the job (JOB_CREATED).

        Raises:
            ServerUnavailable: no server could take the job.
            ServerError: the server refused it.
        """
        await asyncio.shield(self._accepted)

    async def wait(self, timeout: float | None = None) -> bytes:
        """The WORK_COMPLETE payload (b"" for a background job).

        Args:
            timeout: seconds to wait; the job itself goes on after a timeout.

        Raises:
            JobFailed: the worker (or server) failed the job.
            JobException: the worker sent WORK_EXCEPTION (payload in ``args[0]``).
            JobTimeout: ``timeout`` passed first.
            ServerUnavailable, ServerError, ConnectError: it could not be run.
        """
        try:
            return await asyncio.wait_for(asyncio.shield(self._ended), timeout)
        except TimeoutError:
            raise JobTimeout(f"job {self.function} not done after {timeout} s") from None

    def __await__(self) -> Generator[Any, None, bytes]:
        return self.wait().__await__()

    def __aiter__(self) -> AsyncIterator[JobUpdate]:
        return self

    async def __anext__(self) -> JobUpdate:
        if self._buffer is None:
            raise TypeError("this job reports updates to callbacks; it cannot be iterated")
        while not self._buffer:
            if self._ended.done():
                raise StopAsyncIteration
            wakeup: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._wakeup = wakeup
            waits: list[asyncio.Future[Any]] = [wakeup, self._ended]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return self._buffer.popleft()

    # ------------------------------------------------- sink side (client) --
    def _created(self, event: JobCreated, server: ServerAddress) -> None:
        self.handle = event.handle
        self.server = server
        self.status = JobStatus.CREATED
        if not self._accepted.done():
            self._accepted.set_result(None)

    def _update(self, update: JobUpdate) -> None:
        if isinstance(update, JobProgress):
            self.numerator, self.denominator = update.numerator, update.denominator
            if self._on_status is not None:
                self._on_status(update.numerator, update.denominator)
        elif isinstance(update, JobData) and self._on_data is not None:
            self._on_data(update.data)
        elif isinstance(update, JobWarning) and self._on_warning is not None:
            self._on_warning(update.data)
        if self._buffer is not None:
            self._buffer.append(update)
            if self._wakeup is not None and not self._wakeup.done():
                self._wakeup.set_result(None)

    def _finished(self, outcome: JobOutcome) -> None:
        self.status = outcome.status
        if self._ended.done():
            return
        if outcome.status in (JobStatus.COMPLETE, JobStatus.CREATED):
            self.result = outcome.data
            self._ended.set_result(outcome.data)
        elif outcome.status is JobStatus.EXCEPTION:
            self._ended.set_exception(JobException(outcome.data))
        else:
            self._ended.set_exception(JobFailed(f"job {self.function} failed"))

    def _failed(self, exc: BaseException) -> None:
        self.status = JobStatus.ERROR
        for future in (self._accepted, self._ended):
            if not future.done():
                future.set_exception(exc)

    def _reset(self) -> None:
        """Forget the server before a re-submit elsewhere."""
        self.handle = None
        self.server = None
        self.status = JobStatus.PENDING
