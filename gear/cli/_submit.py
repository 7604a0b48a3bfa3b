"""``gear submit`` as a function: ``run_submit(SubmitConfig) -> exit code``.

Strategy: inputs are produced lazily (arguments, one stdin blob, or stdin
lines read in a thread as they arrive) and each becomes one job per
function.  At most ``window`` jobs are in flight.  Output keeps input order
without giving up streaming: every job writes into its own ``_Slot`` of an
``_OrderedOutput``; the oldest unfinished job writes straight through (so a
single job's WORK_DATA appears as it arrives), later jobs buffer until they
become the oldest.  WORK_DATA/COMPLETE go to stdout raw; warnings,
exceptions, failures and progress go to stderr.  The exit code is the
largest of the jobs' codes.

Ending early: stdout's reader going away (``| head -1``) or SIGINT/SIGTERM
stops the run: nothing more is submitted and the jobs in flight are
abandoned.  A closed stdout ends quietly with 141; a signal with 128 + its
number and one line saying how many jobs were submitted and answered.
Writes never raise (``_OrderedOutput.emit``), so no job task dies of a
broken pipe, and stdin is read on a daemon thread (``StdinReader``) so an
exit never waits for the next line typed.
A server lost mid-run gets one stderr line at the end: how many jobs were in
flight on it, re-submitted or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from gear.client import AsyncClient, Priority, ServerLoss
from gear.client.servers import ServerAddress
from gear.errors import (
    ConnectError,
    GearError,
    JobException,
    JobFailed,
    ServerUnavailable,
)

from ._common import EXIT_OK, EXIT_STDOUT_CLOSED, exit_code
from ._stdin import StdinReader
from ._stdout import discard_stdout, is_broken_pipe


@dataclass
class SubmitConfig:
    """Everything ``gear submit`` was told."""

    #: servers to spread jobs over
    servers: list[ServerAddress]
    #: every input is submitted once to each of these
    functions: list[str]
    #: DATA arguments, one job each; None means "read stdin"
    payloads: list[bytes] | None = None
    #: one job per stdin line (newline kept)
    lines: bool = False
    #: one job per stdin line, newline removed
    strip_newline: bool = False
    #: one job with an empty workload; stdin is not read
    no_input: bool = False
    #: detach after JOB_CREATED
    background: bool = False
    #: HIGH, NORMAL or LOW
    priority: Priority = Priority.NORMAL
    #: unique key for every job
    unique: str | None = None
    #: run no earlier than this epoch (background)
    at: float | None = None
    #: run no earlier than this many seconds from now (background)
    delay: float | None = None
    #: prefix each output chunk with "FUNCTION: "
    prefix: bool = False
    #: seconds each job may take
    timeout: float | None = None
    #: print job handles
    verbose: bool = False
    #: most jobs in flight at once
    window: int = 100
    #: progress bar instead of "N% complete" lines (default: stderr is a TTY)
    progress_bar: bool | None = None
    #: TLS context of the connections (None: plain TCP)
    tls: ssl.SSLContext | None = None
    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: BinaryIO = field(default_factory=lambda: sys.stderr.buffer)


class _OrderedOutput:
    """Writes each job's output in submission order, streaming the oldest.

    Writing never raises: a stdout whose reader went away calls
    ``on_stdout_closed`` once and swallows what comes after; so does a
    stderr nobody reads (there is nowhere left to say so).
    """

    def __init__(self, stdout: BinaryIO, on_stdout_closed: Callable[[], None]) -> None:
        self._slots: deque[_Slot] = deque()
        self._stdout = stdout
        self._on_stdout_closed = on_stdout_closed
        #: streams whose reader went away
        self._gone: list[BinaryIO] = []

    def slot(self) -> _Slot:
        slot = _Slot(self)
        self._slots.append(slot)
        return slot

    def is_head(self, slot: _Slot) -> bool:
        return bool(self._slots) and self._slots[0] is slot

    def finished(self) -> None:
        slots = self._slots
        while slots and slots[0].closed:
            slots.popleft()
            if slots:
                slots[0].flush()

    def emit(self, stream: BinaryIO, data: bytes) -> None:
        """Write and flush ``data`` now."""
        if any(stream is gone for gone in self._gone):
            return
        try:
            stream.write(data)
            stream.flush()
        except OSError as exc:
            if not is_broken_pipe(exc):
                raise
            self._gone.append(stream)
            if stream is self._stdout:
                self._on_stdout_closed()


class _Slot:
    """One job's place in the output."""

    def __init__(self, owner: _OrderedOutput) -> None:
        self.owner = owner
        self.pending: list[tuple[BinaryIO, bytes]] = []
        self.closed = False

    def write(self, stream: BinaryIO, data: bytes) -> None:
        if not data:
            return
        if self.owner.is_head(self):
            self.owner.emit(stream, data)
        else:
            self.pending.append((stream, data))

    def flush(self) -> None:
        for stream, data in self.pending:
            self.owner.emit(stream, data)
        self.pending.clear()

    def close(self) -> None:
        self.closed = True
        self.owner.finished()


