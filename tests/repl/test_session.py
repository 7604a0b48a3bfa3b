"""The prompt_toolkit session, typed into through a pipe, against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from gear.cli.repl.lexer import AdminLexer
from gear.cli.repl.servers import ServerGroup
from gear.cli.repl.session import ReplSession, default_history, history_path
from gear.cli.repl.tables import Fragments
from gear.cli.repl.toolbar import toolbar_fragments
from gear.client.admin import AsyncAdminClient
from gear.protocol.admin_replies import ServerKind, ServerVersion
from gear.server import Server, ServerConfig
from gear.testing import RawConnection
from tests.client.test_admin_client import sleeping_worker, submit_bg
from tests.repl.peers import free_port, gearmand

F1 = "\x1bOP"
CTRL_R = "\x12"
CTRL_U = "\x15"


class Screen:
    """What the session printed, and a way to wait for a piece of it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()

    def emit(self, lines: list[Fragments]) -> None:
        self.lines += ["".join(text for _, text in line) for line in lines]
        self._changed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, piece: str, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while piece not in self.text:
                self._changed.clear()
                await self._changed.wait()


@contextmanager
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as inp:
        yield inp


async def completed(session: ReplSession, inp: PipeInput, keys: str, expect: str) -> None:
    """Type ``keys`` (ending in Tab) and wait until the line reads ``expect``."""
    buffer = session.session.default_buffer
    changed = asyncio.Event()

    def on_change(_: object) -> None:
        changed.set()

    buffer.on_text_changed += on_change
    try:
        inp.send_text(keys)
        async with asyncio.timeout(5):
            while buffer.text != expect:
                changed.clear()
                await changed.wait()
    finally:
        buffer.on_text_changed -= on_change


@asynccontextmanager
async def repl(
    addresses: list[str], ping: float = 3600, history: list[str] | None = None
) -> AsyncIterator[tuple[PipeInput, Screen, ReplSession]]:
    """A running session; on exit it is told to quit and awaited."""
    screen = Screen()
    store = InMemoryHistory()
    for line in history or []:
        store.append_string(line)
    with pipe() as inp:
        session = ReplSession(
            ServerGroup(addresses, timeout=2),
            history=store,
            input=inp,
            output=DummyOutput(),
            emit=screen.emit,
            ping_interval=ping,
        )
        task = asyncio.create_task(session.run())
        await screen.wait_for("Type 'help'")
        try:
            yield inp, screen, session
        finally:
            inp.send_text("quit\r")
            await asyncio.wait_for(task, 5)


async def test_tab_completes_st_to_a_status_table(server: Server) -> None:
    await submit_bg(server.port, b"reverse")
    async with repl([f"127.0.0.1:{server.port}"]) as (inp, screen, session):
        await completed(session, inp, "st\t", "stat")
        inp.send_text("\r")
        await screen.wait_for("FUNCTION  TOTAL  QUEUED  RUNNING  WORKERS")
        assert "reverse       1       1        0        0" in screen.text


async def test_handle_completion_and_confirmed_cancel(server: Server) -> None:
    handle = (await submit_bg(server.port, b"reverse")).decode()
    async with repl([f"127.0.0.1:{server.port}"]) as (inp, screen, session):
        await completed(session, inp, "show q\t", "show queue")
        inp.send_text("\r")
        await screen.wait_for(handle)
        await completed(session, inp, "cancel job \t", f"cancel job {handle}")
        inp.send_text("\ry\r")
        await screen.wait_for("OK")
        inp.send_text("show jobs\r")
        await screen.wait_for("(nothing)")


def offered(session: ReplSession, text: str) -> list[str]:
    """What Tab offers after ``text``."""
    completer = session.session.completer
    assert completer is not None
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]


