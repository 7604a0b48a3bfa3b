"""What ``--metrics`` costs: the server with and without it, and the broker's own counters.

Usage::

    python bench/metrics_cost.py [--rounds 12] [--base /tmp/main-copy]
    python bench/metrics_cost.py --broker [--base /tmp/main-copy]

Servers: ``gear serve``, ``gear serve --metrics`` scraped once a second,
``gear serve --metrics`` never scraped, and, with ``--base DIR``, the
``gear`` package found in DIR (a copy of another build, e.g. main's source
with its compiled ``.so`` files) all run at once on free loopback ports;
each round runs gearbench's fg and bg scenarios against each of them in a
rotated order.  Reported per server: the median rate, the median server CPU
time per job (less sensitive than rates to the other load on a shared
machine), and the median of the per-round ratios to the first server.

``--broker``: the broker alone, in this process (compiled if installed
so): SUBMIT_JOB, GRAB_JOB_UNIQ, WORK_COMPLETE per iteration, best of five
runs of 200,000, in microseconds per job; with ``--base`` the same loop
runs in a child interpreter on DIR's package, alternately.

gearbench comes from ``--gearbench`` or ../shared/bench.  Bounded by count
and time; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: where ../shared/bench is from a checkout in /work/main or /work/wt/NAME
GEARBENCH_PLACES = [HERE.parents[n] / "shared" / "bench" / "gearbench" for n in (1, 2)]
FG = "-m fg -c 4 -w 16 -k 4 -g 1 -s 64 -n 200000 -d 3 -t 60".split()
BG = "-m bg -c 4 -w 32 -k 4 -g 1 -s 64 -n 300000 -d 8 -t 90".split()

BROKER_LOOP = """
import time
import gear
from gear.protocol.constants import PacketType as P
from gear.server.broker import Broker, BrokerConfig

b = Broker(BrokerConfig(handle_prefix=b"H:x:"), time.time)
c, w = b.connect("c", 1), b.connect("w", 2)
b.handle_packet(w, (int(P.CAN_DO), (b"f",)))
SUB = (int(P.SUBMIT_JOB), (b"f", b"", b"x" * 64))
GRAB, DONE = (int(P.GRAB_JOB_UNIQ), ()), int(P.WORK_COMPLETE)
h = b.handle_packet


def run(n):
    t = time.process_time()
    for _ in range(n):
        h(c, SUB)
        h(w, GRAB)
        handle = w.out[0][12:].split(b"\\0", 1)[0]
        h(w, (DONE, (handle, b"r")))
        c.out.clear(); w.out.clear(); b.dirty.clear()
    return (time.process_time() - t) / n * 1e6


print(f"{min(run(200_000) for _ in range(5)):.3f}")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker(base: str | None, rounds: int) -> None:
    builds = {"this": None} | ({"base": base} if base else {})
    results: dict[str, list[float]] = {name: [] for name in builds}
    for _ in range(rounds):
        for name, path in builds.items():
            env = {**os.environ, **({"PYTHONPATH": path} if path else {})}
            out = subprocess.run(
                [sys.executable, "-c", BROKER_LOOP], env=env, cwd="/", capture_output=True,
                text=True, check=True, timeout=300,
            ).stdout  # fmt: skip
            results[name].append(float(out))
    for name, values in results.items():
        print(f"{name}: {', '.join(f'{v:.3f}' for v in values)} us/job")


def start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [*argv, "--port", str(port)], env={**os.environ, **env}, cwd="/",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # "listening on": ready
    return proc, port


def phase(gearbench: str, port: int, pid: int, mode: str) -> tuple[float, float]:
    args = FG if mode == "fg" else BG
    out = subprocess.run(
        [gearbench, "-p", str(port), *args, "--server-pid", str(pid)],
        capture_output=True, text=True, timeout=180,
    ).stdout  # fmt: skip
    d = json.loads(out.strip().splitlines()[-1])
    key, count = ("rt", d["completed"]) if mode == "fg" else ("submit", d["created"])
    cpu = d[f"{key}_s"] * d[f"{key}_srv_cpu_pct"] / 100
    return d[f"{key}_rate"], cpu / count * 1e6


def servers(args: argparse.Namespace) -> None:
    gear = [sys.executable, "-m", "gear", "serve"]
    scraped = free_port()
    wanted = {
        "gear serve": (gear, {}),
        "--metrics, scraped 1/s": ([*gear, "--metrics", f"127.0.0.1:{scraped}"], {}),
        "--metrics, not scraped": ([*gear, "--metrics", "127.0.0.1:0"], {}),
    }
    if args.base:
        wanted = {"base": (gear, {"PYTHONPATH": args.base})} | wanted
    running = {name: start(argv, env) for name, (argv, env) in wanted.items()}
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(1.0):
            with urllib.request.urlopen(f"http://127.0.0.1:{scraped}/metrics", timeout=5) as r:
                r.read()

    threading.Thread(target=scrape, daemon=True).start()
    keys = ("fg rate", "fg us", "bg rate", "bg us")
    res = {name: {k: [] for k in keys} for name in running}
    names = list(running)
    try:
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                proc, port = running[name]
                for mode in ("fg", "bg"):
                    rate, us = phase(args.gearbench, port, proc.pid, mode)
                    res[name][f"{mode} rate"].append(rate)
                    res[name][f"{mode} us"].append(us)
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
    finally:
        stop.set()
        for proc, _ in running.values():
            proc.terminate()
            proc.wait(10)
    report(res, names)


def report(res: dict[str, dict[str, list[float]]], names: list[str]) -> None:
    print("| server | fg /s | fg server CPU us/job | bg_submit /s | bg_submit server CPU us/job |")
    print("|---|---|---|---|---|")
    for name in names:
        m = {k: statistics.median(v) for k, v in res[name].items()}
        print(
            f"| {name} | {m['fg rate']:,.0f} | {m['fg us']:.2f} "
            f"| {m['bg rate']:,.0f} | {m['bg us']:.2f} |"
        )
    first = names[0]
    for name in names[1:]:
        ratio = {
            k: statistics.median(a / b for a, b in zip(res[name][k], res[first][k], strict=True))
            for k in res[name]
        }
        print(
            f"{name} / {first}, median per round: fg x{ratio['fg rate']:.3f} "
            f"(CPU/job x{ratio['fg us']:.3f}), bg_submit x{ratio['bg rate']:.3f} "
            f"(CPU/job x{ratio['bg us']:.3f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--base", help="a directory holding another build's gear package")
    ap.add_argument("--broker", action="store_true", help="time the broker alone")
    ap.add_argument("--gearbench", help="the gearbench binary (default: ../shared/bench's)")
    args = ap.parse_args()
    if not args.broker and not args.gearbench:
        found = [p for p in GEARBENCH_PLACES if p.exists()]
        if not found:
            ap.error("gearbench not found: build it (make -C ../shared/bench) and give --gearbench")
        args.gearbench = str(found[0])
    started = time.monotonic()
    if args.broker:
        broker(args.base, min(args.rounds, 5))
    else:
        servers(args)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
