"""Soak: 10,000 TLS connections held while 1,000,000 background jobs go through TLS.

    python bench/soak.py                        # the figures in docs/reliability.md
    python bench/soak.py --connections 2000 --jobs 100000   # a quick look

1. Raise the open-files limit (this process and the server it starts).
2. Start ``gear serve`` with TLS (trustme certificates) and read its RSS.
3. Open ``--connections`` TLS connections, each checked with an ECHO
   round trip, and hold them; ``stats`` must count them all.
4. While they are held, ``gear bench bg --tls-ca ...`` submits ``--jobs``
   background jobs over TLS and drains them with workers; the server's RSS
   is sampled every 50 ms for the peak.
5. ``status`` must show the function empty, every job created and assigned
   exactly once (bench counters), no ERROR packet: 0 lost.
6. The held connections are closed; RSS after the drain and after the close.

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gear.protocol import PacketType as P
from gear.protocol import request


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, want)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


#: the CA of the soak's server, for admin connections (set by ``soak``)
CONTEXT: list[ssl.SSLContext] = []


def admin(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with CONTEXT[0].wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(line.encode() + b"\n")
            data = b""
            while not data.endswith(b".\n"):
                data += sock.recv(65536)
            return data.decode()


def stats(port: int) -> dict[str, str]:
    rows = [line.split("\t") for line in admin(port, "stats").splitlines()[:-1]]
    return {row[0]: row[1] for row in rows}


class Sampler(threading.Thread):
    """The server's peak RSS while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.pid))


async def hold(port: int, ctx: ssl.SSLContext, n: int) -> list[asyncio.StreamWriter]:
    """Open ``n`` TLS connections (64 handshakes at a time), each echoed once."""
    writers: list[asyncio.StreamWriter] = []
    gate = asyncio.Semaphore(64)
    ping = request(P.ECHO_REQ, b"soak")

    async def one() -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
            )
            writer.write(ping)
            await reader.readexactly(12 + 4)
            writers.append(writer)

    await asyncio.gather(*(one() for _ in range(n)))
    return writers


def run_bench(port: int, ca: str, jobs: int, function: str) -> dict[str, object]:
    cmd = [sys.executable, "-m", "gear", "bench", "-s", f"localhost:{port}", "--tls-ca", ca]
    cmd += ["bg", "-n", str(jobs), "-d", "0", "-t", "1800", "--function", function, "--json"]
    cmd += ["--grabs", "16"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if out.returncode not in (0, 1):
        raise SystemExit(f"gear bench failed: {out.stderr}")
    return dict(json.loads(out.stdout.splitlines()[-1]))


async def soak(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="gear-soak-"))
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "server.key"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gear",
            "serve",
            "--port",
            "0",
            "--tls-cert",
            str(folder / "server.pem"),
            "--tls-key",
            str(folder / "server.key"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    port = int(re.search(rb":(\d+) ", server.stdout.readline()).group(1))  # type: ignore[union-attr]
    result: dict[str, object] = {"fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    try:
        result["rss_start_mib"] = round(rss_mib(server.pid), 1)
        ctx = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        CONTEXT[:] = [ctx]
        started = time.monotonic()
        writers = await hold(port, ctx, args.connections)
        result["connect_s"] = round(time.monotonic() - started, 1)
        result["held"] = len(writers)
        result["server_connections"] = int(stats(port)["connections"])
        result["rss_held_mib"] = round(rss_mib(server.pid), 1)
        sampler = Sampler(server.pid)
        sampler.start()
        started = time.monotonic()
        function = f"soak_{int(time.time())}"
        bench = await asyncio.to_thread(
            run_bench, port, str(folder / "ca.pem"), args.jobs, function
        )
        result["bench_s"] = round(time.monotonic() - started, 1)
        sampler.done.set()
        sampler.join()
        result["rss_peak_mib"] = round(sampler.peak, 1)
        for key in ("created", "assigned", "errors", "unexpected", "submit_rate", "drain_rate"):
            result[key] = bench.get(key)
        left = [line for line in admin(port, "status").splitlines() if line.startswith(function)]
        result["left_in_queue"] = int(left[0].split("\t")[1]) if left else 0
        result["lost"] = args.jobs - int(bench["assigned"])  # type: ignore[call-overload]
        time.sleep(2.5)  # the server's memory poll runs once a second
        result["rss_after_drain_mib"] = round(rss_mib(server.pid), 1)
        for writer in writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
        time.sleep(2.5)
        result["rss_after_close_mib"] = round(rss_mib(server.pid), 1)
        result["server_connections_after"] = int(stats(port)["connections"])
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    # each side (this process, the server) holds one socket per connection
    limit = raise_fd_limit(args.connections + 1024)
    if limit < args.connections + 256:
        raise SystemExit(f"open-files limit {limit} is too low for {args.connections} connections")
    try:
        import uvloop

        result = uvloop.run(soak(args))
    except ImportError:
        result = asyncio.run(soak(args))
    for key, value in result.items():
        print(f"{key:28} {value}")
    print(json.dumps(result))
    ok = result["lost"] == 0 and result["errors"] == 0 and result["left_in_queue"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