async def test_handles_and_servers_complete_past_colons_and_dots(server: Server) -> None:
    first = (await submit_bg(server.port, b"reverse")).decode()  # H:test:<n>
    second = (await submit_bg(server.port, b"reverse")).decode()
    address = f"127.0.0.1:{server.port}"
    async with repl([address]) as (inp, _, session):
        assert offered(session, "cancel job H:test:") == [first, second]
        # the two handles share H:test: and the leading digits of the boot time
        common = next(first[:i] for i in range(len(first), 0, -1) if second.startswith(first[:i]))
        await completed(session, inp, "cancel job H:t\t", f"cancel job {common}")
        inp.send_text(CTRL_U)
        await completed(session, inp, "server 127.0.0.\t", f"server {address}")
        inp.send_text(CTRL_U)


async def test_a_dropped_function_is_not_offered(server: Server) -> None:
    address = f"127.0.0.1:{server.port}"
    async with repl([address]) as (inp, screen, session):
        inp.send_text("create function zzgone\r")
        await screen.wait_for("OK")
        assert offered(session, "drop function zz") == ["zzgone"]
        screen.lines.clear()
        inp.send_text("drop function zzgone\ry\r")
        await screen.wait_for("OK")
        assert offered(session, "drop function zz") == []
        elsewhere = AsyncAdminClient.from_address(address)
        await elsewhere.send("create function made-elsewhere")
        await session.group.refresh_names()
        assert offered(session, "drop function mad") == ["made-elsewhere"]
        await elsewhere.send("drop function made-elsewhere")
        await elsewhere.close()
        await session.group.refresh_names()  # the REPL does this every 30 s
        assert offered(session, "drop function mad") == []


async def test_declined_confirmation_runs_nothing(server: Server) -> None:
    await submit_bg(server.port, b"reverse")
    async with repl([f"127.0.0.1:{server.port}"]) as (inp, screen, _):
        inp.send_text("cancel job H:test:1\r")
        inp.send_text("n\r")
        await screen.wait_for("not run")
        inp.send_text("status --sort -queued\r")
        await screen.wait_for("reverse       1       1")


async def test_help_errors_f1_and_raw(server: Server) -> None:
    async with repl([f"127.0.0.1:{server.port}"]) as (inp, screen, session):
        inp.send_text("help cancel job\r")
        await screen.wait_for("usage: cancel job HANDLE")
        inp.send_text("frob\r")
        await screen.wait_for("unknown command 'frob'")
        inp.send_text("maxqueue re" + F1)
        await screen.wait_for("usage: maxqueue FUNCTION [N | HIGH NORMAL LOW]")
        assert session.session.default_buffer.text == "maxqueue re"  # F1 keeps the line
        inp.send_text(CTRL_U + "raw version\r")
        await screen.wait_for("OK 1.1.20-gear-")
        inp.send_text("cancel job nope\ry\r")
        await screen.wait_for("ERR UNKNOWN_JOB")


async def test_ctrl_r_finds_a_history_line(server: Server) -> None:
    address = f"127.0.0.1:{server.port}"
    async with repl([address], history=["getpid", "verbose"]) as (inp, screen, _):
        inp.send_text(CTRL_R + "getp\r")
        inp.send_text("\r")
        await screen.wait_for("PID")


async def test_workers_and_gear_extensions(server: Server) -> None:
    worker = await sleeping_worker(server.port, b"reverse", ident=b"w1")
    async with repl([f"127.0.0.1:{server.port}"]) as (inp, screen, _):
        inp.send_text("show workers w1\r")
        await screen.wait_for("sleeping")
        inp.send_text("workers --sort id\r")
        await screen.wait_for("FD  ADDRESS")
        inp.send_text("stats jobs_q*\r")
        await screen.wait_for("jobs_queued")
    await worker.close()


async def test_several_servers_one_down(server: Server) -> None:
    down = f"127.0.0.1:{free_port()}"
    up = f"127.0.0.1:{server.port}"
    await submit_bg(server.port, b"reverse")
    async with repl([up, down]) as (inp, screen, _):
        inp.send_text("status\r")
        await screen.wait_for(f"{down}: down (Connection refused)")
        assert "SERVER           FUNCTION  TOTAL  QUEUED" in screen.text
        inp.send_text("server 1\r")
        await screen.wait_for(f"focus: {up}")
        inp.send_text("servers\r")
        await screen.wait_for("LATENCY")
        assert f"*  {up}  gear" in screen.text


