"""Every custom message of the dashboard, in one place (toolong's messages.py).

Strategy: data flows down as reactive attributes (``MainScreen`` binds its
``snapshot``, filter and sort to the widgets); requests flow up as these
messages: widgets tell the screen what the user picked, the screen tells
the app what the user confirmed, the app's workers tell the app what the
network answered.  ``StatsUpdated`` replaces an older, unhandled one, so a
slow screen never falls behind by more than one refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from gear.tui.model import ActionResult, Snapshot

__all__ = [
    "ActionDone",
    "CancelJobRequested",
    "DropFunctionRequested",
    "FilterChanged",
    "FunctionSelected",
    "MaxQueueRequested",
    "ServerBack",
    "ServerLost",
    "SortRequested",
    "StatsUpdated",
]


@dataclass
class StatsUpdated(Message):
    """A refresh finished (poll worker → app)."""

    snapshot: Snapshot

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot makes a queued older one pointless."""
        return isinstance(message, StatsUpdated)


@dataclass
class ServerLost(Message):
    """A server that answered before did not answer now."""

    address: str
    error: str


@dataclass
class ServerBack(Message):
    """A server that was down answers again."""

    address: str


@dataclass
class FunctionSelected(Message):
    """The functions table's cursor moved to another function (None: empty)."""

    function: str | None


@dataclass
class SortRequested(Message):
    """A column header of the functions table was clicked."""

    column: str


@dataclass
class FilterChanged(Message):
    """The function filter's text changed."""

    text: str


@dataclass
class CancelJobRequested(Message):
    """The user confirmed cancelling a job (screen → app)."""

    server: str
    handle: str


@dataclass
class DropFunctionRequested(Message):
    """The user confirmed dropping a function (screen → app)."""

    function: str


@dataclass
class MaxQueueRequested(Message):
    """The user set a function's queue limit; no sizes = unlimited (screen → app)."""

    function: str
    sizes: tuple[int, ...]


@dataclass
class ActionDone(Message):
    """An admin action finished (action worker → app)."""

    label: str
    results: tuple[ActionResult, ...]
