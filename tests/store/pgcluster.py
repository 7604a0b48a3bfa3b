"""A throw-away PostgreSQL server for the store tests (Debian's packages).

``PgCluster.start()`` runs ``initdb`` into a fresh temporary directory and
``pg_ctl start -w`` on a free loopback port (trust authentication, superuser
``gear``); ``stop()`` stops it and removes the directory.  PostgreSQL refuses
to run as root, so as root both run as ``nobody`` through ``runuser``.  No
system service and no extra CI step are needed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from tests.conftest import free_port


def find_bindir() -> str | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has initdb and pg_ctl."""
    found = []
    for bindir in glob.glob("/usr/lib/postgresql/*/bin"):
        if os.access(os.path.join(bindir, "initdb"), os.X_OK) and os.access(
            os.path.join(bindir, "pg_ctl"), os.X_OK
        ):
            version = os.path.basename(os.path.dirname(bindir))
            found.append((int(version) if version.isdigit() else 0, bindir))
    return max(found)[1] if found else None


@dataclass
class PgCluster:
    """A running PostgreSQL server on 127.0.0.1."""

    bindir: str
    base: str
    port: int = 0

    @property
    def data(self) -> str:
        return os.path.join(self.base, "data")

    def url(self, database: str = "postgres", **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://gear@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "nobody", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    @classmethod
    def start(cls, bindir: str) -> PgCluster:
        base = tempfile.mkdtemp(prefix="gear-pg-")
        if os.geteuid() == 0:
            shutil.chown(base, "nobody")
        cluster = cls(bindir, base)
        try:
            cluster._init()
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _init(self) -> None:
        out = self._run(
            os.path.join(self.bindir, "initdb"),
            "-D",
            self.data,
            "-U",
            "gear",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if out.returncode:
            raise RuntimeError(f"initdb failed: {out.stderr.strip()}")

    def _start(self) -> None:
        log = os.path.join(self.base, "log")
        last = ""
        for _ in range(3):  # a free port can be taken between our probe and the bind
            self.port = free_port()
            opts = f"-h 127.0.0.1 -p {self.port} -k {self.base} -c max_connections=50"
            out = self._run(
                os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", log, "-w",
                "-t", "30", "-o", opts, "start",
            )  # fmt: skip
            if out.returncode == 0:
                return
            last = out.stderr.strip() + " " + _tail(log)
        raise RuntimeError(f"pg_ctl start failed: {last}")

    def can_read(self, path: str) -> bool:
        """Whether the server's OS user can read ``path`` (and reach it)."""
        return self._run("test", "-r", path).returncode == 0

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(
                os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w",
                "stop",
            )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


def _tail(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()[-500:]
    except OSError:
        return ""
