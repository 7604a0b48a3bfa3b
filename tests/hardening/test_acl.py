"""Access control (issue #14, scope 2): denied CAN_DO, submit and admin; SIGHUP reload.

In-process servers (``running_server``) for the rules; a ``gear serve``
process for SIGHUP.  Every peer here is on loopback, so network rules use
127.0.0.0/8 and certificate rules use TLS client certificates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from pathlib import Path

import pytest

from gear.protocol import PacketType as P
from gear.server import ServerConfig
from gear.server.acl import Access, AclError, Identity, load
from gear.testing import RawConnection, running_server
from tests.conftest import start_gear_process
from tests.hardening.conftest import Certs
from tests.hardening.test_tls import wait_log

RULES = """
[defaults]
submit = ["public.*"]

[[rule]]
cn = "worker1"
register = ["resize", "thumb.*"]

[[rule]]
network = "127.0.0.0/8"
register = ["reverse"]
submit = ["reverse", "public.*"]
admin = false
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "acl.toml"
    path.write_text(text)
    return str(path)


async def test_denied_can_do_submit_and_shutdown(tmp_path: Path) -> None:
    config = ServerConfig(acl=write(tmp_path, RULES), allow_shutdown=True)
    async with running_server(config) as server:
        conn = await RawConnection.open(server.port)
        await conn.send(P.CAN_DO, b"resize")
        denied = await conn.expect(P.ERROR)
        assert denied.args[0] == b"PERMISSION_DENIED"
        await conn.send(P.CAN_DO, b"reverse")  # allowed: no reply
        await conn.send(P.SUBMIT_JOB_BG, b"secret", b"", b"x")
        assert (await conn.expect(P.ERROR)).args[0] == b"PERMISSION_DENIED"
        await conn.send(P.SUBMIT_JOB_BG, b"reverse", b"", b"x")
        assert (await conn.expect(P.JOB_CREATED)).args[0]
        assert (await conn.admin("shutdown")).startswith(b"ERR PERMISSION_DENIED")
        assert (await conn.admin("status")).endswith(b".\n")  # read-only is fine
        assert [w for w in server.broker.functions[b"reverse"].workers]
        assert b"resize" not in server.broker.functions
        await conn.close()


async def test_no_acl_loopback_may_administer(tmp_path: Path) -> None:
    async with running_server(ServerConfig()) as server:
        conn = await RawConnection.open(server.port)
        assert (await conn.admin("maxqueue f 5")).startswith(b"OK")
        await conn.close()


def test_no_acl_other_networks_are_read_only() -> None:
    access = Access(None)
    assert access.grants_for(Identity("127.0.0.1")) is None
    assert access.grants_for(Identity("::1")) is None
    remote = access.grants_for(Identity("192.0.2.7"))
    assert remote is not None
    assert remote.may_submit(b"anything") and remote.may_register(b"anything")
    assert not remote.may_admin(b"shutdown") and not remote.may_admin(b"CANCEL")
    assert remote.may_admin(b"status") and remote.may_admin(b"workers")
    assert "loopback only" in access.describe()


