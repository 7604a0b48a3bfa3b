"""The hardening flags of ``gear serve`` and the clients' --tls flags map onto their configs."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gear.cli import main
from gear.cli import serve as serve_cli
from gear.server import ServerConfig
from tests.hardening.conftest import Certs


def test_serve_flags_reach_server_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServerConfig] = []

    def fake_run(config: ServerConfig) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(serve_cli, "run", fake_run)
    monkeypatch.setattr(ServerConfig, "validate", lambda self: None)
    args = [
        *("serve", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem"),
        *("--tls-require-client-cert", "--tls-handshake-timeout", "3", "--acl", "acl.toml"),
        *("--max-connections", "100", "--max-queue", "7", "--output-high-water", "4096"),
        *("--output-hard-limit", "99999999", "--keepalive-idle", "5"),
        *("--keepalive-interval", "2", "--keepalive-count", "3", "--busy-poll", "0"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    c = seen[0]
    assert (c.tls_cert, c.tls_key, c.tls_ca, c.tls_require_client_cert) == (
        "c.pem",
        "k.pem",
        "ca.pem",
        True,
    )
    assert (c.tls_handshake_timeout, c.acl, c.max_connections, c.max_queue) == (
        3.0,
        "acl.toml",
        100,
        7,
    )
    assert (c.output_high_water, c.output_hard_limit) == (4096, 99999999)
    assert (c.keepalive_idle, c.keepalive_interval, c.keepalive_count) == (5, 2, 3)
    assert c.busy_poll == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-queue", "-1"], "--max-queue takes 0"),
        (["--keepalive-count", "0"], "at least 1"),
        (["--busy-poll", "-1"], "--busy-poll takes 0 (off) to 10000"),
        (["--busy-poll", "20000"], "--busy-poll takes 0 (off) to 10000"),
        (["--output-hard-limit", "2048"], "--output-hard-limit must be at least"),
        (["--acl", "/nonexistent.toml"], "/nonexistent.toml"),
    ],
)
def test_bad_hardening_values_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_tls_client_flags_build_a_context(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    from gear.cli import jobs

    seen: list[Any] = []

    async def fake(config: Any) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(jobs, "run_submit", fake)
    result = CliRunner().invoke(main, ["submit", "--tls-ca", certs.ca, "f", "x"])
    assert result.exit_code == 0, result.output
    assert seen[0].tls is not None and seen[0].tls.check_hostname
    plain = CliRunner().invoke(main, ["submit", "f", "x"])
    assert plain.exit_code == 0 and seen[1].tls is None
    missing = CliRunner().invoke(main, ["submit", "--tls-ca", "/nonexistent.pem", "f", "x"])
    assert missing.exit_code == 2 and "TLS: cannot load /nonexistent.pem" in missing.output
