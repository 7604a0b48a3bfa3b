"""The bottom toolbar: each server with its kind, version and latency.

Strategy: ``toolbar_fragments(group)`` reads what the last commands and
pings left on the clients (nothing here does I/O), so it can be called on
every redraw; the session pings in the background to keep it fresh.
"""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples

from gear.cli.repl.servers import ServerGroup, ServerState


def _server(state: ServerState, focused: bool) -> StyleAndTextTuples:
    mark = "*" if focused else ""
    if state.down is not None:
        return [("class:toolbar.down", f" {mark}{state.name} down ")]
    client = state.client
    version = client.server_version
    text = f" {mark}{state.name}"
    if version is not None and version.version:
        text += f" {client.kind.value} {version.version}"
    if client.latency is not None:
        text += f" {client.latency * 1000:.1f}ms"
    return [("class:toolbar.up", text + " ")]


def toolbar_fragments(group: ServerGroup) -> StyleAndTextTuples:
    """The toolbar's text: servers, focus, and the keys to remember."""
    out: StyleAndTextTuples = []
    for state in group.servers:
        out += _server(state, group.focus == state.name)
        out.append(("", "│"))
    focus = group.focus or "all"
    out.append(("class:toolbar.focus", f" focus: {focus} "))
    out.append(("", "│ Tab · Ctrl-R · F1 help"))
    return out
