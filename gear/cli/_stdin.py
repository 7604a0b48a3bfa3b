"""Reading stdin in chunks without ever holding up the exit.

Strategy: a read of a terminal or of a quiet pipe can block for ever, and
``asyncio.to_thread`` threads are joined when ``asyncio.run`` ends, so a
Ctrl-C (or a reader of our stdout going away) would wait for the next line
typed.  ``StdinReader`` reads on a daemon thread of its own instead, one
``os.read`` per chunk asked for (the caller's pace is the back-pressure),
and hands each chunk back through the loop; the process may exit while
that thread still waits.  A stream that is no file (a test's buffer) is
read inline: it never blocks.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from typing import BinaryIO

#: bytes asked for per read
READ_SIZE = 65536

_Request = tuple[asyncio.AbstractEventLoop, "asyncio.Future[bytes]"]


def _fileno(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def _settle(future: asyncio.Future[bytes], data: bytes | OSError) -> None:
    if future.done():
        return
    if isinstance(data, OSError):
        future.set_exception(data)
    else:
        future.set_result(data)


class StdinReader:
    """Chunks of a binary stream, read off the event loop."""

    def __init__(self, stream: BinaryIO, size: int = READ_SIZE) -> None:
        self._stream = stream
        self._size = size
        self._fd = _fileno(stream)
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def read(self) -> bytes:
        """The next chunk of at most ``size`` bytes; ``b""`` at the end."""
        if self._fd is None:
            read = getattr(self._stream, "read1", self._stream.read)
            data: bytes = read(self._size)
            return data
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="stdin", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._requests.put((loop, future))
        return await future

    def _serve(self) -> None:
        assert self._fd is not None
        while True:
            loop, future = self._requests.get()
            data: bytes | OSError
            try:
                data = os.read(self._fd, self._size)
            except OSError as exc:
                data = exc
            try:
                loop.call_soon_threadsafe(_settle, future, data)
            except RuntimeError:  # the loop is closed: nobody waits any more
                return
