"""The bottom toolbar: each server with its kind, version and latency.

Strategy: ``toolbar_fragments(group, width)`` reads what the last commands
and pings left on the clients (nothing here does I/O), so it can be called
on every redraw; the session pings in the background to keep it fresh.  A
toolbar wider than the terminal would be cut at the right, where the focus
and the keys are, so it is told in less detail until it fits: versions go
first (``servers`` lists them), then the keys but F1, then kinds and
latencies, then each server's name (a count of servers up and down is
left).
"""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.formatted_text.utils import fragment_list_width

from gear.cli.repl.servers import ServerGroup, ServerState
from gear.client.admin import ServerKind

#: the keys to remember, in full and short
KEYS = "│ Tab · Ctrl-R · F1 help"
SHORT_KEYS = "│ F1 help"
#: most detail first: (version, kind and latency, server names, every key)
_LEVELS = (
    (True, True, True, True),
    (False, True, True, True),
    (False, True, True, False),
    (False, False, True, False),
    (False, False, False, False),
)


def _version(state: ServerState) -> str:
    found = state.client.server_version
    version = found.version if found is not None else ""
    if state.client.kind is ServerKind.GEAR and "-gear-" in version:
        return version.split("-gear-", 1)[1]  # "1.1.20-gear-0.1.0": gear's own
    return version


def _server(state: ServerState, focused: bool, version: bool, detail: bool) -> StyleAndTextTuples:
    mark = "*" if focused else ""
    if state.down is not None:
        return [("class:toolbar.down", f" {mark}{state.name} down ")]
    client = state.client
    text = f" {mark}{state.name}"
    if detail and client.server_version is not None:
        text += f" {client.kind.value}"
        if version and _version(state):
            text += f" {_version(state)}"
    if detail and client.latency is not None:
        text += f" {client.latency * 1000:.1f}ms"
    return [("class:toolbar.up", text + " ")]


def _toolbar(
    group: ServerGroup, version: bool, detail: bool, names: bool, keys: bool
) -> StyleAndTextTuples:
    out: StyleAndTextTuples = []
    if names:
        for state in group.servers:
            out += _server(state, group.focus == state.name, version, detail)
            out.append(("", "│"))
    else:
        down = sum(1 for s in group.servers if s.down is not None)
        style = "class:toolbar.down" if down else "class:toolbar.up"
        out += [(style, f" {len(group.servers)} servers, {down} down "), ("", "│")]
    out.append(("class:toolbar.focus", f" focus: {group.focus or 'all'} "))
    out.append(("", KEYS if keys else SHORT_KEYS))
    return out


def toolbar_fragments(group: ServerGroup, width: int | None = None) -> StyleAndTextTuples:
    """The toolbar's text: servers, focus, and the keys; at most ``width`` columns if it can."""
    out: StyleAndTextTuples = []
    for version, detail, names, keys in _LEVELS:
        out = _toolbar(group, version, detail, names, keys)
        if width is None or fragment_list_width(out) <= width:
            break
    return out
