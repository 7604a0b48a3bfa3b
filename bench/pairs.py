"""Every pair of a compare.py run: the median ratio and the worst pair per scenario.

Usage::

    python3 ../shared/bench/compare.py --cmd 'gear serve --port {port}' -r 5 --json \\
        2> pairs.jsonl | tee table.md
    python3 bench/pairs.py pairs.jsonl

compare.py prints the median of the pairwise ratios; with ``--json`` it
also writes each gearbench line, labelled ``ref/RUN/N`` or ``cand/RUN/N``,
to stderr.  This reads those lines back and prints, per scenario, every
pair's ratio (candidate / reference), their median and the worst one: the
goal of issue #17 is a median of at least 1.0 with no pair below 0.9.
"""

from __future__ import annotations

import json
import statistics
import sys

#: scenario -> (compare.py's run, the JSON key of its figure), as in compare.py
SCENARIOS = {
    "bg_submit": ("bg", "submit_rate"),
    "bg_drain": ("bg", "drain_rate"),
    "bg_drain8": ("bg8", "drain_rate"),
    "fg": ("fg", "rt_rate"),
    "herd": ("herd", "rt_rate"),
    "echo": ("echo", "echo_rate"),
}


def read_runs(path: str) -> dict[str, dict[str, object]]:
    """The gearbench lines of a compare.py ``--json`` stderr, by label."""
    runs: dict[str, dict[str, object]] = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            label = record.get("label")
            if isinstance(label, str):
                runs[label] = record
    return runs


def pair_ratios(runs: dict[str, dict[str, object]], run: str, key: str) -> list[float]:
    ratios = []
    n = 0
    while f"ref/{run}/{n}" in runs and f"cand/{run}/{n}" in runs:
        ref, cand = runs[f"ref/{run}/{n}"].get(key), runs[f"cand/{run}/{n}"].get(key)
        if isinstance(ref, (int, float)) and isinstance(cand, (int, float)) and ref:
            ratios.append(cand / ref)
        n += 1
    return ratios


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: pairs.py COMPARE_STDERR.jsonl", file=sys.stderr)
        return 2
    runs = read_runs(argv[0])
    print("| scenario | pairs (candidate / reference) | median | worst |")
    print("|---|---|---|---|")
    for name, (run, key) in SCENARIOS.items():
        ratios = pair_ratios(runs, run, key)
        if not ratios:
            continue
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        print(f"| {name} | {listed} | **{median:.2f}** | {min(ratios):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
