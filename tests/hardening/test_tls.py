"""TLS on the whole port, against real peers (issue #14, scope 1).

The TLS peer from Debian is Perl's Gearman::Client (``use_ssl`` over
IO::Socket::SSL).  Debian's ``gearman -S`` and ``gearmand --ssl`` are
built without SSL: ``-S`` still speaks plain TCP, so against a TLS server
it must fail with one "TLS handshake ... failed" log line and no traceback
(``test_debian_gearman_dash_s_speaks_plain_tcp`` pins that evidence).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gear.client import AsyncClient
from gear.client.admin import AsyncAdminClient
from gear.client.tls import client_context
from gear.errors import ConnectError, ServerUnavailable
from tests.conftest import ServerProcess, require_program, start_gear_process
from tests.hardening.conftest import Certs, tls_args

TIMEOUT = 20

#: do_task over TLS: ARGV = port, function, CA, [cert, key]; prints the result
PERL_TLS_CLIENT = r"""
use strict; use warnings; use Gearman::Client;
$| = 1;
my ($port, $func, $ca, $cert, $key, @args) = @ARGV;
my %js = (host => "localhost", port => $port, use_ssl => 1, ca_file => $ca);
$js{cert_file} = $cert if $cert; $js{key_file} = $key if $key;
my $client = Gearman::Client->new(job_servers => [\%js]);
for my $arg (@args) {
    my $res = $client->do_task($func => $arg);
    print defined $res ? "$$res\n" : "FAILED\n";
}
"""


@pytest.fixture
def tls_server(certs: Certs) -> Iterator[ServerProcess]:
    srv = start_gear_process(*tls_args(certs), "--log-level", "INFO")
    srv.drain_stderr()
    yield srv
    srv.stop()


def wait_log(srv: ServerProcess, pattern: str, limit: float = 10.0) -> str:
    """The first line of the server's log matching ``pattern`` (bounded wait)."""
    deadline = time.monotonic() + limit
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        for line in list(srv.log):
            if regex.search(line):
                return line
        time.sleep(0.02)  # polling a log the drainer thread fills; bounded
    raise AssertionError(f"no log line matching {pattern!r}; log: {list(srv.log)}")


def gear_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gear", *args],
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.peer
def test_perl_tls_client_through_gear_work_tls(tls_server: ServerProcess, certs: Certs) -> None:
    perl = require_program("perl", "libgearman-client-perl")
    port = str(tls_server.port)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gear",
            "work",
            "--tls-ca",
            certs.ca,
            "-S",
            f"localhost:{port}",
            "reverse",
            "--count",
            "2",
            "--",
            "rev",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        done = subprocess.run(
            [perl, "-e", PERL_TLS_CLIENT, port, "reverse", certs.ca, "", "", "hello", "gear"],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.stdout.decode().split() == ["olleh", "raeg"], done.stderr.decode()
        assert worker.wait(TIMEOUT) == 0
    finally:
        worker.kill()
        worker.communicate()


def test_gear_submit_and_status_over_tls(tls_server: ServerProcess, certs: Certs) -> None:
    server = f"localhost:{tls_server.port}"
    done = gear_cli("submit", "--tls-ca", certs.ca, "-S", server, "-b", "-v", "later", "x")
    assert done.returncode == 0, done.stderr
    handle = done.stdout.decode().split()[-1]
    status = gear_cli("status", "--tls-ca", certs.ca, "-S", server, handle)
    assert status.returncode == 0 and b"known=1" in status.stdout
    admin = gear_cli("admin", "-s", server, "--tls-ca", certs.ca, "status")
    assert admin.returncode == 0 and b"later" in admin.stdout


def test_gear_client_env_vars_as_gearman_dash_s(tls_server: ServerProcess, certs: Certs) -> None:
    """GEARMAN_CA_CERTIFICATE is honoured when --tls is given without paths."""
    env_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gear",
            "submit",
            "--tls",
            "-S",
            f"localhost:{tls_server.port}",
            "-b",
            "envjob",
            "x",
        ],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env={"GEARMAN_CA_CERTIFICATE": certs.ca, "PATH": "/usr/bin:/bin"},
    )
    assert env_run.returncode == 0, env_run.stderr
    wrong = gear_cli("submit", "--tls-ca", certs.other_ca, "-S", f"localhost:{tls_server.port}")
    assert wrong.returncode == 2  # no function: usage error before any connection
    unknown_ca = gear_cli(
        "submit", "--tls-ca", certs.other_ca, "-S", f"localhost:{tls_server.port}", "-b", "f", "x"
    )
    assert unknown_ca.returncode == 3
    assert b"TLS: self-signed certificate in certificate chain" in unknown_ca.stderr
    assert b"Traceback" not in unknown_ca.stderr


