"""Key bindings added to prompt_toolkit's emacs defaults.

Strategy: the defaults already give Ctrl-R (reverse history search), Tab
(complete), Ctrl-L (clear) and Ctrl-D (quit on an empty line); this module
adds F1 (help for the command being typed, printed above the prompt by the
session's ``on_help``: the line being typed stays as it is) and Ctrl-Space
(open the completion menu), each a small handler.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from gear.cli.repl.commands import find_spec


def admin_key_bindings(on_help: Callable[[str | None], None]) -> KeyBindings:
    """Bindings of the ``gear admin`` prompt.

    Args:
        on_help: shows the help of a command (None: the command list).
    """
    bindings = KeyBindings()

    @bindings.add("f1")
    def _help(event: KeyPressEvent) -> None:
        found = find_spec(event.current_buffer.text.split())
        on_help(found[0].name if found else None)

    @bindings.add("c-space")
    def _complete(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state:
            buffer.complete_next()
        else:
            buffer.start_completion(select_first=False)

    return bindings
