"""Garbage collection for a server that holds millions of objects.

Strategy, two problems and one timer:

1. Pauses.  Every job is a GC-tracked object.  CPython's generational
   collector walks the long-lived ones again at each older-generation pass:
   with a million jobs queued a gen-1 pass took 170-200 ms (measured), and
   submits fell from 216k/s to 124k/s at that depth while look-ups stayed
   O(1) (the same run with the collector off: 220k/s).  Jobs and sessions
   break their reference cycles explicitly when they end, so a long-lived
   object is freed by reference counting, not by the collector; so each
   poll freezes (``gc.freeze``, O(1)) what has survived until then, and the
   collector only ever walks the objects of the last second.
2. Memory after a drain.  CPython returns a 1 MiB arena to the system only
   when every block in it is free.  After a million-job queue drains, a few
   long-lived blocks are left scattered through hundreds of arenas — mostly
   the interpreter's free lists of tuples, floats, lists and dicts, refilled
   by the last objects freed — and RSS stays near its peak (measured: 464
   MiB, against 28 MiB idle).  A full collection empties the free lists and
   the emptied arenas are unmapped (40 MiB).

``MemoryReleaser.poll`` runs once a second with the number of jobs held.
It runs a full collection (thawing the frozen objects first) when that
number has fallen to a quarter of its high point, if the high point was
large enough to matter — the high point then restarts from the current
count, so a drain costs a handful of collections, each over the jobs still
held — and, when freezing, also every few minutes while few jobs are held,
so a cycle that escaped the explicit clean-up is still found.
"""

from __future__ import annotations

import gc
import logging
from typing import Final, Protocol

log = logging.getLogger("gear.server")

#: a high point below this many jobs is not worth a collection
MIN_PEAK: Final = 10_000
#: collect when the jobs held fall to this fraction of the high point
FALL_FRACTION: Final = 0.25
#: polls between the full collections run while few jobs are held (freezing only)
SWEEP_POLLS: Final = 300


class Collector(Protocol):
    """What MemoryReleaser needs of the ``gc`` module (a fake in unit tests)."""

    def collect(self) -> int: ...
    def freeze(self) -> None: ...
    def unfreeze(self) -> None: ...


class MemoryReleaser:
    """Decides when to freeze survivors and when to run a full collection.

    Args:
        collector: the ``gc`` module, or a stand-in.
        freeze: freeze survivors at each poll.  Only a process the server
            owns (``gear serve``) should: an embedding program's own cycles
            would never be collected once frozen.
        min_peak: the smallest high point worth a collection after a fall.
    """

    def __init__(
        self,
        collector: Collector = gc,
        *,
        freeze: bool = False,
        min_peak: int = MIN_PEAK,
    ) -> None:
        self._gc = collector
        self._freeze = freeze
        self._min_peak = min_peak
        self._polls_since_full = 0
        #: the most jobs held since the last collection
        self.peak = 0
        #: full collections run so far
        self.collections = 0

    def poll(self, jobs_held: int) -> bool:
        """Look at the current count; return True when a full collection ran."""
        self._polls_since_full += 1
        if jobs_held >= self.peak:
            self.peak = jobs_held
        elif self.peak >= self._min_peak and jobs_held <= self.peak * FALL_FRACTION:
            log.debug("jobs held fell from %d to %d: full collection", self.peak, jobs_held)
            self.peak = jobs_held
            self._full_collection()
            return True
        if self._freeze:
            if self._polls_since_full >= SWEEP_POLLS and jobs_held < self._min_peak:
                self._full_collection()
                return True
            self._gc.freeze()
        return False

    def _full_collection(self) -> None:
        self.collections += 1
        self._polls_since_full = 0
        if self._freeze:
            self._gc.unfreeze()
        self._gc.collect()
        if self._freeze:
            self._gc.freeze()
