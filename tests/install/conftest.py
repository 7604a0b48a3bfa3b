"""Installing gear for real: copies of the tree, temporary venvs, pip, the C compiler.

Strategy: each module lays out one sequence of installs.  A module-scoped
fixture runs the whole sequence once and keeps what each step showed (pip's
output, the compiled files left in the tree, what ``gear serve`` logged);
each test then checks one step, so the tests can be spread over xdist
workers in any way without repeating a compile.  A compile takes about half
a minute on 2 cores, and no module compiles more than twice.

pip runs with build isolation, as a user's does: the build environment gets
setuptools, and the pinned mypy only when the build compiles.  The venvs
get click (all ``gear serve`` needs) and gear itself with ``--no-deps``.

These tests are marked ``install``: the main run deselects them
(pyproject.toml ``addopts``) and .ci/run runs them as a step of its own.
Set GEAR_INSTALL_MATRIX=FILE to append each step as a Markdown table row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from gear import build

ROOT = Path(__file__).resolve().parents[2]
#: what a build needs from the tree (README.md: the metadata's long description)
TREE = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "_custom_build", "gear")
#: never copied: a copy starts from sources only
IGNORE = shutil.ignore_patterns(
    "*.so", "*.pyd", "__pycache__", build.RECORD, "*.egg-info", "build", "dist"
)
#: a C compiler that fails on one module after building the others (the shared library
#: and 8 shims are built first: their files must not survive in a wheel or in the tree)
PARTIAL_CC = """#!/bin/sh
case "$*" in *server/state.c*) echo "cc: not building state.c (test)" >&2; exit 1;; esac
exec gcc "$@"
"""
#: what the fallback says, once per build
FALLBACK = "installing plain Python instead"


def copy_tree(dest: Path) -> Path:
    """A copy of the sources a build needs, without anything built."""
    dest.mkdir(parents=True)
    for name in TREE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=IGNORE)
        else:
            shutil.copy2(source, dest / name)
    return dest


@dataclass
class Done:
    """A finished command: exit status and its output (stderr merged in)."""

    code: int
    out: str


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Done:
    done = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    return Done(done.returncode, done.stdout)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the build switches, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("GEAR_PURE", "CC", "LDSHARED")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@dataclass
class Served:
    """One ``gear serve --port 0 --log-level INFO`` run, stopped after its first line."""

    first_line: str
    log: str
    code: int

    def line(self, word: str) -> str:
        """``LEVEL message`` of the first log line containing ``word``, or ""."""
        for text in self.log.splitlines():
            if word in text:
                parts = text.split(" ", 3)  # date, time, level, "logger: message"
                if len(parts) == 4 and ": " in parts[3]:
                    return f"{parts[2]} {parts[3].split(': ', 1)[1]}"
                return text
        return ""


class Venv:
    """A virtual environment with click installed; gear goes in per test step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        done = run([sys.executable, "-m", "venv", str(path)], cwd=path.parent)
        assert done.code == 0, done.out
        done = self.pip("install", "-q", "click")
        assert done.code == 0, done.out

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def pip(self, *args: str, cwd: Path | None = None, **env: str) -> Done:
        command = [str(self.bin / "python"), "-m", "pip", *args]
        return run(command, cwd or self.path, {**clean_env(), **env})

    def serve(self, *args: str, cwd: Path, module: bool = False) -> Served:
        """Start ``gear serve`` (or ``python -m gear serve``), read its first line, stop it."""
        head = [str(self.bin / "python"), "-m", "gear"] if module else [str(self.bin / "gear")]
        proc = subprocess.Popen(
            [*head, "serve", "--port", "0", "--log-level", "INFO", *args],
            cwd=cwd,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        return Served(first, err, proc.returncode)


def compiled_files(tree: Path) -> list[str]:
    """The compiled files under ``tree`` (its build directory included), relative."""
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.so"))


def expected_compiled() -> list[str]:
    """What a compiled editable install leaves in the tree: a shim per module, the library."""
    shims = [build.source_of(m, Path()).with_suffix("").as_posix() for m in build.HOT_MODULES]
    names = [build.SHARED_LIBRARY, *shims]
    return sorted(f"{name}{EXTENSION_SUFFIXES[0]}" for name in names)


def mypyc_pin() -> str:
    """The mypy requirement pyproject.toml pins for compiling."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["tool"]["gear"]["build"]["mypyc"])


@dataclass
class Step:
    """One row of the install matrix: how it was installed and what it then showed."""

    path: str
    command: str
    install: Done
    #: gear's compiled files in the tree after the install (or in the wheel made)
    files: list[str] = field(default_factory=list)
    #: the wheel made, if the step made one
    wheel: Path | None = None
    #: ``gear serve`` runs by name: "serve" is the plain one, the row's log column
    served: dict[str, Served] = field(default_factory=dict)
    #: other commands run by name
    ran: dict[str, Done] = field(default_factory=dict)

    def row(self) -> str:
        """``| path | command | what gear serve logs | compiled files in the tree |``"""
        serve = self.served.get("serve")
        logged = "(not run)"
        if serve is not None:
            lines = (serve.line("STALE"), serve.line("started (").split(", handles")[0])
            logged = "<br>".join(x for x in lines if x)
        made = f" → {self.wheel.name}" if self.wheel else ""
        cells = [self.path, f"`{self.command}`{made}", logged, str(len(self.files))]
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def record(step: Step) -> Step:
    """Append the step's row to $GEAR_INSTALL_MATRIX, if set."""
    target = os.environ.get("GEAR_INSTALL_MATRIX")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(step.row() + "\n")
    return step


class Sequence:
    """One copy of the tree, one venv, and the steps run on them so far, by path."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.tree = copy_tree(base / "tree")
        self.venv = Venv(base / "venv")
        self.steps: dict[str, Step] = {}

    def install_editable(self, **env: str) -> Done:
        """``pip install -v --no-deps -e TREE`` with ``env``."""
        return self.venv.pip("install", "-v", "--no-deps", "-e", str(self.tree), **env)

    def step(self, path: str, command: str, install: Done) -> Step:
        """Record what the tree holds and what ``gear serve`` (and with
        ``--require-fresh-build``) says, started outside the tree."""
        now = Step(path, command, install, files=compiled_files(self.tree))
        now.served["serve"] = self.venv.serve(cwd=self.base)
        now.served["fresh"] = self.venv.serve("--require-fresh-build", cwd=self.base)
        self.steps[path] = record(now)
        return now


def started(step: Step, run_name: str = "serve") -> str:
    """The ``started (...)`` log line of a ``gear serve`` run that did start."""
    served = step.served[run_name]
    assert "listening on" in served.first_line, served.log
    return served.line("started (")
