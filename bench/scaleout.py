"""Scale-out: 1, 2 and 4 gear serve processes driven at once by gear bench.

Usage::

    python bench/scaleout.py [-r 3] [-S bg,fg,echo,many] [-P 1] [--servers 1,2,4]

Starts 4 ``gear serve --port 0`` processes (each ready when its first line
names its port), then, round after round, runs ``gear bench -s A [-s B …]``
with each count of servers; every worker connects to every server.  By
default (``--spread conn``) every client keeps its window in flight on each
server's connection, so each server is offered what one server was.  With
``--spread unique`` (or ``rr``) each client has one window, N times as
large, over all servers, and each job goes to the server its unique id
hashes to, as gear's client does; that window drifts from server to server
(see gear/bench/spread.py), which costs throughput.  ``--fixed-load``
keeps the one-server window instead.
With gear bench's default shapes one server is bound by the round trips
of 4 workers with one job each, not by its CPU; ``-g 8`` (8 GRAB_JOBs
pipelined per worker) makes it CPU-bound.  Prints,
per scenario and phase, the median aggregate rate for each count of
servers, the scaling factor against one server, each server's share (with
the most servers), the CPU per job of the servers (all together) and of the
generator, and how busy the machine was.  The machine's
cores bound what more servers can give: a server is one thread, and the
generator needs CPU too (``-P`` spreads it over more processes).  About
20 s a round per count of servers with the default scenarios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, gear_bench, load_average, servers_stopped, start_gear  # a sibling

#: each scenario's window with one server (gear bench's defaults); echoes are not
#: spread (each server's connection keeps the window), so theirs is not scaled
WINDOW = {"bg": 16, "fg": 16, "many": 1, "herd": 16}
#: the phases each scenario reports (gear bench's JSON names)
PHASES = {"bg": ["submit", "drain"], "fg": ["rt"], "echo": ["echo"], "many": ["rt"], "herd": ["rt"]}


def run(
    servers: list[Server], scenarios: list[str], extra: list[str], scale: int
) -> dict[str, dict]:
    """``gear bench`` over ``servers``, one run per scenario: per phase, rates and CPU.

    ``scale`` multiplies each client's window (the scenario's default); the
    servers' CPU per phase is gear bench's sum over their pids.
    """
    out: dict[str, dict] = {}
    for scenario in scenarios:
        window = ["-w", str(WINDOW[scenario] * scale)] if scenario in WINDOW else []
        argv = [a for s in servers for a in ("-s", s.address, "--server-pid", str(s.pid))]
        (got,) = gear_bench([*argv, scenario, *extra, *window])
        if got.get("fail") or got.get("timed_out") or got.get("lost"):
            raise SystemExit(f"gear bench {scenario} failed: {got}")
        for phase in PHASES[scenario]:
            shares = got.get(f"{phase}_per_server") or [{"count": got[f"{phase}_count"]}]
            total = sum(s["count"] for s in shares)
            out[f"{scenario} {phase}"] = {
                "rate": float(got[f"{phase}_rate"]),
                "shares": [s["count"] / total for s in shares],
                "gen": float(got[f"{phase}_gen_cpu_pct"]),
                "all": float(got.get(f"{phase}_all_cpu_pct", 0.0)),
                "srv": float(got[f"{phase}_srv_cpu_pct"]),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-S", "--scenarios", default="bg,fg,echo,many")
    parser.add_argument("--servers", default="1,2,4", help="counts of servers to compare")
    parser.add_argument("-P", "--processes", type=int, default=1, help="gear bench -P")
    parser.add_argument("-d", "--duration", type=float, default=3.0, help="gear bench -d")
    parser.add_argument(
        "-g", "--grabs", type=int, default=1, help="gear bench -g: GRAB_JOBs pipelined per worker"
    )
    parser.add_argument(
        "--spread",
        default="conn",
        choices=("conn", "unique", "rr"),
        help="gear bench --spread (default conn: a window per server connection)",
    )
    parser.add_argument(
        "--fixed-load",
        action="store_true",
        help="keep each client's window as with one server (default: N servers, N times "
        "the window, so each server sees the load one server saw)",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.servers.split(",")]
    scenarios = args.scenarios.split(",")
    extra = ["-P", str(args.processes), "-d", str(args.duration), "-n", "3000000", "-t", "60"]
    extra += ["-g", str(args.grabs), "--spread", args.spread]
    print(f"load average before: {load_average()}")
    runs: dict[int, list[dict[str, dict]]] = {n: [] for n in counts}
    with servers_stopped([]) as servers:
        servers += [start_gear() for _ in range(max(counts))]
        for _ in range(args.rounds):
            for n in counts:
                scale = 1 if args.fixed_load or args.spread == "conn" else n
                runs[n].append(run(servers[:n], scenarios, extra, scale))
    print(f"load average after: {load_average()}; {os.cpu_count()} cores")
    print_table(counts, runs, args.rounds)


def print_table(counts: list[int], runs: dict[int, list[dict[str, dict]]], rounds: int) -> None:
    med = statistics.median
    print(f"\nmedian of {rounds} rounds; rate = aggregate jobs (echoes) per second")
    print("CPU per job, µs: all servers together / the generator; machine: busy %, 200 = 2 cores")
    head = " | ".join(f"{n} server{'s' if n > 1 else ''}" for n in counts)
    print(f"| scenario | {head} | scaling | shares | CPU µs/job | machine % |")
    print("|---|" + "---|" * len(counts) + "---|---|---|---|")
    for key in runs[counts[0]][0]:
        rates = [med(r[key]["rate"] for r in runs[n]) for n in counts]
        scaling = " / ".join(f"{rate / rates[0]:.2f}" for rate in rates[1:]) or "-"
        last = runs[counts[-1]]
        shares = [
            med(r[key]["shares"][i] for r in last) for i in range(len(last[0][key]["shares"]))
        ]
        per_job = []
        for n, rate in zip(counts, rates, strict=True):
            srv = med(r[key]["srv"] for r in runs[n]) / rate * 1e4
            gen = med(r[key]["gen"] for r in runs[n]) / rate * 1e4
            per_job.append(f"{srv:.1f} / {gen:.1f}")
        machine = " ; ".join(f"{med(r[key]['all'] for r in runs[n]):.0f}" for n in counts)
        cells = [key, *(f"{rate:,.0f}" for rate in rates), scaling]
        cells += [" ".join(f"{s:.0%}" for s in shares), " ; ".join(per_job), machine]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
