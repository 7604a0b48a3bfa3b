"""``gear bench``: a load generator for any Gearman server.

Strategy: the library takes a ``BenchConfig`` and returns
``ScenarioResult`` values; the CLI only maps flags onto the config and prints
``report.format_table`` or ``report.to_json``.  Modules, from the wire up:

- ``wire``, ``bulk``: hand-rolled ``asyncio.Protocol`` clients and workers (the hot path);
- ``engine``: one process's connections and the phases of a scenario;
- ``runner``: one process or several (``--processes``), ``--spawn``, merging;
- ``stats``, ``results``: phases, percentiles, CPU time, merged results;
- ``report``: the table and the JSON objects;
- ``spawn``: ``gear serve --port 0`` as a subprocess (the server is never imported).
"""

from gear.bench.config import SCENARIOS, BenchConfig, BenchConfigError, BenchError
from gear.bench.report import format_table, to_json
from gear.bench.results import ScenarioResult
from gear.bench.runner import run_benchmark, run_scenario

__all__ = [
    "SCENARIOS",
    "BenchConfig",
    "BenchConfigError",
    "BenchError",
    "ScenarioResult",
    "format_table",
    "run_benchmark",
    "run_scenario",
    "to_json",
]
