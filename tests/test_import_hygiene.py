"""The layering of STYLE.md §1, checked two ways.

At run time, a fresh interpreter imports one module and reports
``sys.modules``: the protocol core must not drag in networking, logging or a
front end, and ``import gear`` must not load a front end or the server.  At
rest, the AST of every module is read: ``gear/protocol`` imports none of
asyncio, socket, time, random or logging (``time`` and ``random`` are often
loaded at interpreter start, so only the source can show it), and the front
ends (``gear/cli``, ``gear/tui``) never import ``gear.server``, except
``gear/cli/serve.py``, whose job is to start it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gear

GEAR = Path(gear.__file__).resolve().parent
ROOT = GEAR.parent


def loaded_modules(code: str) -> set[str]:
    """``sys.modules`` of a fresh interpreter after running ``code``."""
    script = f"{code}\nimport sys\nprint(repr(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
    )
    modules = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert isinstance(modules, list)
    return set(modules)


def offenders(modules: set[str], forbidden: set[str]) -> list[str]:
    """The modules that are, or are inside, a forbidden package."""
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


# ------------------------------------------------------------- at run time --
def test_protocol_core_loads_no_io_logging_or_front_end() -> None:
    modules = loaded_modules("import gear.protocol")
    assert "gear.protocol.framing" in modules  # the import really happened
    forbidden = {"asyncio", "socket", "logging", "click", "prompt_toolkit", "textual"}
    assert offenders(modules, forbidden) == []


def test_import_gear_loads_no_front_end_and_no_server() -> None:
    modules = loaded_modules("import gear")
    assert "gear" in modules
    forbidden = {"click", "prompt_toolkit", "textual", "gear.server", "gear.cli", "gear.tui"}
    assert offenders(modules, forbidden) == []


def test_cli_group_loads_subcommands_lazily() -> None:
    # `gear --help` must stay fast: the group alone loads neither the server
    # nor the REPL's or the dashboard's toolkits
    modules = loaded_modules("import gear.cli")
    assert "click" in modules
    assert offenders(modules, {"gear.server", "prompt_toolkit", "textual"}) == []


def test_serve_loads_no_http_stack_unless_asked() -> None:
    # aiohttp and prometheus-client are imported by gear.server.httpd, which
    # the server loads only for --metrics or --http
    modules = loaded_modules("import gear.cli.serve, gear.server.server")
    assert "gear.server.server" in modules
    assert offenders(modules, {"aiohttp", "prometheus_client", "gear.server.httpd"}) == []


BROKER_ALONE = """
import sys, types
from pathlib import Path
import gear
# an empty package object stands in for gear/server/__init__.py (which
# starts the asyncio server) so that only the broker's own imports run
package = types.ModuleType("gear.server")
package.__path__ = [str(Path(gear.__file__).parent / "server")]
sys.modules["gear.server"] = package
import gear.server.broker
"""


def test_broker_loads_no_asyncio() -> None:
    modules = loaded_modules(BROKER_ALONE)
    assert "gear.server.broker" in modules
    assert "gear.server.server" not in modules  # the stand-in package worked
    assert offenders(modules, {"asyncio", "socket", "logging", "uvloop", "selectors"}) == []


# ----------------------------------------------------------------- at rest --
def imported_modules(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a module under gear/.

    ``from X import a`` yields ``X`` and ``X.a`` (``a`` may be a submodule);
    relative imports are resolved against the module's package; a literal
    ``importlib.import_module("...")`` counts as an import.
    """
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    if package and package[-1] == "__init__":
        package = package[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def python_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.py")) if directory.is_dir() else []


def violations(files: list[Path], forbidden: set[str], root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {name}"
        for path in files
        for line, name in imported_modules(path, root)
        if any(is_within(name, f) for f in forbidden)
    ]


def test_protocol_core_source_imports_no_io() -> None:
    files = python_files(GEAR / "protocol")
    assert len(files) >= 5
    stdlib = {"asyncio", "socket", "time", "random", "logging", "selectors", "threading"}
    assert violations(files, stdlib) == []


def test_protocol_core_source_imports_nothing_upward() -> None:
    upward = {"gear.client", "gear.server", "gear.cli", "gear.tui", "gear.testing"}
    assert violations(python_files(GEAR / "protocol"), upward) == []


def module_file(name: str) -> Path | None:
    """The source file of a module under gear/, if ``name`` is one."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_closure(start: str) -> dict[str, Path]:
    """``start`` and every gear module it imports, directly or not."""
    seen: dict[str, Path] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(n for _, n in imported_modules(path) if is_within(n, "gear"))
    return seen


def test_broker_source_imports_no_io_clock_or_rng() -> None:
    # the clock and the RNG are injected (STYLE.md rule 6); the event loop is the shell's
    closure = import_closure("gear.server.broker")
    assert {"gear.server.broker", "gear.server.state", "gear.protocol.packets"} <= set(closure)
    assert "gear.server.server" not in closure
    forbidden = {"asyncio", "socket", "logging", "time", "random", "selectors", "threading"}
    assert violations(sorted(set(closure.values())), forbidden) == []


SERVER_ALLOWED = {GEAR / "cli" / "serve.py"}


def test_front_ends_never_import_the_server() -> None:
    files = python_files(GEAR / "cli") + python_files(GEAR / "tui")
    assert GEAR / "cli" / "__init__.py" in files
    checked = [path for path in files if path not in SERVER_ALLOWED]
    assert violations(checked, {"gear.server"}) == []


def test_serve_command_is_the_one_exception() -> None:
    # the exception is used, so the rule above is not vacuous for it
    serve = GEAR / "cli" / "serve.py"
    assert [n for _, n in imported_modules(serve) if is_within(n, "gear.server")]


# ------------------------------------------------- the checker checks itself --
@pytest.mark.parametrize(
    ("where", "source", "hits"),
    [
        ("gear/cli/x.py", "import gear.server", True),
        ("gear/cli/x.py", "import gear.server.config as c", True),
        ("gear/cli/x.py", "from gear.server import run", True),
        ("gear/cli/x.py", "from gear.server.config import ServerConfig", True),
        ("gear/cli/x.py", "from gear import server", True),
        ("gear/cli/x.py", "from .. import server", True),
        ("gear/cli/x.py", "from ..server.broker import Broker", True),
        ("gear/cli/repl/x.py", "from ...server import run", True),
        ("gear/cli/x.py", "def f():\n    import gear.server\n", True),
        ("gear/cli/x.py", "importlib.import_module('gear.server.config')", True),
        ("gear/cli/x.py", "import gear.serverless", False),
        ("gear/cli/x.py", "from gear import serve", False),
        ("gear/cli/x.py", "from . import serve", False),
        ("gear/cli/x.py", "from gear.cli import serve", False),
        ("gear/cli/x.py", "x = 'gear.server'", False),
        ("gear/cli/x.py", "import gear", False),
    ],
)
def test_import_checker(tmp_path: Path, where: str, source: str, hits: bool) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n", encoding="utf-8")
    assert bool(violations([path], {"gear.server"}, root=tmp_path)) is hits
