"""Submit and drain rates with a deep queue: gear serve against C gearmand.

Usage::

    python bench/depth.py [--depth 200000] [-r 3]

For each server (C gearmand ``-t 1``, then gear serve), on a free loopback
port: run gearbench's bg scenario on the empty server (4 clients x 32
SUBMIT_JOB_BG in flight, 50,000 jobs, then 4 workers with 8 GRAB_JOBs
pipelined drain them), queue DEPTH background jobs of another function
that nobody serves, and run the same scenario again.  A server whose
look-ups stay O(1) keeps its rates; C gearmand's fixed 991-bucket hash
tables slow down as the queue grows.  Prints one Markdown table (medians
over ``-r`` repeats).  gearbench comes from ``--gearbench`` or is compiled
from ../shared/bench/gearbench.c.  Bounded by count; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import fill, started  # a sibling script

SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench", "gearbench.c")
BG = "-m bg -c 4 -w 32 -k 4 -g 8 -s 64 -n 50000 -t 60"


def build_gearbench(tmp: str) -> str:
    binary = os.path.join(tmp, "gearbench")
    subprocess.run(["cc", "-O2", "-o", binary, SOURCE], check=True)
    return binary


def bg_rates(gearbench: str, port: int, pid: int) -> tuple[float, float]:
    argv = [gearbench, "-p", str(port), *BG.split(), "--server-pid", str(pid)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["submit_rate"]), float(result["drain_rate"])


def measure(command: str, depth: int, gearbench: str) -> tuple[float, float, float, float]:
    with started(command) as (port, pid):
        empty = bg_rates(gearbench, port, pid)
        fill(port, depth, 64)
        deep = bg_rates(gearbench, port, pid)
    return (*empty, *deep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth", type=int, default=200_000)
    parser.add_argument("-r", "--repeat", type=int, default=3)
    parser.add_argument("--gearbench", help="a built gearbench (default: compile one)")
    parser.add_argument("--gear", default=f"{sys.executable} -m gear serve --port {{port}}")
    parser.add_argument(
        "--ref", default="/usr/sbin/gearmand -L 127.0.0.1 -p {port} -t 1 -l stderr -P {tmp}/g.pid"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gearbench = args.gearbench or build_gearbench(tmp)
        rows = []
        for name, command in (("C gearmand -t 1", args.ref), ("gear serve", args.gear)):
            runs = [measure(command, args.depth, gearbench) for _ in range(args.repeat)]
            medians = [statistics.median(column) for column in zip(*runs, strict=True)]
            rows.append([name, *(f"{value:,.0f}" for value in medians)])
    print(f"bg scenario ({BG}) empty, then with {args.depth:,} other jobs queued;")
    print(f"median of {args.repeat} runs, jobs/s")
    print("| server | submit, empty | drain, empty | submit, deep | drain, deep |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
