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
  n/a   the server cannot tell (C gearmand, Perl: docs/top.md)
  …     a rate, known after the next refresh
  ≥3.0  a lower bound: jobs came and went between refreshes
  !     jobs wait and no worker is there for them
  zzz   sleeping workers · hi/nor/lo  queued jobs by priority
[b]Mouse[/b]
  click a row to select it, a functions header to sort by it"""


def _describe(*groups: list[BindingType]) -> list[str]:
    entries = ["arrows  move", "Home/End first / last row", "Tab     next panel"]
    for bindings in groups:
        for binding in bindings:
            if isinstance(binding, Binding) and binding.description:
                key = binding.key_display or binding.key
                entries.append(f"{key:<7} {binding.description}")
    # two columns, so the whole help fits an 80x24 terminal
    half = (len(entries) + 1) // 2
    left, right = entries[:half], [*entries[half:], ""]
    return [f"  {a:<30}{b}".rstrip() for a, b in zip(left, right, strict=False)]


class HelpScreen(ModalScreen[None]):
    """Keys and legend; any of Escape, `?` or `q` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, *bindings: list[BindingType]) -> None:
        super().__init__()
        self.keys = _describe(*bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static("[b]Keys[/b]\n" + "\n".join(self.keys))
            yield Static(LEGEND)

    def action_dismiss_help(self) -> None:
        """Close the help."""
        self.dismiss(None)
