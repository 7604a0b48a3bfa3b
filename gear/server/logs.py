"""The server's log: human text or JSON lines, to stderr or a file reopened on SIGHUP.

Strategy: ``configure`` installs one handler on the ``gear`` logger (and
``aiohttp``'s, for the HTTP listeners' own errors).  ``--log-format json``
writes one JSON object per line (``ts``, ``level``, ``logger``, ``msg``,
and ``exc`` with the traceback when there is one), which log shippers read
without a grok pattern.  A ``--log-file`` is held by a ``ReopeningFileHandler``:
``reopen_log_files`` (the server's SIGHUP handler calls it) closes and
reopens every such file, so logrotate can move the file away and signal
the server, as with gearmand.  Nothing on the per-packet path logs; lines
about single jobs (the HTTP gateway's) are DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

#: the loggers ``configure`` sets up
LOGGERS = ("gear", "aiohttp")
HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _iso_time(created: float) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-01-02T03:04:05.678Z``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created * 1000) % 1000:03d}Z"


class ReopeningFileHandler(logging.FileHandler):
    """A log file that ``reopen`` closes and opens again (after logrotate moved it)."""

    def reopen(self) -> None:
        """Close the file and open its path again (created if it was moved away)."""
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.flush()
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


#: the handlers ``reopen_log_files`` reopens
_files: list[ReopeningFileHandler] = []


def configure(level: str, log_file: str | None = None, log_format: str = "human") -> None:
    """Send the server's log to stderr or ``log_file``, as text or JSON.

    Raises:
        OSError: the log file cannot be opened.
    """
    handler: logging.Handler
    if log_file:
        handler = ReopeningFileHandler(log_file)
        _files[:] = [handler]
    else:
        handler = logging.StreamHandler(sys.stderr)
        _files.clear()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(HUMAN_FORMAT))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())


def reopen_log_files() -> int:
    """Reopen every log file (SIGHUP); how many were reopened."""
    for handler in _files:
        handler.reopen()
    return len(_files)