def free_config(port: int) -> ServerConfig:
    return replace(ServerConfig(), listen=["127.0.0.1"], port=port)


@asynccontextmanager
async def gear_on(port: int) -> AsyncIterator[Server]:
    srv = Server(free_config(port))
    await srv.start()
    task = asyncio.create_task(srv.serve_forever())
    try:
        yield srv
    finally:
        srv.request_shutdown(False)
        await asyncio.wait_for(task, 5)


async def test_server_stopped_mid_session_and_back() -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    async with gear_on(port) as srv:
        conn = await RawConnection.open(srv.port)
        async with repl([address], ping=0.05) as (inp, screen, _):
            inp.send_text("version\r")
            await screen.wait_for("VERSION")
            await conn.close()
            srv.request_shutdown(False)
            await screen.wait_for(f"{address} is down")
            inp.send_text("status\r")
            await screen.wait_for(f"{address}: down (Connection refused)")
            async with gear_on(port):
                await screen.wait_for(f"{address} is back")
                inp.send_text("getpid\r")
                await screen.wait_for("PID")


async def test_against_c_gearmand_says_what_it_lacks() -> None:
    with gearmand() as proc:
        await submit_bg(proc.port, b"reverse", b"u1")
        async with repl([proc.address]) as (inp, screen, _):
            inp.send_text("show queue\r")
            await screen.wait_for("gearmand does not support 'show queue'")
            inp.send_text("show unique jobs\r")
            await screen.wait_for("u1")
            inp.send_text("prioritystatus\r")
            await screen.wait_for("FUNCTION  HIGH  NORMAL  LOW  WORKERS")


def test_toolbar_shows_servers_focus_and_down() -> None:
    group = ServerGroup(["a:1", "b:2"])
    group.servers[1].down = "Connection refused"
    group.set_focus("a")
    text = "".join(t for _, t in toolbar_fragments(group))
    assert "*a:1" in text and "b:2 down" in text and "focus: a:1" in text


def toolbar_text(group: ServerGroup, width: int) -> str:
    return "".join(t for _, t in toolbar_fragments(group, width))


def test_toolbar_of_three_servers_fits_120_columns() -> None:
    group = ServerGroup(["127.0.0.1:4811", "127.0.0.1:4812", "127.0.0.1:4813"])
    gear, gearmand, down = group.servers
    gear.client.server_version = ServerVersion(version="1.1.20-gear-0.1.0", kind=ServerKind.GEAR)
    gearmand.client.server_version = ServerVersion(version="1.1.20+ds", kind=ServerKind.GEARMAND)
    gear.client.latency = gearmand.client.latency = 0.0008
    down.down = "Connection refused"
    wide = toolbar_text(group, 200)
    assert "127.0.0.1:4811 gear 0.1.0 0.8ms" in wide and "gearmand 1.1.20+ds" in wide
    fitted = toolbar_text(group, 120)
    assert len(fitted) <= 120
    assert "127.0.0.1:4811 gear 0.8ms" in fitted and "127.0.0.1:4813 down" in fitted
    assert fitted.endswith("focus: all │ Tab · Ctrl-R · F1 help")
    narrow = toolbar_text(group, 80)
    assert len(narrow) <= 80 and narrow.endswith("focus: all │ F1 help")
    tiny = toolbar_text(group, 40)
    assert tiny == " 3 servers, 1 down │ focus: all │ F1 help"


def test_history_lives_in_the_xdg_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "gear" / "admin_history"
    assert isinstance(default_history(), FileHistory)
    assert (tmp_path / "gear" / "admin_history").exists()
    monkeypatch.setenv("XDG_STATE_HOME", "/proc/no-such-dir")
    assert isinstance(default_history(), InMemoryHistory)


def test_lexer_styles_tokens() -> None:
    line = AdminLexer().lex_document(Document("cancel job --sort 7 x"))(0)
    styles = [style for style, text in line if text.strip()]
    assert styles == ["class:cmd.command"] * 2 + ["class:cmd.option", "class:cmd.number"] + [
        "class:cmd.argument"
    ]
    assert AdminLexer().lex_document(Document("frob"))(0) == [("class:cmd.error", "frob")]
