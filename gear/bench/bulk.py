"""Clients whose answers are all of one type, in order: bg submits and echoes.

Strategy: such an answer needs no handling of its own, only counting.
``count_answers`` walks the headers of a read (native byte reads, compiled
by mypyc: nothing is allocated per packet) to find where its complete
packets end and whether all are the expected answer; if so the batch is
counted in one go, and when it holds anything else (an ERROR, say) the
general ``Client`` walk takes over for that batch.  Answers come back in the
order of the requests, so latency is kept per write: a FIFO of [requests,
send time] is consumed by each batch of answers and recorded as runs (value,
count) in the tally.  (``bytes.count`` of the answer's header prefix, used
before, cost more than this walk: two scans of every byte.)
"""

from __future__ import annotations

from collections import deque
from time import monotonic_ns

from gear.bench.wire import (
    HEAD,
    T_ECHO_RES,
    T_JOB_CREATED,
    Client,
    Tally,
    body_length,
    magic_ok,
    packet_type,
)


def count_answers(buf: bytes, answer: int) -> tuple[int, int, bool]:
    """Count the complete packets at the start of ``buf``.

    Returns how many there are, where they end, and whether all of them are
    responses of type ``answer``.
    """
    have = len(buf)
    pos = count = 0
    alike = True
    while have - pos >= HEAD:
        end = pos + HEAD + body_length(buf, pos)
        if end > have:
            break
        if alike and (packet_type(buf, pos) != answer or not magic_ok(buf, pos)):
            alike = False
        pos = end
        count += 1
    return count, pos, alike


class BulkClient(Client):
    """A client of bg submits or echoes: counts answers in bulk (see the module)."""

    def __init__(
        self, tally: Tally, ptype: int, function: bytes, size: int, window: int, seq_base: int
    ) -> None:
        super().__init__(tally, ptype, function, size, window, seq_base)
        #: the type of every answer
        self.answer = T_ECHO_RES if self.echo else T_JOB_CREATED
        self.measure = False
        #: [requests, send time] per write not yet fully answered
        self.sent: deque[list[int]] = deque()

    def fill(self) -> None:
        """Issue requests, remembering how many left at what time."""
        before = self.inflight
        super().fill()
        if self.inflight != before:
            self.sent.append([self.inflight - before, monotonic_ns()])

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        done, end, alike = count_answers(buf, self.answer)
        if not end:
            self.buf = buf
            return
        if end < len(buf):
            chunk, self.buf = buf[:end], buf[end:]
        else:
            chunk, self.buf = buf, b""
        if not alike:
            done = self._walk(chunk, 0)[0]
        elif self.echo:
            self.tally.completed += done
        else:
            self.tally.created += done
        if done:
            now = monotonic_ns()
            self._record(done, now)
            self._answered(done, now)

    def _record(self, done: int, now: int) -> None:
        sent, runs = self.sent, self.tally.lat_runs
        while done and sent:
            batch = sent[0]
            take = min(batch[0], done)
            runs.append(now - batch[1])
            runs.append(take)
            batch[0] -= take
            done -= take
            if not batch[0]:
                sent.popleft()
