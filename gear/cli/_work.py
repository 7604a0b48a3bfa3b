"""``gear work`` as a function: ``run_work(WorkConfig) -> exit code``.

Strategy: the library's ``AsyncWorker`` does all the Gearman work; this
module only supplies the handler.  Without a command the handler writes
the workload to stdout (``gearman -w`` with no command).  With a command it
runs it once per job: workload on stdin, ``GEAR_HANDLE``/``GEAR_FUNCTION``/
``GEAR_UNIQUE`` in its environment, stdout as the result (or, with
``--lines``, each line as WORK_DATA the moment it is written — once, unlike
libgearman 1.1), stderr passed through to ours while its tail is kept.  A
non-zero exit sends the partial output as WORK_DATA (as libgearman does),
then WORK_EXCEPTION with the stderr tail — which servers hand to clients
that asked for exceptions and turn into WORK_FAIL for the rest — or plain
WORK_FAIL when the command wrote nothing on stderr.  A cancelled job (its
``--timeout`` passed, or a second signal) kills the command.

Signals: the first SIGTERM/SIGINT stops taking jobs and lets running ones
finish; a second one cancels them.  A stdout whose reader went away
(``gear work f | head -1``) cancels everything at once with 141: the job
whose data could not be written is not answered, so the server gives it to
another worker when the connection closes, and no later job is taken.

The library's log goes to stderr as ``gear work: …`` lines: warnings (a
connection lost, a job timed out) and each reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from gear.client import AsyncWorker, WorkerJob
from gear.client.servers import ServerAddress
from gear.errors import JobException, JobFailed

from ._common import EXIT_OK, EXIT_STDOUT_CLOSED
from ._stdout import discard_stdout, is_broken_pipe

#: bytes of a failing command's stderr sent back as WORK_EXCEPTION
STDERR_TAIL = 4096


@dataclass
class WorkConfig:
    """Everything ``gear work`` was told."""

    #: servers to take jobs from (all of them)
    servers: list[ServerAddress]
    #: functions to register
    functions: list[str]
    #: the command to run per job; empty means "echo the workload"
    command: list[str] = field(default_factory=list)
    #: send each output line as WORK_DATA as it is written
    lines: bool = False
    #: like ``lines``, without the newline
    strip_newline: bool = False
    #: exit after this many jobs
    count: int | None = None
    #: jobs run at once
    concurrency: int = 1
    #: seconds a job may run (CAN_DO_TIMEOUT, and the command is killed)
    timeout: float | None = None
    #: exit when no job is left
    burst: bool = False
    #: SET_CLIENT_ID
    client_id: str | None = None
    #: TLS context of the connections (None: plain TCP)
    tls: ssl.SSLContext | None = None
    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: BinaryIO = field(default_factory=lambda: sys.stderr.buffer)


def find_command(command: list[str]) -> str | None:
    """The path ``command[0]`` runs, or None when it does not exist."""
    if not command:
        return None
    return shutil.which(command[0])


class EchoHandler:
    """No command: write the workload to stdout and complete with no data.

    Args:
        stdout: where workloads go.
        on_closed: called when stdout's reader has gone; the job is then
            left unanswered (cancelled), for the server to hand on.
    """

    def __init__(self, stdout: BinaryIO, on_closed: Callable[[], None]) -> None:
        self.stdout = stdout
        self.on_closed = on_closed

    async def __call__(self, job: WorkerJob) -> bytes:
        try:
            self.stdout.write(job.data)
            self.stdout.flush()
        except OSError as exc:
            if not is_broken_pipe(exc):
                raise
            self.on_closed()
            raise asyncio.CancelledError from None
        return b""


class CommandHandler:
    """Run the command once per job."""

    def __init__(self, config: WorkConfig) -> None:
        self.config = config

    async def __call__(self, job: WorkerJob) -> bytes:
        env = dict(os.environ)
        env["GEAR_HANDLE"] = job.handle.decode(errors="replace")
        env["GEAR_FUNCTION"] = job.function
        env["GEAR_UNIQUE"] = job.unique.decode(errors="replace")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.config.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise JobException(f"cannot run {self.config.command[0]}: {exc.strerror}") from None
        try:
            out, tail, rc = await self._talk(proc, job)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if rc == 0:
            return out
        if out:
            job.send_data(out)
        if tail:
            raise JobException(tail)
        raise JobFailed(f"exit status {rc}")

    async def _talk(
        self, proc: asyncio.subprocess.Process, job: WorkerJob
    ) -> tuple[bytes, bytes, int]:
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = asyncio.create_task(_feed(proc.stdin, job.data))
        tail_task = asyncio.create_task(_pass_stderr(proc.stderr, self.config.stderr))
        cfg = self.config
        if cfg.lines or cfg.strip_newline:
            async for line in proc.stdout:
                job.send_data(line.rstrip(b"\r\n") if cfg.strip_newline else line)
            out = b""
        else:
            out = await proc.stdout.read()
        rc = await proc.wait()
        await feeder
        tail = await tail_task
        return out, tail, rc


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the workload to the command's stdin, then close it."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    stdin.close()


async def _pass_stderr(stream: asyncio.StreamReader, out: BinaryIO) -> bytes:
    """Copy the command's stderr to ours; return its last STDERR_TAIL bytes."""
    tail = b""
    while chunk := await stream.read(65536):
        out.write(chunk)
        out.flush()
        tail = (tail + chunk)[-STDERR_TAIL:]
    return tail


