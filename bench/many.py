"""Many connections: 1,000 clients with one fg job each in flight, 100 workers.

Usage::

    python bench/many.py [-r 3] [--no-gear-bench] [--perf]

Starts gear serve (this interpreter's build), C gearmand ``-t 1`` and C
gearmand ``-t 4`` (its default) on free loopback ports, then runs, round
after round, each server in turn: gearbench ``-m fg -c 1000 -w 1 -k 100
-g 1`` (64-byte jobs, 3 s), and ``gear bench many`` with the same shape
(unless ``--no-gear-bench``), which checks the Python generator against the
C one.  For each server it prints the median rate, the pairwise ratio of
gear to each gearmand, the server's CPU (percent of one core) and its user
and system CPU per job (``/proc/PID/stat`` over the gearbench run, set-up
included), gearbench's own CPU and the whole machine's (200% = both of 2
cores busy), and the latency.  ``--perf`` then counts each server's system calls per
job (``perf stat``) and samples gear serve with ``perf record`` during one
more run each, and prints where its time went (kernel, interpreter,
compiled gear, uvloop); it needs perf and the right to trace the servers.
About 30 s a round; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # a sibling module
    Server,
    gear_bench,
    gearbench,
    gearbench_binary,
    load_average,
    perf_samples,
    servers_stopped,
    start_gear,
    start_gearmand,
    tempdir,
)

#: gearbench's arguments for the scenario (what ``gear bench many`` does by default)
MANY = "-m fg -c 1000 -w 1 -k 100 -g 1 -s 64 -n 2000000 -d 3 -t 60"


class Tally:
    """One server's figures over the rounds."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rates: list[float] = []
        self.gear_bench: list[float] = []
        self.cpu_pct: list[float] = []
        self.gen_pct: list[float] = []
        self.all_pct: list[float] = []
        self.user_us: list[float] = []
        self.sys_us: list[float] = []
        self.p50: list[float] = []
        self.p99: list[float] = []

    def run_gearbench(self, binary: str) -> None:
        user0, sys0 = self.server.cpu()
        got = gearbench(binary, self.server.port, MANY, self.server.pid)
        user1, sys1 = self.server.cpu()
        done = float(got["completed"])  # type: ignore[arg-type]
        self.rates.append(float(got["rt_rate"]))  # type: ignore[arg-type]
        self.cpu_pct.append(float(got.get("rt_srv_cpu_pct", 0.0)))  # type: ignore[arg-type]
        self.gen_pct.append(float(got.get("rt_gen_cpu_pct", 0.0)))  # type: ignore[arg-type]
        self.all_pct.append(float(got.get("rt_all_cpu_pct", 0.0)))  # type: ignore[arg-type]
        self.user_us.append((user1 - user0) / done * 1e6)
        self.sys_us.append((sys1 - sys0) / done * 1e6)
        lat = got["lat_us"]
        assert isinstance(lat, dict)
        self.p50.append(lat["p50"] / 1000)
        self.p99.append(lat["p99"] / 1000)

    def run_gear_bench(self) -> None:
        args = ["-s", self.server.address, "many", "-n", "2000000", "-d", "3", "-t", "60"]
        (got,) = gear_bench(args)
        self.gear_bench.append(float(got["rt_rate"]))  # type: ignore[arg-type]

    def row(self, gear: Tally | None) -> list[str]:
        med = statistics.median
        ratio = "-"
        if gear is not None and gear is not self:
            pairs = [g / r for g, r in zip(gear.rates, self.rates, strict=True) if r]
            ratio = f"{med(pairs):.2f}" if pairs else "-"
        return [
            self.server.name,
            f"{med(self.rates):,.0f}",
            ratio,
            f"{med(self.gear_bench):,.0f}" if self.gear_bench else "-",
            f"{med(self.cpu_pct):.0f} / {med(self.gen_pct):.0f} / {med(self.all_pct):.0f}",
            f"{med(self.user_us):.1f}",
            f"{med(self.sys_us):.1f}",
            f"{med(self.p50):.1f} / {med(self.p99):.1f}",
        ]


#: system calls counted per job by ``--perf`` (perf's tracepoints)
SYSCALLS = {
    "reads": ("read", "recvfrom", "recvmsg", "readv"),
    "writes": ("write", "sendto", "sendmsg", "writev"),
    "epoll": ("epoll_wait", "epoll_pwait", "epoll_ctl"),
}


def syscalls(server: Server, binary: str) -> list[str]:
    """System calls per job of ``server`` during one more run (``perf stat``)."""
    names = [n for group in SYSCALLS.values() for n in group]
    events = ",".join(["raw_syscalls:sys_enter", *(f"syscalls:sys_enter_{n}" for n in names)])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stat.csv")
        argv = ["perf", "stat", "-x", ",", "-o", out, "-e", events, "-p", str(server.pid)]
        perf = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            done = float(gearbench(binary, server.port, MANY)["completed"])  # type: ignore[arg-type]
        finally:
            perf.send_signal(2)
            perf.wait(30)
        counts: dict[str, float] = {}
        with open(out) as fh:
            for line in fh:
                fields = line.split(",")
                if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                    counts[fields[2].rsplit("sys_enter_", 1)[-1]] = float(fields[0])
    cells = [f"{counts.get('raw_syscalls:sys_enter', 0) / done:.2f}"]
    cells += [f"{sum(counts.get(n, 0) for n in group) / done:.2f}" for group in SYSCALLS.values()]
    return [server.name, *cells]


def profile(servers: list[Server], binary: str) -> None:
    """System calls per job of each server; where gear serve's CPU time goes."""
    rows = [syscalls(server, binary) for server in servers]
    print("\nsystem calls per job (perf stat during one more run each)")
    print("| server | all | reads | writes | epoll |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    gear = servers[0]
    reports = perf_samples(gear.pid, lambda: gearbench(binary, gear.port, MANY), 999, ("dso",))
    print("\ngear serve, share of its CPU samples by library (perf record during one more run):")
    for line in reports["dso"]:
        print("  " + line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--gearbench", help="a built gearbench (default: find or compile one)")
    parser.add_argument("--no-gear-bench", action="store_true", help="skip gear bench's column")
    parser.add_argument("--perf", action="store_true", help="profile gear serve with perf")
    args = parser.parse_args()
    binary = gearbench_binary(args.gearbench)
    print(f"load average before: {load_average()}")
    with tempdir() as tmp, servers_stopped([]) as servers:
        servers += [start_gear(), start_gearmand(1, tmp), start_gearmand(4, tmp)]
        tallies = [Tally(s) for s in servers]
        for _ in range(args.rounds):
            for tally in tallies:
                tally.run_gearbench(binary)
                if not args.no_gear_bench:
                    tally.run_gear_bench()
        print(f"load average after: {load_average()}")
        print(f"\ngearbench {MANY}; median of {args.rounds} rounds")
        print(
            "| server | jobs/s | gear / this (median of pairs) | gear bench many jobs/s "
            "| CPU %: server / gearbench / machine | server user µs/job | server sys µs/job "
            "| latency p50 / p99 ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for tally in tallies:
            print("| " + " | ".join(tally.row(tallies[0])) + " |")
        if args.perf:
            profile(servers, binary)


if __name__ == "__main__":
    main()
