"""A stdout whose reader went away (``gear submit … | head -1``).

Strategy: Python ignores SIGPIPE, so a write to a pipe nobody reads raises
``BrokenPipeError`` wherever it happens.  Every command ends quietly then,
with ``EXIT_STDOUT_CLOSED`` (141 = 128 + SIGPIPE: what a shell reports for
``seq`` in ``seq 300 | head -1``), so ``set -o pipefail`` scripts see the
same status as for any other Unix tool.  ``gear submit`` and ``gear work``
notice it where they write and stop their own work first; the click group
catches it from the one-shots.  ``reader_gone`` tells stdout's broken pipe
from a server socket's, and ``discard_stdout`` keeps the interpreter's final
flush from failing a second time.  Stdlib only: the group imports it.
"""

from __future__ import annotations

import errno
import os
import select
import sys

#: stdout's reader went away: 128 + SIGPIPE
EXIT_STDOUT_CLOSED = 141


def is_broken_pipe(exc: BaseException) -> bool:
    """Whether ``exc`` is a write to a pipe (or socket) with no reader left."""
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    )


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reader has gone away."""
    fd = _stdout_fd()
    if fd is None:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)  # POLLERR and POLLHUP come unasked
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def discard_stdout() -> None:
    """Point file descriptor 1 at /dev/null once its reader is gone.

    Python flushes ``sys.stdout`` as it exits; with the reader gone that
    flush would fail again and print "Exception ignored … BrokenPipeError".
    A stdout that is no file (a test's buffer) is left alone.
    """
    fd = _stdout_fd()
    if fd is None:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
