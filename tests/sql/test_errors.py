"""Every error of the gman_* functions: a PostgreSQL error with its SQLSTATE, never a hang."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from gear.sql import schema, sqlstate
from tests.conftest import free_port
from tests.sql.conftest import Installed, SqlSite, running_worker, world_readable


def sql_error(site: Installed, query: str, *params: object) -> psycopg.Error:
    """The error ``query`` raises; the session stays usable after it."""
    with pytest.raises(psycopg.Error) as caught:
        site.conn.execute(query, params or None)
    assert site.one("SELECT 1") == 1
    return caught.value


def test_no_reachable_job_server(new_schema: Callable[..., Installed]) -> None:
    site = new_schema(f"127.0.0.1:{free_port()}")
    for query in (
        "SELECT gman_do('reverse', 'x')",
        "SELECT gman_do_background('reverse', 'x')",
        "SELECT gman_sum('length', 'x')",
    ):
        error = sql_error(site, query)
        assert error.sqlstate == sqlstate.UNREACHABLE == "YG001"
        assert error.diag.message_primary.startswith(
            "gear.ServerUnavailable: no job server reachable for job "
        )
        assert "Connection refused" in error.diag.message_primary
        assert error.diag.message_detail.startswith("servers: 127.0.0.1:")
        assert "gman_servers_set" in error.diag.message_hint


def test_a_function_without_a_worker_times_out(installed: Installed) -> None:
    installed.conn.execute("SET gear.timeout = '300ms'")
    started = time.monotonic()
    error = sql_error(installed, "SELECT gman_do('nobody_works_this', 'x')")
    waited = time.monotonic() - started
    assert error.sqlstate == sqlstate.TIMEOUT == "YG002"
    assert error.diag.message_primary == (
        "gear.JobTimeout: no result for job 'nobody_works_this' within 0.3 s"
    )
    assert error.diag.message_hint.startswith("is a worker registered for it?")
    assert 0.3 <= waited < 10  # it waited for the timeout, and not much longer


def test_a_job_server_that_never_answers_cannot_hang_a_query(
    new_schema: Callable[..., Installed],
) -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever reads
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        site = new_schema(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        for query, message in [
            ("SELECT gman_do_background('x', 'y')", "job 'x' was not accepted within 0.3 s"),
            ("SELECT gman_do('x', 'y')", "no result for job 'x' within 0.3 s"),
        ]:
            started = time.monotonic()
            error = sql_error(site, query)
            assert time.monotonic() - started < 10
            assert error.sqlstate == sqlstate.TIMEOUT
            assert error.diag.message_primary == f"gear.JobTimeout: {message}"


def test_gman_timeout_set_lasts_and_the_session_setting_wins(installed: Installed) -> None:
    assert installed.one("SELECT gman_timeout_set(0.2)") == 0.2
    later = installed.connect()  # a new session reads the stored timeout
    with pytest.raises(psycopg.Error) as caught:
        later.execute("SELECT gman_do('nobody_works_this', 'x')")
    later.close()
    assert caught.value.diag.message_primary.endswith("within 0.2 s")
    installed.conn.execute("SET gear.timeout = '0.25s'")
    error = sql_error(installed, "SELECT gman_do('nobody_works_this', 'x')")
    assert error.diag.message_primary.endswith("within 0.25 s")


def test_a_failing_job_and_a_job_that_raises(installed: Installed) -> None:
    with running_worker(installed.server):
        failed = sql_error(installed, "SELECT gman_do('fail', 'x')")
        assert failed.sqlstate == sqlstate.JOB_FAILED == "YG003"
        assert failed.diag.message_primary == "gear.JobFailed: job 'fail' failed (WORK_FAIL)"
        raised = sql_error(installed, "SELECT gman_do_high('boom', 'x')")
        assert raised.sqlstate == sqlstate.JOB_EXCEPTION == "YG004"
        assert raised.diag.message_primary == (
            "gear.JobException: job 'boom' raised an exception: RuntimeError: kaput"
        )
        told = sql_error(installed, "SELECT gman_do('stderr', 'x')")
        assert told.diag.message_primary.endswith("raised an exception: disk full")
        # the connection to the job server is still good
        assert installed.one("SELECT gman_do('reverse', 'ok')") == "ko"


def test_results_that_are_not_what_the_sql_type_needs(installed: Installed) -> None:
    with running_worker(installed.server):
        binary = sql_error(installed, "SELECT gman_do('binary', 'x')")
        assert binary.sqlstate == sqlstate.NOT_TEXT == "22021"
        assert "gman_do(fn, data::bytea)" in binary.diag.message_hint
        assert installed.one("SELECT gman_do('binary', 'x'::bytea)") == b"\xff\x00\xfe"
        nul = sql_error(installed, "SELECT gman_do('nul', 'x')")
        assert nul.sqlstate == sqlstate.NOT_TEXT
        assert nul.diag.message_primary.endswith("is not text: it contains a NUL byte")
        summed = sql_error(installed, "SELECT gman_sum('reverse', 'abc')")
        assert summed.sqlstate == sqlstate.NOT_INTEGER == "22P02"
        assert "is not an integer: 'cba'" in summed.diag.message_primary


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("SELECT gman_do(NULL, 'x')", "22004", "gear.InvalidArgument: the function name is NULL"),
        ("SELECT gman_do('', 'x')", "22023", "gear.InvalidArgument: the function name is empty"),
        (
            "SELECT gman_do_background(NULL, 'x'::bytea)",
            "22004",
            "gear.InvalidArgument: the function name is NULL",
        ),
        (
            "SELECT gman_servers_set('host:port')",
            "22023",
            "gear.InvalidArgument: bad server list 'host:port'",
        ),
        ("SELECT gman_servers_set(' , ')", "22023", "gear.InvalidArgument: bad server list ' , '"),
        ("SELECT gman_servers_set(NULL)", "22004", "gear.InvalidArgument: the server list is NULL"),
        (
            "SELECT gman_timeout_set(0)",
            "22023",
            "gear.InvalidArgument: the timeout must be a positive number of seconds, not 0.0",
        ),
        (
            "SELECT gman_timeout_set('NaN')",
            "22023",
            "gear.InvalidArgument: the timeout must be a positive number of seconds, not nan",
        ),
        ("SELECT gman_do_background_on_commit(NULL, 'x')", "22004", "the function name is NULL"),
        ("SELECT gman_do_background_on_commit('', 'x')", "22023", "the function name is empty"),
        (
            "SELECT gman_do_background_on_commit('f', 'x', NULL, 'urgent')",
            "22023",
            "bad priority 'urgent'",
        ),
    ],
)
def test_bad_arguments(
    new_schema: Callable[..., Installed], query: str, code: str, message: str
) -> None:
    site = new_schema(f"127.0.0.1:{free_port()}")
    error = sql_error(site, query)
    assert (error.sqlstate, error.diag.message_primary) == (code, message)
    assert site.one("SELECT count(*) FROM outbox") == 0


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("gear.timeout", "soon", "gear.InvalidArgument: bad timeout 'soon'"),
        ("gear.timeout", "-1", "gear.InvalidArgument: bad timeout '-1'"),
        ("gear.servers", "h:p", "gear.InvalidArgument: bad server list: server 'h:p': port must"),
    ],
)
def test_bad_session_settings(
    new_schema: Callable[..., Installed], setting: str, value: str, message: str
) -> None:
    site = new_schema()
    site.conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    error = sql_error(site, "SELECT gman_do('reverse', 'x')")
    assert error.sqlstate == "22023"
    assert error.diag.message_primary.startswith(message)


@pytest.fixture
def broken_gear() -> Iterator[str]:
    """A directory whose ``gear`` package cannot be imported."""
    top = tempfile.mkdtemp(prefix="gear-broken-")
    os.makedirs(os.path.join(top, "gear"))
    with open(os.path.join(top, "gear", "__init__.py"), "w") as fh:
        fh.write("raise ImportError('this gear is broken')\n")
    world_readable(top)
    yield top
    shutil.rmtree(top)


def test_the_server_python_cannot_import_gear(sql_site: SqlSite, broken_gear: str) -> None:
    # the functions of an install whose gear went away since (the install itself checks)
    name = f"gone{os.getpid()}"
    probe = next(f for f in schema.functions(name, broken_gear) if f.name == "_gear_probe")
    with psycopg.connect(sql_site.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        try:
            conn.execute(probe.create(name))
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(f"SELECT {name}._gear_probe()")
        finally:
            conn.execute(f"DROP SCHEMA {name} CASCADE")
    assert caught.value.sqlstate == sqlstate.NOT_INSTALLED == "YG000"
    assert caught.value.diag.message_primary == (
        "plpy.Error: cannot import gear.sql: this gear is broken"
    )
    assert "--pythonpath" in caught.value.diag.message_hint