def _install_signals(worker: AsyncWorker, main: asyncio.Task[int]) -> None:
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            worker.stop()
        else:
            main.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


class _WorkLog(logging.Handler):
    """The library's warnings and reconnections as ``gear work: …`` lines on stderr."""

    #: the worker's INFO record for a connection that is back
    CONNECTED = "connected to %s"

    def __init__(self, stderr: BinaryIO) -> None:
        super().__init__(logging.INFO)
        self.stderr = stderr

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.msg == self.CONNECTED

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.msg == self.CONNECTED:
            text = "re" + text
        with contextlib.suppress(OSError):
            self.stderr.write(f"gear work: {text}\n".encode(errors="replace"))
            self.stderr.flush()


@contextlib.contextmanager
def _logging_to(stderr: BinaryIO) -> Iterator[None]:
    logger = logging.getLogger("gear")
    handler = _WorkLog(stderr)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def run_work(config: WorkConfig) -> int:
    """Serve jobs until stopped (signal, ``count`` or ``burst``); return the exit code.

    Raises:
        ServerUnavailable: no server could be reached at start.
    """
    worker = AsyncWorker(
        config.servers,
        client_id=config.client_id,
        concurrency=config.concurrency,
        tls=config.tls,
    )
    closed: list[bool] = []

    def stdout_closed() -> None:
        closed.append(True)
        main.cancel()

    handler = (
        CommandHandler(config) if config.command else EchoHandler(config.stdout, stdout_closed)
    )
    for name in config.functions:
        worker.register(name, handler, timeout=config.timeout)
    main = asyncio.create_task(worker.run(until_idle=config.burst, max_jobs=config.count))
    _install_signals(worker, main)
    with _pidfd_child_watcher(), _logging_to(config.stderr):
        try:
            await main
        except asyncio.CancelledError:
            if closed:
                discard_stdout()
                return EXIT_STDOUT_CLOSED
            return 128 + signal.SIGTERM
    return EXIT_OK


@contextlib.contextmanager
def _pidfd_child_watcher() -> Iterator[None]:
    """On Python 3.11, learn of command exits through a pidfd, not a thread per command.

    3.11's default ThreadedChildWatcher starts a thread for every process
    it waits for: with one command per job that was a fifth of the worker's
    CPU (py-spy).  3.12 and later use a pidfd by themselves (and deprecate
    child watchers), so this only acts on 3.11 where pidfd_open works.
    """
    if sys.version_info >= (3, 12) or not _pidfd_works():
        yield
        return
    policy = asyncio.get_event_loop_policy()
    previous = policy.get_child_watcher()
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    policy.set_child_watcher(watcher)
    try:
        yield
    finally:
        policy.set_child_watcher(previous)


def _pidfd_works() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True
