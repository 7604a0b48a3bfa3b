"""The HTTP gateway under ``--tls-cert`` and ``--acl`` (issues #14 and #15).

An in-process server with ``--http`` on port 0, TLS from the test PKI and
an ACL that lets ``client1`` (by certificate) submit to ``reverse`` only.
Requests go through aiohttp's client with a client certificate; the
gateway speaks HTTPS with the server's own context and asks the same ACL
as a Gearman connection from that peer would.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from gear.server import ServerConfig
from gear.testing import running_server
from tests.hardening.conftest import Certs

RULES = """
[[rule]]
cn = "client1"
submit = ["reverse"]
"""


def client_tls(certs: Certs) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.load_cert_chain(certs.client_cert, certs.client_key)
    return ctx


async def test_gateway_speaks_https_and_asks_the_acl(tmp_path: Path, certs: Certs) -> None:
    acl = tmp_path / "acl.toml"
    acl.write_text(RULES)
    config = ServerConfig(
        http="127.0.0.1:0",
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_ca=certs.ca,
        acl=str(acl),
    )
    async with running_server(config) as server:
        [gateway] = [s for s in server.http_services if s.name == "http"]
        assert gateway.url.startswith("https://127.0.0.1:")
        background = {"X-Gearman-Background": "true"}
        async with aiohttp.ClientSession() as http:
            tls = client_tls(certs)
            async with http.post(
                f"{gateway.url}/reverse", data=b"hello", headers=background, ssl=tls
            ) as allowed:
                assert allowed.status == 200
                assert allowed.headers["X-Gearman-Command"] == "JOB_CREATED"
            async with http.post(
                f"{gateway.url}/secret", data=b"x", headers=background, ssl=tls
            ) as denied:
                assert denied.status == 403
                assert "PERMISSION_DENIED may not submit to secret" in await denied.text()
            plain = gateway.url.replace("https://", "http://")
            try:
                async with http.post(f"{plain}/reverse", data=b"x", headers=background) as r:
                    refused_status = r.status
            except aiohttp.ClientError:
                refused_status = None
            assert refused_status in (None, 400), "plain HTTP on the HTTPS port is no job"
        assert server.broker.functions[b"reverse"].runnable == 1
        assert b"secret" not in server.broker.functions
