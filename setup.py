"""Build hook: compile the per-packet code with mypyc.

Strategy: the job server's per-packet path (framing, the broker, its state
and the asyncio shell) and the load generator's connections are plain,
strictly typed Python.  mypyc compiles those same modules to C extensions
at install time, which removes most of the interpreter's cost per packet
(fg round trips from 0.36 to 0.64 of C gearmand's rate, see
docs/benchmarks.md); nothing else changes and the source stays the single
truth.  ``GEAR_PURE=1`` installs the plain Python modules only, and a
machine without a C compiler falls back to them (the extensions are
optional), so an install never fails for want of a compiler.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gear.build import HOT_MODULES  # the list lives with its users


def _path_of(module: str) -> str:
    return module.replace(".", "/") + ".py"


def _extensions() -> list[object]:
    if os.environ.get("GEAR_PURE") == "1":
        return []
    from mypyc.build import mypycify

    extensions = mypycify(
        # no config file: the build env lacks the third-party packages
        ["--config-file=", "--ignore-missing-imports", *map(_path_of, HOT_MODULES)],
        opt_level="3",
        # one shared library: the modules call each other natively
        multi_file=False,
    )
    for ext in extensions:
        ext.optional = True  # no compiler: install the pure modules
    return list(extensions)


setup(ext_modules=_extensions())
