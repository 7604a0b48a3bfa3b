"""A real terminal: tmux runs ``gear admin``; Tab completes, Enter shows the table.

At 120 columns with three servers (gear, C gearmand, one down) the toolbar
still ends with the keys, a handle completes past its colons, and F1 shows
help above the prompt without touching the line being typed.

The screen is read with ``capture-pane`` in a bounded polling loop (tmux
has no way to announce that the screen changed); each test uses its own
tmux server socket so nothing else running tmux is touched.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gear.protocol.constants import PacketType
from gear.protocol.packets import request
from tests.conftest import require_program
from tests.repl.peers import free_port, gear_serve, gearmand


class Tmux:
    """One detached tmux session on a private server socket."""

    def __init__(self, tmux: str, name: str) -> None:
        self.base = [tmux, "-L", name]

    def __call__(self, *args: str) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def alive(self) -> bool:
        """Whether the session (``gear admin``) still runs."""
        done = subprocess.run([*self.base, "has-session", "-t", "admin"], capture_output=True)
        return done.returncode == 0

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "admin")

    def wait(self, ready: Callable[[str], bool], timeout: float = 10.0) -> str:
        """Poll the screen until ``ready(screen)``; fail with the screen if never."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if ready(text):
                return text
            assert time.monotonic() < deadline, f"screen never got ready:\n{text}"
            time.sleep(0.05)


@contextmanager
def tmux_running(command: list[str], size: tuple[int, int] = (110, 24)) -> Iterator[Tmux]:
    tmux = Tmux(require_program("tmux", "tmux"), f"gear-test-{os.getpid()}")
    width, height = (str(n) for n in size)
    tmux("new-session", "-d", "-s", "admin", "-x", width, "-y", height, shlex.join(command))
    try:
        yield tmux
    finally:
        tmux("kill-server")


def gear_connection(port: int, *packets: bytes) -> socket.socket:
    """A connection that sent ``packets``; the ECHO_RES proves they were handled."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"".join(packets) + request(PacketType.ECHO_REQ, b"x"))
    received = b""
    while not received.endswith(b"\0\0\0\x01x"):
        received += sock.recv(4096)
    return sock


def test_st_tab_enter_shows_the_status_table(tmp_path: Path) -> None:
    with gear_serve() as srv:
        jobs = [request(PacketType.SUBMIT_JOB_BG, b"resize", b"", d) for d in (b"a", b"b")]
        sleeper = [request(PacketType.CAN_DO, b"reverse"), request(PacketType.PRE_SLEEP)]
        with gear_connection(srv.port, *jobs), gear_connection(srv.port, *sleeper):
            run_session(srv.address, tmp_path)
        history = tmp_path / "gear" / "admin_history"
        assert "stat" in history.read_text()


def run_session(address: str, tmp_path: Path) -> None:
    env = ["env", f"XDG_STATE_HOME={tmp_path}", "TERM=xterm-256color"]
    with tmux_running([*env, sys.executable, "-m", "gear", "admin", "-s", address]) as tmux:
        tmux.wait(lambda s: "gear>" in s and "F1 help" in s)
        tmux("send-keys", "-t", "admin", "st", "Tab")
        tmux.wait(lambda s: "gear> stat" in s)
        tmux("send-keys", "-t", "admin", "Enter")
        lines = tmux.wait(lambda s: "WORKERS" in s and "reverse" in s).splitlines()
        header = next(i for i, line in enumerate(lines) if "FUNCTION" in line)
        assert lines[header].split() == ["FUNCTION", "TOTAL", "QUEUED", "RUNNING", "WORKERS"]
        assert lines[header + 1].split() == ["resize", "2", "2", "0", "0"]
        assert lines[header + 2].split() == ["reverse", "0", "0", "0", "1"]
        tmux("send-keys", "-t", "admin", "C-d")
        tmux.wait(lambda s: not tmux.alive())


def admin_command(tmp_path: Path, *servers: str) -> list[str]:
    env = ["env", f"XDG_STATE_HOME={tmp_path}", "TERM=xterm-256color"]
    return [*env, sys.executable, "-m", "gear", "admin", *(f"-s{s}" for s in servers)]


def test_three_servers_at_120_columns(tmp_path: Path) -> None:
    down = f"127.0.0.1:{free_port()}"
    job = request(PacketType.SUBMIT_JOB_BG, b"resize", b"", b"a")
    with gear_serve() as srv, gearmand() as cgear, gear_connection(srv.port, job):
        command = admin_command(tmp_path, srv.address, cgear.address, down)
        with tmux_running(command, size=(120, 40)) as tmux:
            screen = tmux.wait(lambda s: "gear>" in s and "F1 help" in s)
            toolbar = screen.rstrip("\n").splitlines()[-1]
            assert f"{down} down" in toolbar and "gearmand" in toolbar, toolbar
            assert toolbar.rstrip().endswith("focus: all │ F1 help"), toolbar
            tmux("send-keys", "-t", "admin", "cancel job H:", "Tab")
            typed = re.compile(r"gear> cancel job H:\S+:\d+\b")
            line = typed.search(tmux.wait(lambda s: typed.search(s) is not None))
            assert line is not None
            tmux("send-keys", "-t", "admin", "F1")  # help above, the typed line below it
            usage = "usage: cancel job HANDLE"
            tmux.wait(lambda s: usage in s and line.group(0) in s.split(usage, 1)[1])
            tmux("send-keys", "-t", "admin", "C-u", "C-d")
            tmux.wait(lambda s: not tmux.alive())
