"""``--http``: gearmand's HTTP protocol module, against ``gear serve`` and C gearmand (issue #15).

``gear serve --http 127.0.0.1:0`` runs as a subprocess with ``gear work``
workers; requests go through the standard library's HTTP client (one
connection per request, or one kept alive).  The peer test sends the same
requests to C gearmand ``-r http`` with the same workers and compares what
both answer where gearmand works (it cannot report a failure: its WORK_FAIL
reply with data is corrupt, see docs/operations.md).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, free_port, running_c_gearmand, start_gear_process
from tests.server.test_serve_process import admin

GEAR = [sys.executable, "-m", "gear"]
#: seconds a test waits for a worker to register
REGISTER_TIMEOUT = 15.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def command(self) -> str | None:
        return self.headers.get("x-gearman-command")

    @property
    def handle(self) -> str | None:
        return self.headers.get("x-gearman-job-handle")


def read_reply(conn: http.client.HTTPConnection) -> Reply:
    response = conn.getresponse()
    body = response.read()
    return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
) -> Reply:
    """One request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        return read_reply(conn)
    finally:
        conn.close()


@dataclass
class Gateway:
    """A job server with an HTTP gateway, and its workers."""

    port: int
    http_port: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def work(self, *args: str) -> None:
        """Start ``gear work ARGS`` against the server, and wait until it registered."""
        env = {**os.environ, "GEAR_SERVERS": f"127.0.0.1:{self.port}"}
        env.pop("GEARMAN_SERVER", None)
        proc = subprocess.Popen(
            [*GEAR, "work", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        wait_registered(self.port, args[0])

    def stop_workers(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(5)


def wait_registered(port: int, function: str) -> None:
    """Poll the admin ``status`` until ``function`` has a worker (there is no event for it)."""
    deadline = time.monotonic() + REGISTER_TIMEOUT
    while time.monotonic() < deadline:
        for line in admin(port, "status").splitlines():
            cols = line.split("\t")
            if cols[0] == function and len(cols) == 4 and int(cols[3]) > 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"no worker registered {function} within {REGISTER_TIMEOUT} s")


def start_gateway(*args: str) -> tuple[ServerProcess, dict[str, int]]:
    """``gear serve --port 0 ARGS`` and the ports of its HTTP listeners, from its output."""
    srv = start_gear_process(*args)
    ports: dict[str, int] = {}
    assert srv.proc.stdout is not None
    wanted = sum(1 for a in args if a in ("--http", "--metrics"))
    while len(ports) < wanted:
        line = srv.proc.stdout.readline().decode()
        match = re.match(r"gear serve: (metrics|HTTP gateway) on http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"unexpected start-up line {line!r}"
        ports["metrics" if match.group(1) == "metrics" else "http"] = int(match.group(2))
    srv.drain_stderr()
    return srv, ports


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    srv, ports = start_gateway(
        *("--http", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--max-packet-size", "4096")
    )
    gw = Gateway(srv.port, ports["http"])
    fifo = tmp_path_factory.mktemp("gate") / "gate"
    os.mkfifo(fifo)
    try:
        gw.work("reverse", "--concurrency", "4", "--", "rev")
        gw.work("fail", "--", "sh", "-c", "cat >/dev/null; echo partial; exit 3")
        gw.work("exc", "--", "sh", "-c", "cat >/dev/null; echo broken >&2; exit 1")
        gw.work("slow", "--", "sleep", "30")
        gw.work("count", "--", "wc", "-c")
        gw.work("gate", "--", "sh", "-c", f"cat >/dev/null; cat {fifo}")
        gw.gate = fifo  # type: ignore[attr-defined]
        gw.metrics_port = ports["metrics"]  # type: ignore[attr-defined]
        yield gw
    finally:
        gw.stop_workers()
        srv.stop()


def test_foreground_job_round_trip(gateway: Gateway) -> None:
    reply = call(gateway.http_port, "POST", "/reverse", b"hello")
    assert (reply.status, reply.command, reply.body) == (200, "WORK_COMPLETE", b"olleh")
    assert reply.handle and reply.handle.startswith("H:")
    put = call(gateway.http_port, "PUT", "/reverse", b"abc")
    assert (put.status, put.body) == (200, b"cba")


def test_background_job_and_its_status(gateway: Gateway) -> None:
    reply = call(gateway.http_port, "POST", "/later", b"x", {"X-Gearman-Background": "true"})
    assert (reply.status, reply.command, reply.body) == (200, "JOB_CREATED", b"")
    assert reply.handle is not None
    status = call(gateway.http_port, "GET", f"/jobs/{reply.handle}")
    assert status.status == 200 and status.headers["content-type"].startswith("application/json")
    info = json.loads(status.body)
    assert info["known"] is True and info["running"] is False and info["background"] is True
    assert (info["function"], info["priority"], info["handle"]) == ("later", "normal", reply.handle)
    gone = call(gateway.http_port, "GET", "/jobs/H:nope:1")
    assert gone.status == 404 and json.loads(gone.body) == {"handle": "H:nope:1", "known": False}


def test_unique_header_coalesces_background_jobs(gateway: Gateway) -> None:
    def submit(data: bytes, **headers: str) -> Reply:
        all_headers = {"X-Gearman-Background": "true", **headers}
        return call(gateway.http_port, "POST", "/coalesce", data, all_headers)

    first = submit(b"one", **{"X-Gearman-Unique": "u-1", "X-Gearman-Priority": "low"})
    again = submit(b"two", **{"X-Gearman-Unique": "u-1"})
    other = submit(b"three", **{"X-Gearman-Unique": "u-2"})
    same_body = [submit(b"body"), submit(b"body")]  # the default unique '-': data coalesces
    assert first.handle == again.handle != other.handle
    assert same_body[0].handle == same_body[1].handle


def test_foreground_requests_with_one_unique_share_one_run(gateway: Gateway) -> None:
    port = gateway.http_port
    headers = {"X-Gearman-Unique": "shared"}
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(call, port, "POST", "/gate", b"a", headers)
        wait_http_sessions(gateway, 1)
        second = pool.submit(call, port, "POST", "/gate", b"b", headers)
        wait_http_sessions(gateway, 2)
        with open(gateway.gate, "wb") as fifo:  # type: ignore[attr-defined]
            fifo.write(b"released")
        replies = [first.result(20), second.result(20)]
    assert [(r.status, r.body) for r in replies] == [(200, b"released")] * 2
    assert replies[0].handle == replies[1].handle


def wait_http_sessions(gateway: Gateway, count: int) -> None:
    """Poll the metrics until ``count`` gateway requests are in the broker."""
    deadline = time.monotonic() + 10
    pattern = re.compile(rb'^gear_connections\{role="http"\} (\d+)', re.M)
    while time.monotonic() < deadline:
        page = call(gateway.metrics_port, "GET", "/metrics").body  # type: ignore[attr-defined]
        match = pattern.search(page)
        if match and float(match.group(1)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{count} HTTP requests never reached the broker")


def test_priority_header(gateway: Gateway) -> None:
    headers = {"X-Gearman-Background": "true", "X-Gearman-Priority": "high"}
    high = call(gateway.http_port, "POST", "/prio", b"h", headers)
    assert high.status == 200
    info = json.loads(call(gateway.http_port, "GET", f"/jobs/{high.handle}").body)
    assert info["priority"] == "high"
    bad = call(gateway.http_port, "POST", "/prio", b"h", {"X-Gearman-Priority": "urgent"})
    assert bad.status == 400 and b"X-Gearman-Priority" in bad.body


def test_timeout_header(gateway: Gateway) -> None:
    started = time.monotonic()
    reply = call(gateway.http_port, "POST", "/slow", b"x", {"X-Gearman-Timeout": "0.3"})
    assert reply.status == 504 and b"no result within 0.3 s" in reply.body
    assert time.monotonic() - started < 10
    assert (
        call(gateway.http_port, "POST", "/slow", b"", {"X-Gearman-Timeout": "soon"}).status == 400
    )


def test_unknown_function_empty_path_and_methods(gateway: Gateway) -> None:
    nobody = call(gateway.http_port, "POST", "/nobody", b"x")
    assert nobody.status == 404 and b"no worker has registered nobody" in nobody.body
    assert call(gateway.http_port, "POST", "/", b"x").status == 404
    assert call(gateway.http_port, "DELETE", "/reverse").status == 405
    assert call(gateway.http_port, "HEAD", "/").status == 200
    assert call(gateway.http_port, "HEAD", "/reverse").status == 200
    assert call(gateway.http_port, "HEAD", "/nobody").status == 404


def test_worker_failure_and_exception_are_500(gateway: Gateway) -> None:
    fail = call(gateway.http_port, "POST", "/fail", b"x")
    assert (fail.status, fail.command, fail.body) == (500, "WORK_FAIL", b"partial\n")
    exc = call(gateway.http_port, "POST", "/exc", b"x")
    assert (exc.status, exc.command, exc.body) == (500, "WORK_EXCEPTION", b"broken\n")


def test_oversize_body_is_413(gateway: Gateway) -> None:
    # --max-packet-size 4096: function, unique and data with two NULs must fit
    fits = 4096 - len("count") - len("-") - 2
    assert call(gateway.http_port, "POST", "/count", b"a" * fits).body.strip() == b"4088"
    big = call(gateway.http_port, "POST", "/count", b"a" * (fits + 1))
    assert big.status == 413 and b"--max-packet-size" in big.body


def test_http_11_keeps_the_connection_alive(gateway: Gateway) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=20)
    try:
        conn.request("POST", "/reverse", body=b"one")
        first = read_reply(conn)
        sock = conn.sock
        conn.request("POST", "/reverse", body=b"two")
        second = read_reply(conn)
        assert sock is not None and conn.sock is sock  # not closed and reopened
    finally:
        conn.close()
    assert (first.body, second.body) == (b"eno", b"owt")
    assert "close" not in first.headers.get("connection", "")


# ------------------------------------------------- against C gearmand -r http --
@dataclass
class Case:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def shape(reply: Reply) -> tuple[int, str | None, bytes, bool]:
    """What must agree: status, X-Gearman-Command, body, and that a handle came.

    An error's body is gear's reason text (gearmand sends none), so it is not compared.
    """
    body = reply.body if reply.status == 200 else b"(error)"
    return reply.status, reply.command, body, bool(reply.handle)


@pytest.mark.peer
def test_same_requests_as_c_gearmand(tmp_path: Path) -> None:
    http_port = free_port()
    with running_c_gearmand("-r", "http", "--http-port", str(http_port)) as gearmand:
        theirs = run_cases(Gateway(gearmand.port, http_port), tmp_path / "c")
    srv, ports = start_gateway("--http", "127.0.0.1:0")
    try:
        ours = run_cases(Gateway(srv.port, ports["http"]), tmp_path / "gear")
    finally:
        srv.stop()
    assert ours == theirs


def run_cases(server: Gateway, tmp: Path) -> dict[str, object]:
    """The replies of one server to the shared requests, as comparable values."""
    tmp.mkdir()
    log = tmp / "order"
    out: dict[str, object] = {}
    try:
        server.work("reverse", "--", "rev")
        for name, case in {
            "fg": Case("POST", "/reverse", b"hello"),
            "fg-put": Case("PUT", "/reverse", b"abc"),
            "fg-unique": Case("POST", "/reverse", b"xyz", {"X-Gearman-Unique": "k1"}),
            "fg-high": Case("POST", "/reverse", b"hi", {"X-Gearman-Priority": "high"}),
            "bg": Case("POST", "/reverse", b"bg", {"X-Gearman-Background": "true"}),
            "no-function": Case("POST", "/", b"x"),
        }.items():
            out[name] = shape(
                call(server.http_port, case.method, case.path, case.body, case.headers)
            )
        # coalescing: the same unique (or the same body) gives one job, one handle
        bg = {"X-Gearman-Background": "true"}
        u, v = {"X-Gearman-Unique": "u"}, {"X-Gearman-Unique": "v"}
        submits = ((b"1", u), (b"2", u), (b"same", {}), (b"same", {}), (b"3", v))
        handles = [
            call(server.http_port, "POST", "/idle", data, {**bg, **extra}).handle
            for data, extra in submits
        ]
        out["coalescing"] = [
            handles[0] == handles[1],
            handles[2] == handles[3],
            handles[4] != handles[0],
        ]
        # priorities: queued while no worker runs "prio", then drained by one worker
        for data, prio in ((b"low", "low"), (b"normal", None), (b"high", "high")):
            headers = {**bg, **({"X-Gearman-Priority": prio} if prio else {})}
            assert call(server.http_port, "POST", "/prio", data, headers).status == 200
        server.work("prio", "--", "sh", "-c", f"cat >> {log}; echo >> {log}")
        last = call(server.http_port, "POST", "/prio", b"last", {"X-Gearman-Priority": "low"})
        out["order"] = (last.status, log.read_bytes().split())
    finally:
        server.stop_workers()
    return out
