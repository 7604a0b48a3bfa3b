"""``gear serve --config``: keys from ServerConfig, precedence, ``--print-config`` (issue #15).

CliRunner with ``gear.server.run`` replaced, so nothing listens; one test
runs the real command to show that a bad file stops it before it starts.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from gear.cli import main
from gear.cli import serve as serve_cli
from gear.server import ServerConfig, config_file


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[ServerConfig]:
    seen: list[ServerConfig] = []

    def fake_run(config: ServerConfig) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(serve_cli, "run", fake_run)
    return seen


def serve(*args: str, env: dict[str, str] | None = None) -> Result:
    base = {s.env: None for s in config_file.settings()} | {"GEAR_SERVE_CONFIG": None}
    return CliRunner().invoke(main, ["serve", *args], env={**base, **(env or {})})  # type: ignore[dict-item]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gear.toml"
    path.write_text(text)
    return str(path)


def test_every_field_has_a_key_a_variable_and_a_doc() -> None:
    settings = config_file.settings()
    assert [s.name for s in settings] == [f.name for f in dataclasses.fields(ServerConfig)]
    for s in settings:
        assert s.key == s.name.replace("_", "-") and s.env == "GEAR_SERVE_" + s.name.upper()
        assert s.doc, f"{s.name} has no #: comment in gear/server/config.py"
    by_name = {s.name: s for s in settings}
    assert by_name["listen"].kind is list and by_name["metrics"].optional
    assert (by_name["port"].kind, by_name["port"].default) == (int, 4730)


def test_option_names_are_field_names_and_click_reads_the_same_variables() -> None:
    """The CLI's env names (click's auto_envvar_prefix) are the ones config_file derives."""
    command = main.get_command(click.Context(main), "serve")
    assert command is not None
    ctx = click.Context(command, info_name="serve", auto_envvar_prefix="GEAR_SERVE")
    fields = {s.name: s for s in config_file.settings()}
    options = [p for p in command.params if p.name not in ("config_path", "print_config", "help")]
    assert {p.name for p in options} <= set(fields)
    for param in options:
        assert isinstance(param, click.Option)
        assert param.resolve_envvar_value(ctx) is None
        assert f"{ctx.auto_envvar_prefix}_{param.name.upper()}" == fields[param.name].env  # type: ignore[union-attr]


def test_precedence_file_then_environment_then_command_line(
    tmp_path: Path, started: list[ServerConfig]
) -> None:
    path = write(
        tmp_path,
        'port = 4001\njob-retries = 2\nlog-level = "info"\nlisten = ["127.0.0.2", "::1"]\n'
        'metrics = "127.0.0.1:9418"\nallow_shutdown = true\n',
    )
    env = {"GEAR_SERVE_PORT": "4002", "GEAR_SERVE_JOB_RETRIES": "5"}
    result = serve("--config", path, "--port", "4003", env=env)
    assert result.exit_code == 0, result.output
    [config] = started
    assert config.port == 4003  # command line beats both
    assert config.job_retries == 5  # environment beats the file
    assert config.log_level == "INFO" and config.listen == ["127.0.0.2", "::1"]
    assert config.metrics == "127.0.0.1:9418" and config.allow_shutdown
    assert config.max_packet_size == ServerConfig().max_packet_size  # untouched: default


def test_the_config_file_can_come_from_the_environment(
    tmp_path: Path, started: list[ServerConfig]
) -> None:
    path = write(tmp_path, "port = 4111\n")
    assert serve(env={"GEAR_SERVE_CONFIG": path}).exit_code == 0
    assert started[0].port == 4111


def test_print_config_shows_values_and_sources_as_valid_toml(
    tmp_path: Path, started: list[ServerConfig]
) -> None:
    path = write(tmp_path, 'port = 4001\nstore = "sqlite:/tmp/x.db"\n')
    env = {"GEAR_SERVE_LOG_FORMAT": "json"}
    result = serve("--config", path, "--print-config", "--job-retries", "3", env=env)
    assert result.exit_code == 0, result.output
    assert started == []  # printed, not started
    lines = result.output.splitlines()
    assert f"port = 4001  # file {path}" in lines
    assert 'log-format = "json"  # environment GEAR_SERVE_LOG_FORMAT' in lines
    assert "job-retries = 3  # command line" in lines
    assert 'listen = ["127.0.0.1"]  # default' in lines
    assert "# http is not set  (default)" in lines
    assert "# TCP port; 0 picks a free one (reported on the start-up line)" in lines
    # what it prints is a config file that gives the same configuration
    reread = config_file.parse(tomllib.loads(result.output), "printed")
    assert reread["port"] == 4001 and reread["job_retries"] == 3
    assert reread["store"] == "sqlite:/tmp/x.db" and "http" not in reread


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown key 'prot' (did you mean 'port'?)"),
        ('port = "4730"\n', 'port must be an integer, not "4730"'),
        ("exceptions = 1\n", "exceptions must be true or false, not 1"),
        ("listen = [1]\n", "listen must be a list of strings"),
        ("port = 1\nport = 2\n", "not valid TOML"),
        ("port = 1\n[serve]\nport = 2\n", "unknown key 'serve'"),
        ("job-retries = 1\njob_retries = 2\n", "'job-retries' is set twice"),
        ("port = 70000\n", "port 70000 is outside 0-65535"),
        ('metrics = "nowhere"\n', "--metrics takes HOST:PORT"),
        ('log-level = "loud"\n', "'loud' is not one of"),
    ],
)
def test_a_bad_file_is_a_usage_error(
    tmp_path: Path, started: list[ServerConfig], text: str, message: str
) -> None:
    result = serve("--config", write(tmp_path, text))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert started == []


def test_missing_file_and_bad_variables(tmp_path: Path, started: list[ServerConfig]) -> None:
    missing = serve("--config", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "No such file or directory" in missing.output
    bad_env = serve(env={"GEAR_SERVE_PORT": "many"})
    assert bad_env.exit_code == 2 and "'many' is not a valid integer" in bad_env.output
    assert started == []


def test_environment_reaches_fields_without_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ServerConfig field no CLI option names yet still has its variable and key."""
    setting = config_file.Setting(
        name="keepalive_idle",
        key="keepalive-idle",
        env="GEAR_SERVE_KEEPALIVE_IDLE",
        kind=float,
        optional=False,
        default=0.0,
        doc="",
    )
    assert config_file.from_environment(setting, {"GEAR_SERVE_KEEPALIVE_IDLE": "7.5"}) == 7.5
    flag = dataclasses.replace(setting, kind=bool, env="B")
    assert config_file.from_environment(flag, {"B": "yes"}) is True
    listing = dataclasses.replace(setting, kind=list, env="L")
    assert config_file.from_environment(listing, {"L": "a b"}) == ["a", "b"]
    with pytest.raises(config_file.ConfigFileError, match="B='maybe' is not a valid"):
        config_file.from_environment(flag, {"B": "maybe"})


def test_a_bad_file_stops_the_real_command_before_it_listens(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gear", "serve", "--port", "0", "--config", write(tmp_path, "x=1")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # no "listening on" line
    assert "unknown key 'x'" in done.stderr and "Traceback" not in done.stderr
