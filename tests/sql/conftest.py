"""Fixtures of the SQL functions' tests: PL/Python in a real PostgreSQL, job servers, workers.

``sql_site`` is one database with ``plpython3u`` in the session's
``pg_cluster`` (tests/conftest.py); Debian's postgresql-plpython3-NN must
be installed (skipped, or failed under GEAR_REQUIRE_PEERS=1, when not).
The database server runs as ``nobody`` when the tests run as root
(pgcluster.py) and may not be able to read this checkout: then the
functions get, through ``--pythonpath``, a world-readable copy of the gear
package (with mypyc's shared library beside it), as a deployment that puts
gear where the server can read it would.

``new_schema`` installs the functions in a fresh schema (uninstalled after
the test); ``installed`` is one pointed at ``job_server``, which is gear
serve and then C gearmand (marker ``peer``).  ``running_worker`` and
``burst`` run a ``gear.Worker`` with the functions the tests call and
record what it ran, in order.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import gear
from gear.errors import JobException, JobFailed
from gear.sql import admin
from tests.conftest import Postgres, require_peer, running_c_gearmand, start_gear_process
from tests.interop.wire import wait_for_workers

SQL_DB = "gear_sql"
GEAR = [sys.executable, "-m", "gear"]
_schemas = itertools.count(1)


@dataclass
class SqlSite:
    """A database with PL/Python, and where its functions import gear from."""

    pg: Postgres
    url: str
    pythonpath: str


@dataclass
class Installed:
    """A schema with the functions installed, and a connection whose search_path starts there."""

    site: SqlSite
    schema: str
    #: the job server the schema's default servers point at
    server: str
    conn: Any  # psycopg.Connection, autocommit

    def one(self, query: str, *params: Any) -> Any:
        """The first column of the first row of ``query``."""
        row = self.conn.execute(query, params or None).fetchone()
        return None if row is None else row[0]

    def connect(self) -> Any:
        """Another connection (a new database session), search_path set."""
        import psycopg

        conn = psycopg.connect(self.site.url, autocommit=True)
        conn.execute(f"SET search_path = {self.schema}, public")
        return conn


@dataclass
class Server:
    """A job server subprocess."""

    name: str
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def sql_site(pg_cluster: Postgres) -> Iterator[SqlSite]:
    """The session's database for the SQL functions."""
    version = Path(pg_cluster.cluster.bindir).parent.name
    plpython = Path(pg_cluster.cluster.bindir).parent / "lib" / "plpython3.so"
    require_peer("PL/Python", plpython.exists(), f"apt-get install postgresql-plpython3-{version}")
    pg_cluster.sql(f"CREATE DATABASE {SQL_DB}")
    path, copied = readable_gear(pg_cluster)
    try:
        yield SqlSite(pg_cluster, pg_cluster.cluster.url(SQL_DB), path)
    finally:
        if copied:
            shutil.rmtree(path, ignore_errors=True)


