"""Completion: prompt_toolkit's NestedCompleter over the grammar's tree.

Strategy: ``commands.completion_tree(live)`` is the whole truth; this module
only rebuilds a ``NestedCompleter`` from it when the live names changed
(their sizes are the cache key) and adds each command's summary as the
completion's meta text on the first word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, NestedCompleter
from prompt_toolkit.document import Document

from gear.cli.repl.commands import SPECS, LiveNames, completion_tree

_SUMMARY = {spec.words[0]: spec.summary for spec in reversed(SPECS)}


class AdminCompleter(Completer):
    """Completes commands, options, and live names from ``live()``."""

    def __init__(self, live: Callable[[], LiveNames]) -> None:
        self._live = live
        self._key: tuple[int, ...] | None = None
        self._nested = NestedCompleter({})

    def _completer(self) -> NestedCompleter:
        live = self._live()
        key = (len(live.functions), len(live.handles), len(live.workers), len(live.servers))
        if key != self._key:
            self._nested = NestedCompleter.from_nested_dict(completion_tree(live))
            self._key = key
        return self._nested

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        first_word = " " not in document.text_before_cursor.lstrip()
        for completion in self._completer().get_completions(document, event):
            if first_word and completion.text in _SUMMARY:
                yield Completion(
                    completion.text,
                    completion.start_position,
                    display_meta=_SUMMARY[completion.text],
                )
            else:
                yield completion
