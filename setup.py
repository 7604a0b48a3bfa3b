"""Build hook: compile the per-packet code with mypyc, all of it or none.

Strategy: the job server's per-packet path (framing, the broker, its state
and the asyncio shell) and the load generator's connections are plain,
strictly typed Python.  mypyc compiles those same modules (``HOT_MODULES``
in gear/build.py) to C extensions at install time, which removes most of
the interpreter's cost per packet (fg round trips from 0.64 to 1.27 of C
gearmand's rate, see docs/benchmarks.md); the source stays the single
truth.  See docs/build.md.

- The extensions are one unit: the per-module ones are shims into one
  shared library.  ``AllOrNothing`` builds all of them or, when any fails
  (no compiler, no Python headers), removes whatever was built, says so
  once and installs the plain Python modules; an install never fails for
  want of a compiler, and never ends half compiled.
- ``GEAR_PURE=1`` asks for plain Python: nothing is compiled, and compiled
  files left by an earlier build in the source tree (an editable install)
  or the build directory are removed, so they cannot shadow the sources.
- A compiled build records the hash of each source it compiled
  (gear/_compiled.sha256); ``gear serve`` warns when a source no longer
  matches (``gear.build.stale_modules``).
- The mypy that compiles is pinned in pyproject.toml and asked for by
  _custom_build/backend.py, which sets ``GEAR_NO_EXTENSIONS=1`` for the
  hooks that only read metadata or make an sdist: mypy is not installed
  yet then, and an sdist carries no generated C.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import CCompilerError, ExecError, PlatformError

HERE = Path(__file__).resolve().parent
PURE = os.environ.get("GEAR_PURE") == "1"
#: what a failed compile or link raises; anything else is a bug and stops the build
COMPILE_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


def _load_build() -> ModuleType:
    """gear/build.py by its path: importing ``gear`` could load stale extensions."""
    spec = importlib.util.spec_from_file_location("_gear_build", HERE / "gear" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _say(message: str) -> None:
    print(f"gear: {message}", file=sys.stderr, flush=True)


def _remove_built(*roots: Path) -> None:
    for root in roots:
        for path in build.remove_built(root):
            _say(f"removed {path}")


class PureWhenAsked(build_py):
    """``GEAR_PURE=1``: no compiled gear module may stay beside the sources."""

    def run(self) -> None:
        if PURE:
            _remove_built(HERE, Path(self.build_lib))
        super().run()


class AllOrNothing(build_ext):
    """Build every extension, or none: on any failure, install pure Python."""

    def run(self) -> None:
        inplace = self.inplace  # setuptools clears it while it builds
        try:
            super().run()
        except COMPILE_ERRORS as exc:
            self._fall_back(exc)
            return
        # the sources compiled are the tree's (an editable build copies none to build_lib)
        build.write_record(Path(self.build_lib), HERE)
        if inplace:
            build.write_record(HERE, HERE)

    def _fall_back(self, exc: BaseException) -> None:
        _remove_built(HERE, Path(self.build_lib))
        self.extensions = []
        self.distribution.ext_modules = []
        wheel: Any = self.distribution.command_obj.get("bdist_wheel")
        if wheel is not None:
            wheel.root_is_pure = True  # tag the wheel py3-none-any: it holds no binary
        reason = " ".join(str(exc).split())  # a failed command's text is its whole argv
        reason = f"{type(exc).__name__}: {reason[:117] + '...' if len(reason) > 120 else reason}"
        _say(
            f"compiling the hot modules failed ({reason}); installing plain Python instead, "
            "about half as fast (see docs/build.md; GEAR_PURE=1 skips the attempt)"
        )


def _extensions() -> list[Any]:
    if PURE or os.environ.get("GEAR_NO_EXTENSIONS") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit(
            "gear: compiling needs mypy (the version pinned in pyproject.toml, "
            "[tool.gear.build] mypyc); install it, or set GEAR_PURE=1 for plain Python"
        ) from None
    sources = [str(build.source_of(m, Path())) for m in build.HOT_MODULES]
    extensions = mypycify(
        # no config file: the build env lacks the third-party packages
        ["--config-file=", "--ignore-missing-imports", *sources],
        opt_level="3",
        # one shared library: the modules call each other natively
        multi_file=False,
        group_name=build.GROUP,
    )
    return list(extensions)


setup(
    ext_modules=_extensions(),
    cmdclass={"build_py": PureWhenAsked, "build_ext": AllOrNothing},
)
