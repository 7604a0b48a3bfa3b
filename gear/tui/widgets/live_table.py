"""A DataTable that is refilled every second without losing the user's place.

Strategy: subclasses describe columns as ``(key, label)`` pairs and hand
``set_rows`` the whole table as ``(row key, cells)``.  When the keys are the
same as last time only the cells that changed are rewritten (no flicker, the
cursor stays); otherwise the table is rebuilt and the cursor is put back on
the row with the same key, or on the same line if that row is gone.  Home
and End go to the first and last row (DataTable scrolls sideways on them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

__all__ = ["Cell", "LiveTable", "Row"]

Cell = str | Text
#: (row key, cells in column order)
Row = tuple[str, Sequence[Cell]]


class LiveTable(DataTable[Cell]):
    """A row-cursor table refreshed in place."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        """Keyword arguments (``id``, ``classes`` …) go to ``DataTable``."""
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._column_keys: tuple[str, ...] = ()
        self._row_keys: list[str] = []
        self._row_cells: dict[str, tuple[Cell, ...]] = {}

    @staticmethod
    def _same(a: Cell, b: Cell) -> bool:
        """Equal text and look (rich's ``Text.__eq__`` ignores the base style)."""
        if isinstance(a, Text) and isinstance(b, Text):
            return a == b and str(a.style) == str(b.style)
        return type(a) is type(b) and a == b

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """Use these ``(key, label)`` columns; a change clears the table."""
        keys = tuple(key for key, _ in columns)
        if keys == self._column_keys:
            return
        self.clear(columns=True)
        self._row_keys, self._row_cells = [], {}
        self._column_keys = keys
        for key, label in columns:
            self.add_column(label, key=key)

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor."""
        if not self._row_keys or not 0 <= self.cursor_row < len(self._row_keys):
            return None
        return self._row_keys[self.cursor_row]

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Show exactly these rows."""
        keys = [key for key, _ in rows]
        if keys == self._row_keys:
            self._update_cells(rows)
            return
        current, line = self.current_key, self.cursor_row
        self.clear()
        self._row_keys, self._row_cells = keys, {}
        for key, cells in rows:
            self._row_cells[key] = tuple(cells)
            self.add_row(*cells, key=key)
        if not keys:
            return
        target = keys.index(current) if current in keys else min(max(line, 0), len(keys) - 1)
        self.move_cursor(row=target, animate=False)

    async def _on_idle(self, event: events.Idle) -> None:
        # DataTable measures new cells when idle but keeps the lines it drew
        # before with the old column widths (textual 8.2): drop them when a
        # width changed, or names stay cut until the next change.
        before = [c.content_width for c in self.columns.values()]
        await super()._on_idle(event)
        if before != [c.content_width for c in self.columns.values()]:
            self._clear_caches()
            self.refresh()

    def _update_cells(self, rows: Sequence[Row]) -> None:
        for key, cells in rows:
            old = self._row_cells.get(key, ())
            new = tuple(cells)
            if len(old) == len(new) and all(map(self._same, old, new)):
                continue
            self._row_cells[key] = new
            for column, (before, after) in enumerate(zip(old, new, strict=True)):
                if not self._same(before, after):
                    self.update_cell(key, self._column_keys[column], after, update_width=True)
