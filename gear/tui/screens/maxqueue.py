"""The maxqueue dialog: a queue limit for one function, confirmed with "Set".

Strategy: ``parse_sizes`` is the whole grammar (empty = no limit, one size
for every priority, or HIGH NORMAL LOW), pure and tested on strings; the
dialog only shows it, keeps "Set" disabled while the text does not parse,
and dismisses with the sizes, or None when cancelled.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

__all__ = ["MaxQueueScreen", "parse_sizes"]


def parse_sizes(text: str) -> tuple[int, ...] | None:
    """``""`` → ``()``, ``"5"`` → ``(5,)``, ``"1 2 3"`` → ``(1, 2, 3)``; None if invalid."""
    words = text.replace(",", " ").split()
    if len(words) not in (0, 1, 3) or not all(w.isdigit() for w in words):
        return None
    return tuple(int(w) for w in words)


class MaxQueueScreen(ModalScreen[tuple[int, ...] | None]):
    """Ask for the queue limit of ``function``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, function: str, servers: int) -> None:
        super().__init__()
        self.function = function
        self.servers = servers

    def compose(self) -> ComposeResult:
        where = "1 server" if self.servers == 1 else f"{self.servers} servers"
        with Vertical(id="dialog"):
            yield Label(
                f"Queue limit of {self.function} on {where}:\n"
                "N for every priority, or HIGH NORMAL LOW; empty or 0 = no limit.",
                id="question",
            )
            yield Input(placeholder="e.g. 100  or  10 100 1000", id="sizes")
            with Horizontal(id="buttons"):
                yield Button("Set", variant="error", id="set")
                yield Button("Cancel", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#set", Button).disabled = parse_sizes(event.value) is None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "set":
            self._finish(self.query_one(Input).value)
        else:
            self.dismiss(None)

    def _finish(self, text: str) -> None:
        sizes = parse_sizes(text)
        if sizes is None:
            self.notify("Give N, or HIGH NORMAL LOW (whole numbers)", severity="warning")
            return
        self.dismiss(sizes)

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
