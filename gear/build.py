"""Which build of the server's hot path is running: mypyc-compiled or pure Python.

Strategy: ``setup.py`` compiles ``HOT_MODULES`` with mypyc unless
``GEAR_PURE=1`` (or no C compiler is found); the compiled extension sits
next to each source file and Python imports it first.  This module only
looks at where those modules were loaded from, so ``gear --version``, the
server's start-up log and benchmarks can say what they measured, and the
test suite can refuse to run a compiled module older than its source (an
edited ``.py`` next to a stale ``.so`` would silently test old code).
"""

from __future__ import annotations

import importlib
import os
import sys

#: the modules on the per-packet path that setup.py compiles: the server's,
#: and the load generator's (``gear bench`` must cost less than what it measures)
HOT_MODULES = (
    "gear.protocol.constants",
    "gear.protocol.packets",
    "gear.protocol.framing",
    "gear.server.state",
    "gear.server.jobs",
    "gear.server.dispatch",
    "gear.server.lifecycle",
    "gear.server.broker",
    "gear.server.server",
    "gear.bench.wire",
    "gear.bench.bulk",
    "gear.bench.spread",
)


def _origin(module: str) -> str:
    spec = importlib.import_module(module).__spec__
    return (spec.origin if spec is not None else None) or ""


def compiled_modules() -> list[str]:
    """The hot modules that were imported from a compiled extension."""
    return [m for m in HOT_MODULES if not _origin(m).endswith(".py")]


def _built_at(binary: str) -> float:
    """When an extension was built: its own file, or mypyc's shared library it loads.

    Each compiled module is a small shim (rewritten only when it changes)
    that imports one shared ``<hash>__mypyc`` library holding the code.
    """
    times = [os.path.getmtime(binary)]
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.endswith("__mypyc") and path:
            times.append(os.path.getmtime(path))
    return max(times)


def stale_modules() -> list[str]:
    """Compiled hot modules whose source file is newer than the extension."""
    stale = []
    for module in compiled_modules():
        binary = _origin(module)
        source = os.path.join(os.path.dirname(binary), module.rsplit(".", 1)[1] + ".py")
        if os.path.exists(source) and os.path.getmtime(source) > _built_at(binary):
            stale.append(module)
    return stale


def describe() -> str:
    """``mypyc-compiled``, ``pure Python`` or ``partly compiled (k of n)``."""
    done = len(compiled_modules())
    if done == len(HOT_MODULES):
        return "mypyc-compiled"
    if done == 0:
        return "pure Python"
    return f"partly compiled ({done} of {len(HOT_MODULES)})"