def test_first_matching_rule_wins_and_defaults_apply(tmp_path: Path) -> None:
    access = Access(write(tmp_path, RULES))
    worker = access.grants_for(Identity("127.0.0.1", "worker1", "CN=worker1"))
    assert worker is not None and worker.may_register(b"thumb.small")
    assert not worker.may_register(b"reverse") and not worker.may_submit(b"reverse")
    stranger = access.grants_for(Identity("192.0.2.1"))
    assert stranger is not None and stranger.may_submit(b"public.x")
    assert not stranger.may_submit(b"reverse") and not stranger.may_admin(b"drop")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]]\nregister = ['x']\n", "needs at least one of cn, dn or network"),
        ("[[rule]]\ncn = 'a'\nadmin = 'yes'\n", "admin must be true or false"),
        ("[[rule]]\nnetwork = 'nope'\n", "bad network"),
        ("[[rule]]\ncn = 'a'\nregisters = []\n", "unknown key(s) registers"),
        ("[defaults]\ncn = 'a'\n", "[defaults] takes no cn"),
        ("rule = 1\n", "array of tables"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_bad_files_say_why(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AclError, match=re.escape(message)):
        load(write(tmp_path, text))


async def test_cn_rules_match_client_certificates(tmp_path: Path, certs: Certs) -> None:
    from gear.client import AsyncClient, AsyncWorker
    from gear.client.tls import client_context
    from gear.errors import ServerError

    acl = write(tmp_path, RULES.replace('register = ["resize", "thumb.*"]', 'register = ["*"]'))
    config = ServerConfig(
        acl=acl,
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_ca=certs.ca,
    )
    async with running_server(config) as server:
        as_worker = client_context(ca=certs.ca, cert=certs.worker_cert, key=certs.worker_key)
        worker = AsyncWorker(f"localhost:{server.port}", tls=as_worker)
        worker.register("resize", lambda job: job.data[::-1])
        task = asyncio.create_task(worker.run())
        try:
            as_client = client_context(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)
            async with AsyncClient(f"localhost:{server.port}", tls=as_client) as client:
                # client1 matches no cn rule; from 127.0.0.1 it may submit to reverse only
                with pytest.raises(ServerError, match="PERMISSION_DENIED"):
                    await client.submit("resize", b"abc", timeout=5)
            async with AsyncClient(f"localhost:{server.port}", tls=as_worker) as client:
                with pytest.raises(ServerError, match="PERMISSION_DENIED"):
                    await client.submit("resize", b"abc", timeout=5)  # worker1 may not submit
            sessions = list(server.broker.sessions.values())
            assert any(s.grants is not None and s.grants.who.cn == "worker1" for s in sessions)
        finally:
            worker.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_sighup_reloads_and_a_bad_file_keeps_the_old_rules(tmp_path: Path) -> None:
    from tests.interop.wire import admin_query

    acl = write(tmp_path, "[[rule]]\nnetwork = '127.0.0.0/8'\n")
    srv = start_gear_process("--acl", acl, "--log-level", "INFO")
    srv.drain_stderr()
    try:
        assert admin_query(srv.port, "maxqueue f 3").startswith("ERR PERMISSION_DENIED")
        wait_log(srv, r"ACL .*acl\.toml: 1 rules")
        Path(acl).write_text("[[rule]]\nnetwork = '127.0.0.0/8'\nadmin = true\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_log(srv, r"ACL reloaded from .*: 1 rules")
        assert admin_query(srv.port, "maxqueue f 3").startswith("OK")
        Path(acl).write_text("[[rule]\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        line = wait_log(srv, r"ACL reload failed, keeping the previous rules")
        assert "not valid TOML" in line
        assert admin_query(srv.port, "maxqueue f 4").startswith("OK")
        assert srv.proc.poll() is None
    finally:
        srv.stop()


async def test_a_worker_keeps_its_allowed_functions_when_one_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The refusal of a CAN_DO answers no request: the worker's other replies stay in step."""
    from gear.client import AsyncClient, AsyncWorker

    caplog.set_level(logging.WARNING)
    async with running_server(ServerConfig(acl=write(tmp_path, RULES))) as server:
        worker = AsyncWorker(f"127.0.0.1:{server.port}")
        worker.register("resize", lambda job: b"never")
        worker.register("reverse", lambda job: job.data[::-1])
        task = asyncio.create_task(worker.run())
        try:
            async with AsyncClient(f"127.0.0.1:{server.port}") as client:
                for word in (b"abc", b"hello"):
                    assert await client.submit("reverse", word, timeout=10) == word[::-1]
        finally:
            worker.stop()
            await asyncio.gather(task, return_exceptions=True)
    assert "refused: PERMISSION_DENIED may not register resize" in caplog.text
