"""Clients whose answers are all of one type, in order: bg submits and echoes.

Strategy: nothing is done per packet.  ``complete_end`` finds where the
complete packets of a read end (the last header, found by its magic: ``\\0RES``
cannot occur in the bodies these clients get, since handles and our echoed
letters hold no NUL); ``bytes.count`` of the answer's 8-byte header prefix
then counts the whole batch at C speed.  When the batch holds anything else
(an ERROR, say) the general ``Client`` walk takes over for that batch.
Answers come back in the order of the requests, so latency is kept per
write: a FIFO of [requests, send time] is consumed by each batch of answers
and recorded as runs (value, count) in the tally.  Like ``wire``, this is
written for mypyc: a native class, ``Final`` constants, typed locals.
"""

from __future__ import annotations

from collections import deque
from time import monotonic_ns

from gear.bench.wire import HEAD, T_ECHO_RES, T_JOB_CREATED, Client, Tally, body_length
from gear.protocol.constants import RES


def complete_end(buf: bytes) -> int:
    """Where the complete packets at the start of ``buf`` end.

    Finds the last packet header by its magic (``\\0RES`` cannot occur in
    the bodies a ``BulkClient`` gets: handles and our echoed letters have no
    NUL) and checks whether its body is all there.
    """
    last = buf.rfind(RES)
    if last < 0 or len(buf) - last < HEAD:
        return max(last, 0)
    end = last + HEAD + body_length(buf, last)
    return end if end <= len(buf) else last


class BulkClient(Client):
    """A client of bg submits or echoes: counts answers in bulk (see the module)."""

    def __init__(
        self, tally: Tally, ptype: int, function: bytes, size: int, window: int, seq_base: int
    ) -> None:
        super().__init__(tally, ptype, function, size, window, seq_base)
        answer = T_ECHO_RES if self.echo else T_JOB_CREATED
        self.answer = RES + answer.to_bytes(4, "big")
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
        end = complete_end(buf)
        if not end:
            self.buf = buf
            return
        chunk = buf[:end] if end < len(buf) else buf
        self.buf = buf[end:]
        done = chunk.count(self.answer)
        if chunk.count(RES) == done:
            if self.echo:
                self.tally.completed += done
            else:
                self.tally.created += done
        else:
            done = self._walk(chunk, 0)[0]
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
