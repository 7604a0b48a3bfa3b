"""The help dialog: keys, and how to read the cells.

Strategy: the key list is generated from the bindings of the app and the
main screen, so it cannot drift from what the keys do; the legend is text.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen"]

LEGEND = """\
[b]Cells[/b]
  n/a    the server cannot tell this (C gearmand, Perl: see docs/top.md)
  …      a rate, known after the next refresh
  ≥3.0   a lower bound: some jobs came and went between two refreshes
  !      jobs wait and no worker is connected for them (check_gearman's alert)
  zzz    workers asleep (PRE_SLEEP), waiting to be woken
  hi/nor/lo  queued jobs by priority
[b]Mouse[/b]
  click a row to select it, a functions header to sort by it"""


def _describe(bindings: list[BindingType]) -> list[str]:
    lines = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            key = binding.key_display or binding.key.replace("question_mark", "?")
            lines.append(f"  {key.replace('slash', '/'):<10} {binding.description}")
    return lines


class HelpScreen(ModalScreen[None]):
    """Keys and legend; any of Escape, `?` or `q` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, *bindings: list[BindingType]) -> None:
        super().__init__()
        self.keys = [line for group in bindings for line in _describe(group)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static("[b]Keys[/b]\n  arrows     move · Tab next panel\n" + "\n".join(self.keys))
            yield Static(LEGEND)

    def action_dismiss_help(self) -> None:
        """Close the help."""
        self.dismiss(None)
