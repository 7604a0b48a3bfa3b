"""One-shot mode: tab-separated output, JSON, --yes, and the exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from gear.cli.repl import output
from gear.cli.repl.app import split_servers
from gear.cli.repl.commands import Command, parse
from gear.cli.repl.oneshot import ScriptIO, run_lines
from gear.cli.repl.servers import ServerGroup
from gear.cli.repl.tables import plain
from gear.protocol.constants import PacketType as P
from gear.server import Server
from gear.testing import RawConnection
from tests.client.test_admin_client import sleeping_worker, submit_bg
from tests.conftest import require_program
from tests.repl.peers import free_port, gear_serve, gearmand


class Run:
    """The result of one ``run_lines`` call."""

    def __init__(self, code: int, out: bytes, err: str) -> None:
        self.code = code
        self.out = out.decode()
        self.err = err


async def run(
    servers: list[str],
    *lines: str,
    confirm: Callable[[str], bool] | None = None,
    **flags: bool,
) -> Run:
    out, err = io.BytesIO(), io.StringIO()
    script = ScriptIO(stdout=out, stderr=err, confirm=confirm, **flags)
    code = await run_lines(ServerGroup(servers, timeout=2), lines, script)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def addr(server: Server) -> str:
    return f"127.0.0.1:{server.port}"


async def test_status_is_tab_separated(server: Server, addr: str) -> None:
    await submit_bg(server.port, b"reverse")
    result = await run([addr], "status")
    assert (result.code, result.out, result.err) == (0, "reverse\t1\t0\t0\n", "")
    result = await run([addr], "status", header=True)
    assert result.out.splitlines()[0] == "FUNCTION\tTOTAL\tRUNNING\tWORKERS"


async def holding_worker(port: int, function: bytes) -> RawConnection:
    """A worker that took one job of ``function`` and keeps it running."""
    conn = await RawConnection.open(port)
    await conn.send(P.CAN_DO, function)
    await conn.send(P.GRAB_JOB)
    await conn.expect(P.JOB_ASSIGN)
    return conn


@pytest.mark.parametrize("peer", [gear_serve, gearmand], ids=["gear", "gearmand"])
async def test_status_total_is_the_wires_as_gearadmin_prints_it(peer: Callable[[], Any]) -> None:
    """One job running, two queued: gearadmin prints 3 1 1, and so do scripts."""
    gearadmin = require_program("gearadmin", "gearman-tools")
    with peer() as srv:
        for _ in range(3):
            await submit_bg(srv.port, b"slow")
        worker = await holding_worker(srv.port, b"slow")
        theirs = subprocess.run(
            [gearadmin, "-h", "127.0.0.1", "-p", str(srv.port), "--status"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert "slow\t3\t1\t1\n" in theirs.stdout
        ours = await run([srv.address], "status")
        assert (ours.code, ours.out) == (0, "slow\t3\t1\t1\n")
        header = await run([srv.address], "status", header=True)
        assert header.out == "FUNCTION\tTOTAL\tRUNNING\tWORKERS\nslow\t3\t1\t1\n"
        group = ServerGroup([srv.address], timeout=2)
        command = parse("status")
        assert isinstance(command, Command)
        table = plain(output.human(await group.run(command), multi=False))
        await group.close()
        assert table.splitlines() == [
            "FUNCTION  TOTAL  QUEUED  RUNNING  WORKERS",
            "slow          3       2        1        1",
        ]
        await worker.close()


async def test_json_documents(server: Server, addr: str) -> None:
    await submit_bg(server.port, b"reverse", b"u1")
    result = await run([addr], "show queue", "version", json=True)
    queue, version = (json.loads(line) for line in result.out.splitlines())
    assert queue["ok"] and queue["rows"][0]["unique"] == "u1"
    assert queue["rows"][0]["server"] == addr
    assert version["rows"][0]["kind"] == "gear"


async def test_err_reply_exits_1(addr: str) -> None:
    result = await run([addr], "cancel job nope", yes=True)
    assert result.code == 1 and "ERR UNKNOWN_JOB" in result.err


async def test_destructive_needs_yes_off_a_terminal(server: Server, addr: str) -> None:
    handle = (await submit_bg(server.port, b"reverse")).decode()
    refused = await run([addr], f"cancel job {handle}")
    assert refused.code == 2 and "without --yes" in refused.err
    declined = await run([addr], f"cancel job {handle}", confirm=lambda q: False)
    assert declined.code == 1 and "not confirmed" in declined.err
    asked: list[str] = []
    accepted = await run([addr], f"cancel job {handle}", confirm=lambda q: not asked.append(q))
    assert (accepted.code, accepted.out) == (0, "OK\n")
    assert asked == [f"Run 'cancel job {handle}' on {addr}?"]


async def test_unreachable_server_exits_3(server: Server, addr: str) -> None:
    down = f"127.0.0.1:{free_port()}"
    await submit_bg(server.port, b"reverse")
    result = await run([addr, down], "status")
    assert result.code == 3
    assert result.out == f"{addr}\treverse\t1\t0\t0\n"
    assert f"{down}: down (Connection refused)" in result.err


async def test_unsupported_command_and_bad_lines(addr: str) -> None:
    result = await run([addr], "jobs", "frob", "# comment", "", "version")
    assert result.code == 2
    assert "gear does not support 'jobs'" in result.err and "unknown command" in result.err
    assert result.out.startswith("1.1.20-gear-")


async def test_quit_help_focus_and_raw(server: Server, addr: str) -> None:
    other = f"127.0.0.1:{free_port()}"
    result = await run([addr, other], "server 1", "raw status", "help getpid", "quit", "status")
    assert result.code == 0
    assert result.out.startswith(".\nusage: getpid")


async def test_worker_filter_and_sort(server: Server, addr: str) -> None:
    w1 = await sleeping_worker(server.port, b"a", ident=b"w1")
    w2 = await sleeping_worker(server.port, b"b", b"c", ident=b"w2")
    result = await run([addr], "status --sort -workers", "workers w2")
    lines = result.out.splitlines()
    assert [line.split("\t")[0] for line in lines[:3]] == ["a", "b", "c"]
    assert lines[3].endswith("\tw2\tc b")
    await w1.close()
    await w2.close()


async def test_c_gearmand_one_shot() -> None:
    with gearmand() as proc:
        handle = (await submit_bg(proc.port, b"reverse")).decode()
        worker = await sleeping_worker(proc.port, b"fn")
        result = await run(
            [proc.address], "status", "workers fn", "show jobs", "maxqueue reverse 5", "verbose"
        )
        assert result.code == 0, result.err
        assert "fn\t0\t0\t1\n" in result.out and "reverse\t1\t0\t0\n" in result.out
        assert f"{handle}\tyes\t0\tno\n" in result.out and "OK\nINFO\n" in result.out
        assert (await run([proc.address], f"cancel job {handle}", yes=True)).code == 0
        missing = await run([proc.address], "show queue")
        assert missing.code == 1 and "gearmand does not support 'show queue'" in missing.err
        await worker.close()


def test_split_servers() -> None:
    assert split_servers(["a:1,b:2", "c"]) == ["a:1", "b:2", "c"]
    assert split_servers([]) == ["localhost:4730"]


# ------------------------------------------------- the real command line --
def gear_admin(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "gear", "admin", *args],
        input=stdin.encode(),
        capture_output=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr.decode())


def test_command_line_exit_codes() -> None:
    with gear_serve() as srv:
        ok = gear_admin("-s", srv.address, "status")
        assert (ok.code, ok.err) == (0, "")
        piped = gear_admin(stdin="create function f\nstatus\n", env={"GEAR_SERVERS": srv.address})
        assert (piped.code, piped.out) == (0, "OK\nf\t0\t0\t0\n")
        refused = gear_admin("-s", srv.address, "drop function f")
        assert refused.code == 2 and "without --yes" in refused.err
        failed = gear_admin("-s", srv.address, "--yes", "cancel job nope")
        assert failed.code == 1 and "ERR UNKNOWN_JOB" in failed.err
    down = gear_admin("-s", f"127.0.0.1:{free_port()}", "--json", "version")
    assert down.code == 3 and json.loads(down.out)["servers"][0]["status"] == "down"
    usage = gear_admin("-s", "h:x", "status")
    assert usage.code == 2 and "port must be a number" in usage.err
