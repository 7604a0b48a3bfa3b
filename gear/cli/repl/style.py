"""The colours of the REPL: one style sheet for input, tables and toolbar."""

from __future__ import annotations

from prompt_toolkit.styles import Style

STYLE = Style.from_dict(
    {
        "prompt": "bold",
        "cmd.command": "ansicyan bold",
        "cmd.option": "ansiyellow",
        "cmd.number": "ansimagenta",
        "cmd.argument": "",
        "cmd.error": "ansired",
        "header": "bold underline",
        "row.stuck": "ansired bold",
        "row.idle": "ansiyellow",
        "row.busy": "ansigreen",
        "ok": "ansigreen",
        "error": "ansired",
        "down": "ansired",
        "warn": "ansiyellow",
        "dim": "ansibrightblack",
        "bottom-toolbar": "noreverse bg:ansiblack ansiwhite",
        "toolbar.up": "ansigreen",
        "toolbar.down": "ansired bold",
        "toolbar.focus": "ansicyan",
    }
)