@pytest.mark.peer
def test_debian_gearman_dash_s_speaks_plain_tcp(tls_server: ServerProcess, certs: Certs) -> None:
    """Debian's libgearman has no TLS: ``-S`` sends plain packets, which a TLS port refuses."""
    gearman = require_program("gearman", "gearman-tools")
    done = subprocess.run(
        [gearman, "-S", "-h", "localhost", "-p", str(tls_server.port), "-f", "reverse"],
        input=b"hello",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    # gearman exits 0 here all the same (libgearman 1.1.20), but no result came
    assert b"olleh" not in done.stdout and b"lost connection to server" in done.stderr
    line = wait_log(tls_server, r"TLS handshake with 127\.0\.0\.1:\d+ failed")
    assert "WRONG_VERSION_NUMBER" in line or "wrong version" in line.lower()
    assert not any("Traceback" in x for x in tls_server.log)


async def test_require_client_cert_refuses_a_client_without_one(certs: Certs) -> None:
    srv = start_gear_process(*tls_args(certs, "--tls-require-client-cert"), "--log-level", "INFO")
    srv.drain_stderr()
    try:
        bare = client_context(ca=certs.ca, environ={})
        with pytest.raises((ConnectError, ServerUnavailable)):
            async with AsyncClient(f"localhost:{srv.port}", tls=bare, connect_timeout=5) as c:
                await c.submit_background("f", b"x")
        await asyncio.to_thread(wait_log, srv, r"TLS handshake with 127\.0\.0\.1:\d+ failed")
        with_cert = client_context(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)
        async with AsyncClient(f"localhost:{srv.port}", tls=with_cert) as c:
            job = await c.submit_background("f", b"x")
        assert job.handle
    finally:
        srv.stop()


async def test_a_stalled_handshake_does_not_stall_others(
    tls_server: ServerProcess, certs: Certs
) -> None:
    """Peers that connect and send nothing, or send garbage, while a good client works."""
    silent = [socket.create_connection(("127.0.0.1", tls_server.port)) for _ in range(20)]
    garbage = socket.create_connection(("127.0.0.1", tls_server.port))
    garbage.sendall(b"\x16\x03\x01\x00\x05hello" * 10)
    try:
        ctx = client_context(ca=certs.ca)
        admin = AsyncAdminClient("localhost", tls_server.port, tls=ctx, timeout=5)
        async with admin:
            version = await admin.version()
        assert "gear" in str(version)
    finally:
        for s in [*silent, garbage]:
            s.close()
    assert not any("Traceback" in x for x in tls_server.log)


def test_bad_certificate_files_are_one_line_errors(certs: Certs) -> None:
    done = gear_cli("serve", "--port", "0", "--tls-cert", certs.server_cert, "--tls-key", "/nope")
    assert done.returncode == 2
    assert b"cannot load the certificate files" in done.stderr
    assert b"Traceback" not in done.stderr
    needs_ca = gear_cli(
        "serve", "--port", "0", "--tls-cert", certs.server_cert, "--tls-require-client-cert"
    )
    assert needs_ca.returncode == 2 and b"needs --tls-ca" in needs_ca.stderr
    only_key = gear_cli("serve", "--port", "0", "--tls-key", certs.server_key)
    assert only_key.returncode == 2 and b"need --tls-cert" in only_key.stderr


def test_ssl_context_verifies_the_server_name(certs: Certs) -> None:
    ctx = client_context(ca=certs.ca, environ={})
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
