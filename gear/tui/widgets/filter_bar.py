"""The function filter: a one-line input opened with `/`.

Strategy: it only reports: every edit goes up as ``FilterChanged``; Enter
keeps the filter and hands focus back, Escape clears it.  Showing and
hiding is the screen's business (the ``-open`` class).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

from gear.tui.messages import FilterChanged

__all__ = ["FilterBar"]


class FilterBar(Input):
    """Text or glob that function names must match."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", show=False)
    ]

    def __init__(self, **kwargs: Any) -> None:
        """Keyword arguments (``id`` …) go to ``Input``."""
        super().__init__(
            placeholder="filter functions: text or glob · Enter keeps · Esc clears", **kwargs
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(FilterChanged(event.value))

    def action_clear_filter(self) -> None:
        """Empty the filter; the screen closes the bar."""
        self.value = ""  # posts Input.Changed, hence FilterChanged("")
        self.post_message(self.Submitted(self, ""))
