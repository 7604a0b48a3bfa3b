"""PEP 517 build backend: setuptools', asking for mypy only when the build compiles.

Strategy: pip installs ``build-system.requires`` before any hook runs, so a
mypy listed there would be downloaded for ``GEAR_PURE=1`` builds too.  This
wrapper (pyproject.toml: ``backend-path``) adds the pinned mypy
(``[tool.gear.build] mypyc``, one exact version, so a new mypy release
cannot change what an install compiles) to what the wheel and editable
``get_requires`` hooks return, unless ``GEAR_PURE=1``.

The hooks that only read metadata or make an sdist run setup.py with
``GEAR_NO_EXTENSIONS=1``: mypy is not installed yet when ``get_requires``
runs, and an sdist carries the Python sources, not generated C.  The
building hooks are setuptools' own.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from setuptools import build_meta as _setuptools
from setuptools.build_meta import build_editable, build_wheel

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]

T = TypeVar("T")


def mypyc_requirement() -> str:
    """The pinned mypy of pyproject.toml (hooks run in the source tree)."""
    with open("pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["tool"]["gear"]["build"]["mypyc"])


def _compile_requires() -> list[str]:
    return [] if os.environ.get("GEAR_PURE") == "1" else [mypyc_requirement()]


@contextmanager
def _no_extensions() -> Iterator[None]:
    old = os.environ.get("GEAR_NO_EXTENSIONS")
    os.environ["GEAR_NO_EXTENSIONS"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["GEAR_NO_EXTENSIONS"]
        else:
            os.environ["GEAR_NO_EXTENSIONS"] = old


def _metadata_only(hook: Callable[..., T], *args: Any) -> T:
    with _no_extensions():
        return hook(*args)


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    """setuptools' requirements, and the pinned mypy unless ``GEAR_PURE=1``."""
    found = _metadata_only(_setuptools.get_requires_for_build_wheel, config_settings)
    return [*found, *_compile_requires()]


def get_requires_for_build_editable(config_settings: Any = None) -> list[str]:
    """As for a wheel: an editable install compiles in place."""
    found = _metadata_only(_setuptools.get_requires_for_build_editable, config_settings)
    return [*found, *_compile_requires()]


def get_requires_for_build_sdist(config_settings: Any = None) -> list[str]:
    """setuptools' requirements: an sdist compiles nothing."""
    return _metadata_only(_setuptools.get_requires_for_build_sdist, config_settings)


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Any = None) -> str:
    """setuptools' hook, without generating C."""
    hook = _setuptools.prepare_metadata_for_build_wheel
    return _metadata_only(hook, metadata_directory, config_settings)


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: Any = None
) -> str:
    """setuptools' hook, without generating C."""
    hook = _setuptools.prepare_metadata_for_build_editable
    return _metadata_only(hook, metadata_directory, config_settings)


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    """setuptools' sdist of the Python sources."""
    return _metadata_only(_setuptools.build_sdist, sdist_directory, config_settings)
