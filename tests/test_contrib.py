"""The service files under contrib/ (issue #15, scope 5).

The systemd unit passes ``systemd-analyze verify`` (which needs no running
systemd); the logrotate snippet really rotates a running ``gear serve``'s
log, which reopens its file on SIGHUP; the example config is a valid
config; the Grafana dashboard asks only for metrics a server exports; the
Dockerfile runs as a non-root user with the store on a volume (no Docker
here to build it).  systemd-analyze and logrotate are Debian packages that
.ci/run installs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from gear.protocol import PacketType
from gear.server import ServerConfig, config_file
from gear.testing import RawConnection, running_server
from tests.cli.test_completion import gear_script
from tests.conftest import require_program, start_gear_process
from tests.server.test_metrics import metrics
from tests.server.test_operations import wait_for_line

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = require_program("systemd-analyze", "systemd")
    unit = (CONTRIB / "systemd" / "gear.service").read_text()
    assert "Type=notify" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "ExecStart=/usr/local/bin/gear serve --config /etc/gear/gear.toml" in unit
    # verify checks that ExecStart's program exists: point it at this install
    local = tmp_path / "gear.service"
    local.write_text(unit.replace("/usr/local/bin/gear", gear_script()))
    done = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # unknown or misspelt keys are only warnings: none may appear
    assert "gear.service" not in done.stderr, done.stderr


def test_logrotate_snippet_rotates_and_the_server_reopens(tmp_path: Path) -> None:
    logrotate = require_program("logrotate", "logrotate")
    log = tmp_path / "gear.log"
    srv = start_gear_process("--log-file", str(log), "--log-level", "info")
    try:
        wait_for_line(log, "started (")
        snippet = (CONTRIB / "logrotate" / "gear").read_text()
        assert "systemctl reload gear.service" in snippet  # the unit's ExecReload sends SIGHUP
        config = tmp_path / "gear.logrotate"
        config.write_text(
            snippet.replace("/var/log/gear/", f"{tmp_path}/").replace(
                "systemctl reload gear.service", f"kill -HUP {srv.proc.pid}"
            )
        )
        done = subprocess.run(
            [logrotate, "--force", "--state", str(tmp_path / "state"), str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        rotated = tmp_path / "gear.log.1"
        assert "started (" in rotated.read_text()
        wait_for_line(log, "SIGHUP: 1 log file(s) reopened")
        assert srv.proc.poll() is None
    finally:
        srv.stop()


def test_example_config_is_valid() -> None:
    values = config_file.load(str(CONTRIB / "gear.toml"))
    config = ServerConfig(**values)
    config.validate()
    assert config.store.startswith("sqlite:/var/lib/gear/") and config.metrics


def test_dockerfile_runs_unprivileged_with_the_store_on_a_volume() -> None:
    text = (CONTRIB / "docker" / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM ") :]  # the image's own stage
    user = re.search(r"^USER (\S+)", final, re.M)
    assert user and user.group(1).split(":")[0] not in ("root", "0")
    volume = re.search(r"^VOLUME (\S+)", final, re.M)
    assert volume and volume.group(1) == "/var/lib/gear"
    assert '"sqlite:/var/lib/gear/jobs.db"' in final and "/healthz" in final
    assert 'ENTRYPOINT ["gear", "serve"]' in final


async def test_grafana_dashboard_uses_only_exported_metrics(tmp_path: Path) -> None:
    dashboard = json.loads((CONTRIB / "grafana" / "gear-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = set(re.findall(r"\b((?:gear|gearman|process)_[a-z_]+)\b", " ".join(exprs)))
    assert len(wanted) >= 20
    store = f"sqlite:{tmp_path / 'jobs.db'}"
    async with running_server(ServerConfig(store=store, metrics="127.0.0.1:0")) as server:
        client = await RawConnection.open(server.port)  # one function, so per-function families
        try:
            await client.send(PacketType.SUBMIT_JOB_BG, b"f", b"", b"x")
            await client.expect(PacketType.JOB_CREATED)
        finally:
            await client.close()
        exported = {name for name, _ in await metrics(server)}
    assert wanted - exported == set()
    assert os.path.getsize(CONTRIB / "grafana" / "gear-dashboard.json") > 0
