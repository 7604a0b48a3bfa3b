"""Shared pieces of the bench/ scripts: servers as subprocesses, gearbench, CPU readings.

Strategy: every script starts its own servers on free loopback ports and
stops them at the end (``gear serve --port 0`` is ready when its first line
names the port; C gearmand when its port accepts a connection), so each
measurement is one command with nothing left running.  CPU time of a
server comes from ``/proc/PID/stat`` (user and system, all threads); the
machine's load average is printed with every result, since these machines
are shared.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import select
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
GEARMAND = "/usr/sbin/gearmand"
#: C gearmand with N I/O threads on {port}; {tmp} is a fresh directory
GEARMAND_CMD = (
    GEARMAND + " -L 127.0.0.1 -p {port} -l stderr --verbose ERROR -t {threads} -P {tmp}/g{port}.pid"
)
_LISTENING = re.compile(rb"listening on \[?[^\s\]]*\]?:(\d+)")
_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    """``uptime``'s three load averages, e.g. ``1.02 0.95 0.80``."""
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


@dataclass
class Server:
    """A server subprocess under measurement."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cpu(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far, all threads."""
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / _TICK, int(fields[12]) / _TICK

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gear(args: tuple[str, ...] = (), timeout: float = 20.0) -> Server:
    """``gear serve --port 0 ARGS`` (this interpreter's), ready: its first line names the port."""
    argv = [sys.executable, "-m", "gear", "serve", "--listen", "127.0.0.1", "--port", "0", *args]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    match = _LISTENING.search(line)
    if match is None:
        proc.kill()
        proc.wait()
        raise SystemExit(f"gear serve did not start: {line!r}")
    # nobody reads its stdout from here on; it writes nothing more to it
    return Server("gear serve", proc, int(match.group(1)))


def start_command(name: str, template: str, tmp: str, timeout: float = 30.0) -> Server:
    """A server from a command template (``{port}``, ``{tmp}``), ready when its port accepts."""
    port = free_port()
    argv = shlex.split(template.format(port=port, tmp=tmp))
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited at start: {' '.join(argv)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return Server(name, proc, port)
        time.sleep(0.05)  # polling a port another process opens: nothing to wait on
    proc.kill()
    raise SystemExit(f"{name} did not listen within {timeout} s")


def start_gearmand(threads: int, tmp: str) -> Server:
    """C gearmand with ``threads`` I/O threads (``-t``)."""
    template = GEARMAND_CMD.replace("{threads}", str(threads))
    return start_command(f"C gearmand -t {threads}", template, tmp)


@contextlib.contextmanager
def servers_stopped(servers: list[Server]) -> Iterator[list[Server]]:
    """Stop every server of ``servers`` (which may still grow) when the block ends."""
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def gearbench_binary(given: str | None) -> str:
    """A gearbench to run: ``given``, a built one next to its source, or compile one."""
    if given:
        return given
    candidates = [os.path.join(HERE, *[".."] * up, "shared", "bench") for up in (1, 2, 3)]
    for folder in candidates:
        source = os.path.join(folder, "gearbench.c")
        if not os.path.exists(source):
            continue
        binary = os.path.join(folder, "gearbench")
        if os.access(binary, os.X_OK) and os.path.getmtime(binary) >= os.path.getmtime(source):
            return binary
        cache = os.path.join(os.path.expanduser("~/.cache"), "gearbench")
        os.makedirs(cache, exist_ok=True)
        binary = os.path.join(cache, "gearbench")
        subprocess.run(["cc", "-O2", "-std=gnu11", "-o", binary, source], check=True)
        return binary
    raise SystemExit("gearbench.c not found (../shared/bench); pass --gearbench PATH")


def gearbench(
    binary: str, port: int, args: str, pid: int = 0, timeout: float = 120
) -> dict[str, object]:
    """Run gearbench against ``port``; its JSON line."""
    argv = [binary, "-p", str(port), *args.split()]
    if pid:
        argv += ["--server-pid", str(pid)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    lines = out.stdout.strip().splitlines()
    if not lines:
        raise SystemExit(f"gearbench failed: {out.stderr.strip()[-300:]}")
    result: dict[str, object] = json.loads(lines[-1])
    return result


def gear_bench(args: list[str], timeout: float = 300) -> list[dict[str, object]]:
    """Run ``gear bench ARGS --json`` (this interpreter's); one dict per scenario."""
    argv = [sys.executable, "-m", "gear", "bench", *args, "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if not out.stdout.strip():
        raise SystemExit(f"gear bench failed: {out.stderr.strip()[-300:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="gear-bench-")


def gearmand_present() -> bool:
    return os.access(GEARMAND, os.X_OK)


def postgres_bindir() -> str | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb and pg_ctl."""
    found = []
    for bindir in glob.glob("/usr/lib/postgresql/*/bin"):
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("initdb", "pg_ctl")):
            version = os.path.basename(os.path.dirname(bindir))
            found.append((int(version) if version.isdigit() else 0, bindir))
    return max(found)[1] if found else None


def perf_samples(
    pid: int, run: Callable[[], object], frequency: int, sorts: Sequence[str]
) -> dict[str, list[str]]:
    """Sample process ``pid`` with ``perf record`` while ``run()`` runs.

    Returns the rows of ``perf report`` (share, then the key) for each sort
    key in ``sorts`` ("dso", "dso,sym", ...), highest first.
    """
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        perf = subprocess.Popen(
            ["perf", "record", "-F", str(frequency), "-o", data, "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            run()
        finally:
            perf.send_signal(2)
            perf.wait(30)
        reports = {}
        for sort in sorts:
            report = subprocess.run(
                ["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", sort],
                capture_output=True,
                text=True,
                timeout=300,
            ).stdout
            reports[sort] = [r for r in report.splitlines() if "%" in r and not r.startswith("#")]
        return reports
