"""Highlighting: the grammar's token classes as prompt_toolkit styles.

Strategy: ``commands.classify`` does the work on plain strings; the lexer
maps each class to ``class:cmd.<name>`` for the style sheet.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer

from gear.cli.repl.commands import classify


class AdminLexer(Lexer):
    """Colours command words, options, numbers and unknown commands."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines = document.lines

        def line(number: int) -> StyleAndTextTuples:
            if number >= len(lines):
                return []
            return [
                (f"class:cmd.{kind}" if kind else "", text)
                for kind, text in classify(lines[number])
            ]

        return line
