"""Fixtures of the hardening tests: test certificates made with trustme.

``certs`` writes one CA, a server certificate for localhost/127.0.0.1, and
two client certificates (CN ``worker1`` and ``client1``) into a temporary
folder once per session; ``Certs`` names the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme


@dataclass(frozen=True)
class Certs:
    """PEM files of one test PKI."""

    ca: str
    server_cert: str
    server_key: str
    worker_cert: str
    worker_key: str
    client_cert: str
    client_key: str
    #: a CA that signed none of the above
    other_ca: str


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certs]:
    folder: Path = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    files: dict[str, str] = {}

    def write(name: str, blob: trustme.Blob) -> str:
        path = folder / name
        blob.write_to_path(str(path))
        files[name] = str(path)
        return str(path)

    write("ca.pem", ca.cert_pem)
    server = ca.issue_cert("localhost", "127.0.0.1")
    write("server.pem", server.cert_chain_pems[0])
    write("server.key", server.private_key_pem)
    for name in ("worker1", "client1"):
        leaf = ca.issue_cert(f"{name}.example", common_name=name)
        write(f"{name}.pem", leaf.cert_chain_pems[0])
        write(f"{name}.key", leaf.private_key_pem)
    write("other-ca.pem", trustme.CA().cert_pem)
    yield Certs(
        ca=files["ca.pem"],
        server_cert=files["server.pem"],
        server_key=files["server.key"],
        worker_cert=files["worker1.pem"],
        worker_key=files["worker1.key"],
        client_cert=files["client1.pem"],
        client_key=files["client1.key"],
        other_ca=files["other-ca.pem"],
    )


def tls_args(c: Certs, *extra: str) -> list[str]:
    """``gear serve`` options for TLS with these certificates."""
    return ["--tls-cert", c.server_cert, "--tls-key", c.server_key, "--tls-ca", c.ca, *extra]
