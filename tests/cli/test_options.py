"""Flag → config mapping of `gear submit`/`gear work`/`gear status` (CliRunner, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result

from gear.cli import jobs, main
from gear.cli._submit import SubmitConfig
from gear.cli._work import WorkConfig
from gear.client.servers import ServerAddress
from gear.protocol.constants import Priority


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    async def fake(config: Any) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(jobs, "run_submit", fake)
    monkeypatch.setattr(jobs, "run_work", fake)
    return seen


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {"GEAR_SERVERS": None, "GEARMAN_SERVER": None}
    return CliRunner().invoke(main, list(args), env={**base, **(env or {})})


def submitted(captured: list[Any], *args: str, **kw: Any) -> SubmitConfig:
    result = invoke("submit", *args, **kw)
    assert result.exit_code == 0, result.output
    config = captured.pop()
    assert isinstance(config, SubmitConfig)
    return config


def test_submit_defaults_and_positionals(captured: list[Any]) -> None:
    config = submitted(captured, "reverse", "a", "b")
    assert config.functions == ["reverse"] and config.payloads == [b"a", b"b"]
    assert config.servers == [ServerAddress("localhost", 4730)]
    assert config.priority is Priority.NORMAL and config.window == 100
    assert not (config.background or config.lines or config.no_input or config.prefix)
    stdin = submitted(captured, "reverse")
    assert stdin.payloads is None


def test_submit_gearman_style_flags(captured: list[Any]) -> None:
    config = submitted(
        captured,
        *("-f", "a", "-f", "b", "data", "-n", "-N", "-s", "-b", "-I", "-u", "k"),
        *("-P", "-t", "2.5", "-v", "-w", "7", "-S", "h1:1,h2", "-S", "[::1]", "-p", "99"),
    )
    assert config.functions == ["a", "b"] and config.payloads == [b"data"]
    assert config.lines and config.strip_newline and config.no_input and config.background
    assert config.priority is Priority.HIGH and config.unique == "k"
    assert config.prefix and config.timeout == 2.5 and config.verbose and config.window == 7
    assert config.servers == [
        ServerAddress("h1", 1),
        ServerAddress("h2", 99),
        ServerAddress("::1", 99),
    ]
    assert submitted(captured, "f", "--low").priority is Priority.LOW
    later = submitted(captured, "f", "--delay", "5")
    assert later.delay == 5 and later.at is None
    assert submitted(captured, "f", "--at", "1700000000").at == 1700000000


def test_servers_from_environment(captured: list[Any]) -> None:
    env = {"GEARMAN_SERVER": "m:1,n:2"}
    assert submitted(captured, "f", env=env).servers == [
        ServerAddress("m", 1),
        ServerAddress("n", 2),
    ]
    both = {"GEARMAN_SERVER": "m:1", "GEAR_SERVERS": "g:3"}
    assert submitted(captured, "f", env=both).servers == [ServerAddress("g", 3)]
    assert submitted(captured, "f", "-S", "x:4", env=both).servers == [ServerAddress("x", 4)]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["f", "--high", "--low"],
        ["f", "--at", "1", "--delay", "1"],
        ["f", "-b", "--delay", "1", "--high"],
        ["f", "-S", "host:notaport"],
        ["f", "--window", "0"],
        ["f", "--bogus"],
    ],
)
def test_submit_usage_errors_exit_2(captured: list[Any], args: list[str]) -> None:
    result = invoke("submit", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Error:" in result.stderr and not captured


def test_work_flags_and_command_after_dashes(captured: list[Any]) -> None:
    args = ["a", "-f", "b", "-n", "-c", "3", "--concurrency", "4", "-t", "1.5", "--burst"]
    result = invoke(
        "work", *args, "--client-id", "me", "-S", "s:1", "--", "sh", "-c", "echo -n --x"
    )
    assert result.exit_code == 0, result.output
    config = captured.pop()
    assert isinstance(config, WorkConfig)
    assert config.functions == ["a", "b"] and config.command == ["sh", "-c", "echo -n --x"]
    assert config.lines and not config.strip_newline and config.count == 3
    assert config.concurrency == 4 and config.timeout == 1.5 and config.burst
    assert config.client_id == "me" and config.servers == [ServerAddress("s", 1)]
    echo = invoke("work", "x")
    assert echo.exit_code == 0 and captured.pop().command == []


def test_work_and_status_usage_errors(captured: list[Any]) -> None:
    assert invoke("work").exit_code == 2
    assert invoke("work", "--", "rev").exit_code == 2
    missing = invoke("work", "f", "--", "definitely-not-a-command-gear")
    assert (missing.exit_code, missing.stderr) == (
        2,
        "gear work: command not found: definitely-not-a-command-gear\n",
    )
    assert invoke("work", "f", "--concurrency", "0").exit_code == 2
    assert invoke("status").exit_code == 2
    assert invoke("status", "H:1", "--unique", "u").exit_code == 2
    assert not captured