class _Submitter:
    """One ``gear submit`` run."""

    def __init__(self, config: SubmitConfig, client: AsyncClient) -> None:
        self.config = config
        self.client = client
        self.output = _OrderedOutput(config.stdout, lambda: self.stop(EXIT_STDOUT_CLOSED))
        self.window = asyncio.Semaphore(max(1, config.window))
        self.codes: list[int] = []
        self.fatal: str | None = None
        #: jobs the servers accepted, and those of them that ended
        self.submitted = 0
        self.answered = 0
        #: the exit code of a run stopped early (closed stdout, a signal)
        self.stopped: int | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self, code: int) -> None:
        """End the run now: submit nothing more, abandon the jobs in flight."""
        if self.stopped is None:
            self.stopped = code
            self._stop.set()

    async def run(self) -> int:
        feeder = asyncio.create_task(self._feed())
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait((feeder, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = (feeder, stopping, *self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.stopped is not None:
            return self.stopped
        feeder.result()  # what reading the input raised, if anything
        return max(self.codes, default=EXIT_OK)

    async def _feed(self) -> None:
        async for payload in _inputs(self.config):
            for function in self.config.functions:
                await self.window.acquire()
                if self.fatal is not None:
                    break
                slot = self.output.slot()
                task = asyncio.create_task(self.one(function, payload, slot))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if self.fatal is not None:
                break
        await asyncio.gather(*self._tasks)

    async def one(self, function: str, payload: bytes, slot: _Slot) -> None:
        pfx = f"{function}: ".encode() if self.config.prefix else b""
        err = self.config.stderr
        try:
            await self._submit(function, payload, slot, pfx)
        except (ConnectError, ServerUnavailable) as exc:
            self.codes.append(exit_code(exc))
            if self.fatal is None:
                self.fatal = str(exc)
                slot.write(err, f"gear submit: {exc}\n".encode())
        except JobFailed:
            self.answered += 1
            self.codes.append(exit_code(JobFailed()))
            slot.write(err, pfx + b"Job failed\n")
        except JobException as exc:
            self.answered += 1
            self.codes.append(exit_code(exc))
            data = exc.args[0] if exc.args else b""
            text = data if isinstance(data, bytes) else str(data).encode()
            slot.write(err, pfx + text + (b"" if text.endswith(b"\n") else b"\n"))
        except GearError as exc:
            self.codes.append(exit_code(exc))
            slot.write(err, f"gear submit: {function}: {exc}\n".encode())
        finally:
            slot.close()
            self.window.release()

    async def _submit(self, function: str, payload: bytes, slot: _Slot, pfx: bytes) -> None:
        cfg = self.config
        if cfg.background or cfg.at is not None or cfg.delay is not None:
            job = await self.client.submit_background(
                function,
                payload,
                unique=cfg.unique,
                priority=cfg.priority,
                at=cfg.at,
                delay=cfg.delay,
                timeout=cfg.timeout,
            )
            self.submitted += 1
            if cfg.verbose:
                slot.write(cfg.stdout, (job.handle or b"") + b"\n")
            self.codes.append(EXIT_OK)
            return
        progress = _Progress(cfg, slot, pfx)
        job = await self.client.submit_job(
            function,
            payload,
            unique=cfg.unique,
            priority=cfg.priority,
            on_data=lambda data: slot.write(cfg.stdout, pfx + data),
            on_warning=lambda data: slot.write(cfg.stderr, pfx + data),
            on_status=progress.update,
            timeout=cfg.timeout,
        )
        self.submitted += 1
        if cfg.verbose:
            slot.write(cfg.stderr, b"Task created: " + (job.handle or b"") + b"\n")
        try:
            result = await job.wait(cfg.timeout)
        finally:
            progress.end()
        self.answered += 1
        slot.write(cfg.stdout, pfx + result if result else b"")
        self.codes.append(EXIT_OK)

    def interrupted(self) -> str:
        """What a signal stopped: ``interrupted: 3 jobs submitted, 2 answered``."""
        jobs = f"{self.submitted} job{'' if self.submitted == 1 else 's'}"
        cfg = self.config
        if cfg.background or cfg.at is not None or cfg.delay is not None:
            return f"interrupted: {jobs} queued"
        return f"interrupted: {jobs} submitted, {self.answered} answered"


class _Progress:
    """WORK_STATUS as a bar on a terminal, or ``N% complete`` lines."""

    def __init__(self, config: SubmitConfig, slot: _Slot, pfx: bytes) -> None:
        self.slot = slot
        self.stderr = config.stderr
        self.pfx = pfx
        bar = config.progress_bar
        self.bar = bar if bar is not None else _isatty(config.stderr)
        self.drawn = False

    def update(self, numerator: int, denominator: int) -> None:
        pct = 100 * numerator // denominator if denominator else 0
        if not self.bar:
            self.slot.write(self.stderr, self.pfx + f"{pct}% complete\n".encode())
        elif self.slot.owner.is_head(self.slot):
            filled = min(30, pct * 30 // 100)
            line = f"\r{self.pfx.decode(errors='replace')}[{'#' * filled}{'.' * (30 - filled)}]"
            self.slot.owner.emit(
                self.stderr, f"{line} {pct:3d}% ({numerator}/{denominator})".encode()
            )
            self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.slot.owner.emit(self.stderr, b"\n")


def _isatty(stream: BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def _inputs(config: SubmitConfig) -> AsyncIterator[bytes]:
    """The workloads, in order."""
    if config.payloads:
        for payload in config.payloads:
            yield payload
    elif config.no_input:
        yield b""
    elif config.lines or config.strip_newline:
        async for line in _stdin_lines(StdinReader(config.stdin)):
            yield line.rstrip(b"\r\n") if config.strip_newline else line
    else:
        yield await _read_all(StdinReader(config.stdin))


async def _read_all(reader: StdinReader) -> bytes:
    chunks = []
    while chunk := await reader.read():
        chunks.append(chunk)
    return b"".join(chunks)


async def _stdin_lines(reader: StdinReader) -> AsyncIterator[bytes]:
    """Lines of stdin as they arrive."""
    rest = b""
    while chunk := await reader.read():
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
    if rest:
        yield rest


@contextlib.contextmanager
def _signals_stop(submitter: _Submitter) -> Iterator[None]:
    """SIGINT and SIGTERM stop the run with 128 + the signal (no KeyboardInterrupt)."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, submitter.stop, 128 + signum)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def run_submit(config: SubmitConfig) -> int:
    """Submit every input to every function; return the exit code.

    Raises:
        CommandError (via ``_common.run``): nothing else escapes.
    """
    async with AsyncClient(config.servers, exceptions=True, tls=config.tls) as client:
        submitter = _Submitter(config, client)
        with _signals_stop(submitter):
            code = await submitter.run()
        losses = list(client.losses.values())
    if submitter.stopped == EXIT_STDOUT_CLOSED:
        discard_stdout()
        return code
    for loss in losses:
        submitter.output.emit(config.stderr, loss_line(loss).encode())
    if submitter.stopped is not None:
        note = f"gear submit: {submitter.interrupted()}\n".encode()
        submitter.output.emit(config.stderr, note)
    return code


def loss_line(loss: ServerLoss) -> str:
    """One stderr line about a server lost mid-run and its jobs."""
    times = "" if loss.connections == 1 else f" ({loss.connections} times)"
    return (
        f"gear submit: lost {loss.server} mid-run{times}: {loss.jobs} jobs in flight there, "
        f"{loss.resubmitted} re-submitted to another server, {loss.failed} failed\n"
    )
