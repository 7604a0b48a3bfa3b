"""Completion: the grammar's tree, walked word by word.

Strategy: ``commands.completion_tree(live)`` is the whole truth; this module
rebuilds it only when the live names changed (``LiveNames.generation``),
then splits the text before the cursor on white space alone: the complete
words walk down the tree and the last, partial word is matched against the
keys where the walk ends.  Words are never cut at ``:`` or ``.``, so a
handle (``H:vm:41``) or a server (``127.0.0.1:4730``) completes as one
word, which prompt_toolkit's ``NestedCompleter`` (word characters only)
did not.  The first word's completions carry the command's summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from gear.cli.repl.commands import SPECS, LiveNames, completion_tree

_SUMMARY = {spec.words[0]: spec.summary for spec in reversed(SPECS)}


def _child(node: dict[str, Any], word: str) -> dict[str, Any] | None:
    """The subtree under ``word`` (command words in any case); None at a leaf or a miss."""
    found = node.get(word)
    if found is None:
        lowered = word.lower()
        found = next((v for k, v in node.items() if k.lower() == lowered), None)
    return found if isinstance(found, dict) else None


class AdminCompleter(Completer):
    """Completes commands, options, and live names from ``live()``."""

    def __init__(self, live: Callable[[], LiveNames]) -> None:
        self._live = live
        self._generation: int | None = None
        self._tree: dict[str, Any] = {}

    def _current_tree(self) -> dict[str, Any]:
        live = self._live()
        if live.generation != self._generation:
            self._tree = completion_tree(live)
            self._generation = live.generation
        return self._tree

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        words = text.split()
        partial = words.pop() if words and not text[-1].isspace() else ""
        node: dict[str, Any] | None = self._current_tree()
        for word in words:
            node = _child(node, word) if node is not None else None
        if node is None:
            return
        lowered = partial.lower()
        for key in node:
            if key.lower().startswith(lowered):
                meta = _SUMMARY.get(key, "") if not words else ""
                yield Completion(key, -len(partial), display_meta=meta or None)
