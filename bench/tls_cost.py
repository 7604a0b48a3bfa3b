"""What TLS costs: ``gear bench`` against gear with and without TLS, and C gearmand.

    python bench/tls_cost.py            # 3 rounds, ~1 minute
    python bench/tls_cost.py -r 5 -n 100000

Starts, on free loopback ports: C gearmand 1.1.20 with ``--ssl`` and the same
certificates (Debian's build has no TLS compiled in: it logs "SSL: true" and
still speaks plain TCP, which this script checks with a real handshake
first), ``gear serve`` plain, and ``gear serve --tls-*``.  Then runs
``gear bench bg fg --json`` against each in turn, round after round (A B C A
B C ...), and prints the medians and the ratios of the same run.  bg_submit
is the submit phase of ``bg``; fg is ``fg`` round trips.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import trustme


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def certificates(folder: Path) -> dict[str, str]:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(files["cert"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    return {k: str(v) for k, v in files.items()}


def start_gearmand(c: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "/usr/sbin/gearmand",
            "-t",
            "1",
            "-L",
            "127.0.0.1",
            "-p",
            str(port),
            "-l",
            "stderr",
            "--ssl",
            "--ssl-ca-file",
            c["ca"],
            "--ssl-certificate",
            c["cert"],
            "--ssl-key",
            c["key"],
            "--verbose",
            "INFO",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if b"Listening on" in line:
            break
    # keep reading its log: a full pipe would stall gearmand
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, port


def start_gear(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gear", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    port = int(re.search(rb":(\d+) ", proc.stdout.readline()).group(1))  # type: ignore[union-attr]
    return proc, port


def speaks_tls(port: int, ca: str) -> str:
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return f"yes ({tls.version()})"
    except (OSError, ssl.SSLError) as exc:
        return f"no ({exc})"


def bench(port: int, tls_ca: str | None, n: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "gear", "bench", "-s", f"localhost:{port}", "bg", "fg"]
    cmd += ["-n", str(n), "-d", "0", "--json"]
    if tls_ca:
        cmd += ["--tls-ca", tls_ca]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = {r["scenario"]: r for r in map(json.loads, out.splitlines())}
    return {"bg_submit": rows["bg"]["submit_rate"], "fg": rows["fg"]["rt_rate"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-n", "--count", type=int, default=50_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gear-tls-cost-"))
    certs = certificates(folder)
    c_proc, c_port = start_gearmand(certs)
    plain_proc, plain_port = start_gear()
    tls_proc, tls_port = start_gear("--tls-cert", certs["cert"], "--tls-key", certs["key"])
    try:
        print(f"C gearmand --ssl speaks TLS: {speaks_tls(c_port, certs['ca'])}")
        print(f"gear serve --tls-cert speaks TLS: {speaks_tls(tls_port, certs['ca'])}")
        targets = {
            "C gearmand --ssl (plain TCP)": (c_port, None),
            "gear serve": (plain_port, None),
            "gear serve --tls": (tls_port, certs["ca"]),
        }
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in targets}
        for r in range(args.rounds):
            for name, (port, ca) in targets.items():
                runs[name].append(bench(port, ca, args.count))
            print(f"round {r + 1}: " + json.dumps({k: v[-1] for k, v in runs.items()}))
        med = {
            name: {key: statistics.median(x[key] for x in rows) for key in ("bg_submit", "fg")}
            for name, rows in runs.items()
        }
        print(f"\nmedians of {args.rounds} rounds, n={args.count:,} (jobs/s):")
        for name, m in med.items():
            print(f"  {name:30} bg_submit {m['bg_submit']:>9,.0f}   fg {m['fg']:>8,.0f}")
        c, plain, tls = (med[k] for k in targets)
        for key in ("bg_submit", "fg"):
            print(
                f"{key}: gear TLS / gear plain = {tls[key] / plain[key]:.2f}, "
                f"gear TLS / C plain = {tls[key] / c[key]:.2f}, "
                f"gear plain / C plain = {plain[key] / c[key]:.2f}"
            )
    finally:
        for proc in (c_proc, plain_proc, tls_proc):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
