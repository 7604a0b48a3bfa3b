"""Where an fg job's time goes: gear serve against C gearmand, per job.

Usage::

    python bench/fgprofile.py [-r 3] [--perf] [--gear-args '--busy-poll 0']

Starts gear serve (this interpreter's build) and C gearmand ``-t 1`` on free
loopback ports and runs compare.py's fg scenario (gearbench ``-m fg -c 4
-w 16 -k 4 -g 1``, 64-byte jobs, 3 s) against each, alternately, ``-r``
rounds.  For each server it prints the median rate, its CPU (percent of one
core) and its user and system CPU per job (``/proc/PID/stat`` over the run),
and the system calls it made per job (``perf stat``, one more run).
``--perf`` also samples gear serve (``perf record``, one more run) and
prints its CPU by library and its 25 hottest symbols: the profile quoted
in docs/benchmarks.md.  127.0.0.1 only; about 10 s a round.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # a sibling module
    Server,
    gearbench,
    gearbench_binary,
    load_average,
    perf_samples,
    servers_stopped,
    start_gear,
    start_gearmand,
    tempdir,
)

#: compare.py's fg scenario
FG = "-m fg -c 4 -w 16 -k 4 -g 1 -s 64 -n 1000000 -d 3 -t 30"
SYSCALLS = ("read", "write", "epoll_wait", "epoll_pwait", "recvfrom", "sendto")


def measure(binary: str, server: Server) -> tuple[float, float, float, float]:
    """(jobs/s, CPU %, user µs/job, system µs/job) of one fg run."""
    user0, sys0 = server.cpu()
    started = time.monotonic()
    result = gearbench(binary, server.port, FG)
    wall = time.monotonic() - started
    user1, sys1 = server.cpu()
    jobs = float(result["completed"])  # type: ignore[arg-type]
    rate = float(result["rt_rate"])  # type: ignore[arg-type]
    used_user, used_sys = user1 - user0, sys1 - sys0
    return rate, 100 * (used_user + used_sys) / wall, 1e6 * used_user / jobs, 1e6 * used_sys / jobs


def syscalls_per_job(binary: str, server: Server) -> str:
    """System calls per job during one more run (perf's tracepoints)."""
    events = ",".join(f"syscalls:sys_enter_{name}" for name in SYSCALLS)
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        argv = ["perf", "stat", "-x", ",", "-o", out.name, "-e", events, "-p", str(server.pid)]
        perf = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            result = gearbench(binary, server.port, FG)
        finally:
            perf.send_signal(2)
            perf.wait(30)
        counts = {}
        for line in open(out.name):
            fields = line.split(",")
            if len(fields) > 2 and fields[0].strip().isdigit():
                counts[fields[2].split("sys_enter_")[-1]] = int(fields[0])
    jobs = float(result["completed"])  # type: ignore[arg-type]
    parts = [f"{name} {n / jobs:.2f}" for name, n in counts.items() if n]
    return f"{sum(counts.values()) / jobs:.2f} ({', '.join(parts)})"


def profile(binary: str, gear: Server) -> None:
    """Sample gear serve during one more run; print its CPU by library and symbol."""
    reports = perf_samples(
        gear.pid, lambda: gearbench(binary, gear.port, FG), 2999, ("dso", "dso,sym")
    )
    for sort, lines in (("dso", 8), ("dso,sym", 25)):
        print(f"\ngear serve's CPU samples by {sort.replace(',', ' and ')}:")
        print("\n".join(reports[sort][:lines]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--perf", action="store_true", help="sample gear serve with perf record")
    parser.add_argument("--gear-args", default="", help="more gear serve options")
    args = parser.parse_args()
    binary = gearbench_binary(None)
    print(f"load average before: {load_average()}")
    with tempdir() as tmp, servers_stopped([]) as servers:
        gear = start_gear(tuple(shlex.split(args.gear_args)))
        servers.append(gear)
        servers.append(start_gearmand(1, tmp))
        figures: dict[str, list[tuple[float, float, float, float]]] = {s.name: [] for s in servers}
        for _ in range(args.rounds):
            for server in servers:
                figures[server.name].append(measure(binary, server))
        print("| server | fg jobs/s | CPU % | user µs/job | system µs/job | system calls/job |")
        print("|---|---|---|---|---|---|")
        for server in servers:
            rows = figures[server.name]
            med = [statistics.median(r[i] for r in rows) for i in range(4)]
            calls = syscalls_per_job(binary, server)
            print(
                f"| {server.name} | {med[0]:,.0f} | {med[1]:.0f} | {med[2]:.1f} | {med[3]:.1f} "
                f"| {calls} |"
            )
        if args.perf:
            profile(binary, gear)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
