"""``gear submit`` as a function: ``run_submit(SubmitConfig) -> exit code``.

Strategy: inputs are produced lazily (arguments, one stdin blob, or stdin
lines read in a thread as they arrive) and each becomes one job per
function.  At most ``window`` jobs are in flight.  Output keeps input order
without giving up streaming: every job writes into its own ``_Slot`` of an
``_OrderedOutput``; the oldest unfinished job writes straight through (so a
single job's WORK_DATA appears as it arrives), later jobs buffer until they
become the oldest.  WORK_DATA/COMPLETE go to stdout raw; warnings,
exceptions, failures and progress go to stderr.  The exit code is the
largest of the jobs' codes.  A server lost mid-run gets one stderr line at
the end: how many jobs were in flight on it, re-submitted or failed.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import BinaryIO

from gear.client import AsyncClient, ServerLoss
from gear.client.servers import ServerAddress
from gear.errors import (
    ConnectError,
    GearError,
    JobException,
    JobFailed,
    ServerUnavailable,
)
from gear.protocol.constants import Priority

from ._common import EXIT_OK, exit_code

_READ_SIZE = 65536


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
    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: BinaryIO = field(default_factory=lambda: sys.stderr.buffer)


class _OrderedOutput:
    """Writes each job's output in submission order, streaming the oldest."""

    def __init__(self) -> None:
        self._slots: deque[_Slot] = deque()

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
            stream.write(data)
            stream.flush()
        else:
            self.pending.append((stream, data))

    def flush(self) -> None:
        for stream, data in self.pending:
            stream.write(data)
            stream.flush()
        self.pending.clear()

    def close(self) -> None:
        self.closed = True
        self.owner.finished()


class _Submitter:
    """One ``gear submit`` run."""

    def __init__(self, config: SubmitConfig, client: AsyncClient) -> None:
        self.config = config
        self.client = client
        self.output = _OrderedOutput()
        self.window = asyncio.Semaphore(max(1, config.window))
        self.codes: list[int] = []
        self.fatal: str | None = None

    async def run(self) -> int:
        tasks: list[asyncio.Task[None]] = []
        async for payload in _inputs(self.config):
            for function in self.config.functions:
                await self.window.acquire()
                if self.fatal is not None:
                    break
                slot = self.output.slot()
                tasks.append(asyncio.create_task(self.one(function, payload, slot)))
            if self.fatal is not None:
                break
        await asyncio.gather(*tasks)
        return max(self.codes, default=EXIT_OK)

    async def one(self, function: str, payload: bytes, slot: _Slot) -> None:
        pfx = f"{function}: ".encode() if self.config.prefix else b""
        try:
            await self._submit(function, payload, slot, pfx)
        except (ConnectError, ServerUnavailable) as exc:
            self.codes.append(exit_code(exc))
            if self.fatal is None:
                self.fatal = str(exc)
                slot.write(self.config.stderr, f"gear submit: {exc}\n".encode())
        except JobFailed:
            self.codes.append(exit_code(JobFailed()))
            slot.write(self.config.stderr, pfx + b"Job failed\n")
        except JobException as exc:
            self.codes.append(exit_code(exc))
            data = exc.args[0] if exc.args else b""
            text = data if isinstance(data, bytes) else str(data).encode()
            slot.write(self.config.stderr, pfx + text + (b"" if text.endswith(b"\n") else b"\n"))
        except GearError as exc:
            self.codes.append(exit_code(exc))
            slot.write(self.config.stderr, f"gear submit: {function}: {exc}\n".encode())
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
        if cfg.verbose:
            slot.write(cfg.stderr, b"Task created: " + (job.handle or b"") + b"\n")
        try:
            result = await job.wait(cfg.timeout)
        finally:
            progress.end()
        slot.write(cfg.stdout, pfx + result if result else b"")
        self.codes.append(EXIT_OK)


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
            self.stderr.write(f"{line} {pct:3d}% ({numerator}/{denominator})".encode())
            self.stderr.flush()
            self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.stderr.write(b"\n")
            self.stderr.flush()


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
        async for line in _stdin_lines(config.stdin):
            yield line.rstrip(b"\r\n") if config.strip_newline else line
    else:
        yield await asyncio.to_thread(config.stdin.read)


async def _stdin_lines(stream: BinaryIO) -> AsyncIterator[bytes]:
    """Lines of ``stream`` as they arrive (read in a thread, chunk by chunk)."""
    read = getattr(stream, "read1", stream.read)
    rest = b""
    while True:
        chunk = await asyncio.to_thread(read, _READ_SIZE)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
    if rest:
        yield rest


async def run_submit(config: SubmitConfig) -> int:
    """Submit every input to every function; return the exit code.

    Raises:
        CommandError (via ``_common.run``): nothing else escapes.
    """
    async with AsyncClient(config.servers, exceptions=True) as client:
        code = await _Submitter(config, client).run()
        for loss in client.losses.values():
            config.stderr.write(loss_line(loss).encode())
        config.stderr.flush()
        return code


def loss_line(loss: ServerLoss) -> str:
    """One stderr line about a server lost mid-run and its jobs."""
    times = "" if loss.connections == 1 else f" ({loss.connections} times)"
    return (
        f"gear submit: lost {loss.server} mid-run{times}: {loss.jobs} jobs in flight there, "
        f"{loss.resubmitted} re-submitted to another server, {loss.failed} failed\n"
    )
