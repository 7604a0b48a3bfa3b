"""The layering of STYLE.md §1 at run time: what a fresh interpreter loads.

The static rules (who may import whom, the sans-I/O protocol core, the
pure broker, front ends on the client's public API) are import-linter
contracts in pyproject.toml, checked by ``lint-imports`` in .ci/run.  What
they cannot see is what a process loads: lazy loaders (``gear.server``'s
``__getattr__``, the CLI's subcommands) import modules by name at run
time.  So a fresh interpreter imports one module and reports
``sys.modules``: the protocol core must not drag in networking, logging or
a front end; ``import gear`` must not load a front end or the server; the
broker alone loads no event loop; and ``gear serve`` loads neither
``gear.bench`` nor a front end.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gear

ROOT = Path(gear.__file__).resolve().parent.parent


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


SERVE_THEN_REPORT = """
import atexit, sys
atexit.register(lambda: print(repr(sorted(sys.modules)), flush=True))
from gear.cli import main
main(["serve", "--port", "0", "--log-level", "INFO"])
"""


def test_gear_serve_loads_no_bench_and_no_front_end() -> None:
    # the start-up log says which build runs (gear.build) without importing gear.bench
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_THEN_REPORT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        assert "listening on" in proc.stdout.readline()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "started (" in err  # the line that describes the build was logged
    modules = set(ast.literal_eval(out.strip().splitlines()[-1]))
    assert "gear.server.server" in modules and "gear.build" in modules
    assert offenders(modules, {"gear.bench", "textual", "prompt_toolkit", "gear.tui"}) == []


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
