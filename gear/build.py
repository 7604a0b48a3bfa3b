"""Which build of the hot path is installed (mypyc-compiled or pure Python), and is it fresh.

Strategy: ``setup.py`` compiles ``HOT_MODULES`` with mypyc, all or none of
them, into one shared library (``gear__mypyc``, beside the ``gear``
package) plus one small extension per module beside its source; Python
imports an extension before a ``.py`` of the same name.  This module
answers by looking at those files, never by importing the hot modules, so
``gear serve`` does not load ``gear.bench`` just to say what it runs.

Freshness: the build writes ``RECORD`` (``sha256sum``'s format) with the
hash of each source it compiled; a compiled module whose source no longer
matches (edited without a rebuild) is stale.  Hashes, not mtimes: a wheel
install or a git checkout gives files new mtimes in no useful order.

``setup.py`` loads this file by its path rather than as ``gear.build``
(which would import the ``gear`` package, and perhaps the very extensions
it is about to remove), so it imports the stdlib only.  ``write_record``
and ``remove_built`` are its helpers; everything takes the directory that
holds ``gear/`` (site-packages, a source tree, a build directory).
"""

from __future__ import annotations

import hashlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

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
#: mypyc's group name, so the shared library has a fixed name instead of a hash
GROUP = "gear"
#: the shared library holding the compiled code, a top-level module beside ``gear/``
SHARED_LIBRARY = f"{GROUP}__mypyc"
#: ``<sha256>  gear/server/broker.py`` per compiled source, in ``gear/``
RECORD = "_compiled.sha256"
#: the directory holding this ``gear`` package
ROOT = Path(__file__).resolve().parent.parent


def source_of(module: str, root: Path = ROOT) -> Path:
    """The ``.py`` file of a hot module under ``root``."""
    return root / (module.replace(".", "/") + ".py")


def _extensions(stem: Path) -> list[Path]:
    """The extension modules this interpreter would import for ``stem`` (no suffix)."""
    found = (stem.with_name(stem.name + suffix) for suffix in EXTENSION_SUFFIXES)
    return [path for path in found if path.exists()]


def compiled_modules(root: Path = ROOT) -> list[str]:
    """The hot modules with an extension beside their source (what ``import`` would load)."""
    return [m for m in HOT_MODULES if _extensions(source_of(m, root).with_suffix(""))]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded(root: Path) -> dict[str, str]:
    """``{"gear/x.py": sha256}`` of the sources the last compiled build was made from."""
    try:
        lines = (root / GROUP / RECORD).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    pairs = (line.split(maxsplit=1) for line in lines if line.strip())
    return {name.strip(): digest for digest, name in pairs}


def stale_modules(root: Path = ROOT) -> list[str]:
    """Compiled hot modules whose source is not what they were built from.

    A compiled module without a recorded hash (built by an older setup.py)
    counts as stale: nothing says it matches its source.
    """
    recorded = _recorded(root)
    stale = []
    for module in compiled_modules(root):
        source = source_of(module, root)
        name = source.relative_to(root).as_posix()
        if source.exists() and recorded.get(name) != _digest(source):
            stale.append(module)
    return stale


def stale_message(stale: list[str]) -> str:
    """One line saying which compiled modules are stale and what to do."""
    return (
        f"compiled modules do not match their source: {', '.join(stale)} (edited without a "
        "rebuild?); the old compiled code would run. Rebuild (pip install -e .) or install "
        "plain Python (GEAR_PURE=1 pip install -e .)"
    )


def describe(root: Path = ROOT) -> str:
    """``mypyc-compiled``, ``pure Python``, ``partly compiled (k of n)``, or what is broken."""
    done = len(compiled_modules(root))
    if done == 0:
        return "pure Python"
    if not _extensions(root / SHARED_LIBRARY):
        return f"broken: {done} compiled modules without their library {SHARED_LIBRARY}"
    if done == len(HOT_MODULES):
        return "mypyc-compiled"
    return f"partly compiled ({done} of {len(HOT_MODULES)})"


# ---------------------------------------------------------------- setup.py --
def write_record(root: Path, sources: Path) -> Path:
    """Record under ``root`` the hash of every hot module's source under ``sources``."""
    lines = []
    for module in HOT_MODULES:
        source = source_of(module, sources)
        lines.append(f"{_digest(source)}  {source.relative_to(sources).as_posix()}\n")
    record = root / GROUP / RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("".join(lines), encoding="utf-8")
    return record


def _built_files(root: Path) -> list[Path]:
    """Every compiled file of gear's under ``root``, for any interpreter, and the record."""
    found: list[Path] = []
    for module in HOT_MODULES:
        stem = source_of(module, root).with_suffix("")
        for pattern in (".so", ".*.so", ".pyd", ".*.pyd"):
            found.extend(stem.parent.glob(stem.name + pattern))
    # the shared library; older builds named it after a hash of the module list
    for pattern in ("*__mypyc.so", "*__mypyc.*.so", "*__mypyc.pyd", "*__mypyc.*.pyd"):
        found.extend(root.glob(pattern))
    return [*found, root / GROUP / RECORD]


def remove_built(root: Path) -> list[Path]:
    """Remove the compiled modules, the shared library and the record; return what was there."""
    removed = []
    for path in _built_files(root):
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed
