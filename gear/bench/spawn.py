"""``--spawn``: start ``gear serve --port 0`` as a separate process.

Strategy: the server runs in its own process (never imported here), so the
generator and the server never share an interpreter or a core.  Its port is
read from the first line it prints (``... listening on 127.0.0.1:PORT ...``),
waited for with a deadline; its stderr goes to a temporary file (a pipe
nobody reads could fill and stall it) whose tail explains a failed start.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import tempfile
import time
from typing import IO

from gear._closing import Closing
from gear.errors import ConnectError

_LISTENING = re.compile(rb"listening on \[?[^\s\]]*\]?:(\d+)")


class SpawnedServer(Closing):
    """``gear serve`` on a free loopback port, for the length of a ``with``.

    Args:
        args: extra ``gear serve`` arguments.
        start_timeout: seconds to wait for its first line.
    """

    def __init__(self, args: tuple[str, ...] = (), start_timeout: float = 15.0) -> None:
        self.args = args
        self.start_timeout = start_timeout
        #: the port it listens on (after ``start``)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id (0 before ``start``)."""
        return self.proc.pid if self.proc is not None else 0

    def start(self) -> int:
        """Start it and return its port.

        Raises:
            ConnectError: it exited or printed no port in time.
        """
        self._stderr = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "gear", "serve", "--listen", "127.0.0.1", "--port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        first = self._first_line()
        match = _LISTENING.search(first)
        if match is None:
            self.stop()
            raise ConnectError(f"gear serve did not start: {self._why(first)}")
        self.port = int(match.group(1))
        return self.port

    def _first_line(self) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            line += chunk
        return line

    def _why(self, first: bytes) -> str:
        err = b""
        if self._stderr is not None:
            self._stderr.seek(0)
            err = self._stderr.read()
        lines = (err or first).decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """Terminate it (SIGTERM, then SIGKILL after 5 s) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _open(self) -> None:
        self.start()

    close = stop  # a ``with`` block ends with it