def readable_gear(pg: Postgres) -> tuple[str, bool]:
    """A directory holding gear that the database server can read; whether it is a copy."""
    root = admin.default_pythonpath()
    if pg.cluster.can_read(os.path.join(root, "gear", "sql", "plpython.py")):
        return root, False
    copy = tempfile.mkdtemp(prefix="gear-plpython-")
    shutil.copytree(
        os.path.join(root, "gear"),
        os.path.join(copy, "gear"),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for lib in glob.glob(os.path.join(root, "*__mypyc*")):
        shutil.copy(lib, copy)
    world_readable(copy)
    return copy, True


def world_readable(top: str) -> None:
    """chmod a+rX under ``top``."""
    os.chmod(top, 0o755)
    for base, dirs, files in os.walk(top):
        for name in dirs:
            os.chmod(os.path.join(base, name), 0o755)
        for name in files:
            os.chmod(os.path.join(base, name), 0o644)


@pytest.fixture(params=["gear", pytest.param("gearmand", marks=pytest.mark.peer)])
def job_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """gear serve, then C gearmand."""
    if request.param == "gearmand":
        with running_c_gearmand() as gearmand:
            yield Server("gearmand", gearmand.port)
        return
    srv = start_gear_process()
    try:
        yield Server("gear", srv.port)
    finally:
        srv.stop()


@pytest.fixture
def new_schema(sql_site: SqlSite) -> Iterator[Callable[..., Installed]]:
    """Install the functions in a fresh schema: ``new_schema(servers=…, timeout=…)``."""
    import psycopg

    made: list[Installed] = []

    def make(servers: str | None = None, **options: Any) -> Installed:
        schema = f"g{os.getpid()}_{next(_schemas)}"
        options.setdefault("pythonpath", sql_site.pythonpath)
        admin.install(sql_site.url, schema, servers=servers, **options)
        conn = psycopg.connect(sql_site.url, autocommit=True)
        conn.execute(f"SET search_path = {schema}, public")
        made.append(Installed(sql_site, schema, servers or "", conn))
        return made[-1]

    yield make
    for schema in made:
        schema.conn.close()
        if admin.status(sql_site.url, schema.schema).installed:
            admin.uninstall(sql_site.url, schema.schema, force=True)


@pytest.fixture
def installed(new_schema: Callable[..., Installed], job_server: Server) -> Installed:
    """The functions in a fresh schema, pointed at ``job_server``."""
    return new_schema(job_server.address)


# -------------------------------------------------------------------- workers --
@dataclass
class Recorder:
    """What a worker ran: (function, data) in order."""

    seen: list[tuple[str, bytes]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, function: str, data: bytes) -> None:
        with self.changed:
            self.seen.append((function, data))
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        """Block until ``count`` jobs ran; what ran."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.seen) >= count, timeout):
                raise AssertionError(f"{len(self.seen)} job(s) ran, not {count}: {self.seen}")
            return list(self.seen)


def make_worker(address: str, recorder: Recorder) -> gear.Worker:
    """A worker with every function the SQL tests call."""
    worker = gear.Worker(address)

    def record(job: gear.WorkerJob) -> bytes:
        recorder.add(job.function, job.data)
        return b""

    def chunks(job: gear.WorkerJob) -> bytes:
        job.send_data(b"ab")
        job.send_data(b"cd")
        return b"ef"

    def fail(job: gear.WorkerJob) -> bytes:
        raise JobFailed("no")

    def boom(job: gear.WorkerJob) -> bytes:
        raise RuntimeError("kaput")

    def stderr(job: gear.WorkerJob) -> bytes:
        raise JobException(b"disk full\n")  # as `gear work` sends a command's stderr

    worker.register("record", record)
    worker.register("reverse", lambda job: job.data[::-1])
    worker.register("length", lambda job: str(len(job.data)).encode())
    worker.register("binary", lambda job: b"\xff\x00\xfe")
    worker.register("nul", lambda job: b"a\x00b")
    worker.register("chunks", chunks)
    worker.register("fail", fail)
    worker.register("boom", boom)
    worker.register("stderr", stderr)
    return worker


@contextmanager
def running_worker(address: str) -> Iterator[Recorder]:
    """A worker in a thread, registered with the server, until the block ends."""
    recorder = Recorder()
    worker = make_worker(address, recorder)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for_workers(int(address.rsplit(":", 1)[1]), "record")  # its loop runs: stop() works
        yield recorder
    finally:
        worker.stop()
        thread.join(10)
    assert not errors, errors


def burst(address: str) -> list[tuple[str, bytes]]:
    """Run every queued job once (one at a time, in the server's order); what ran."""
    recorder = Recorder()
    make_worker(address, recorder).run(until_idle=True)
    return recorder.seen


def gear_sql(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``gear sql ARGS`` as a subprocess."""
    return subprocess.run(
        [*GEAR, "sql", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
