"""``gear sql install | uninstall | status`` against a real PostgreSQL with PL/Python."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import psycopg
import pytest
from click.testing import CliRunner

import gear
from gear.cli import main
from gear.sql import admin, schema
from tests.conftest import free_port
from tests.sql.conftest import Installed, SqlSite, gear_sql, world_readable

#: every function of a schema, as regprocedure writes them
EXPECTED = sorted(f.signature for f in schema.functions("x"))


def schema_exists(site: SqlSite, name: str) -> bool:
    with psycopg.connect(site.url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,))
        return bool(row.fetchone()[0])  # type: ignore[index]


def test_install_then_status_through_the_cli(sql_site: SqlSite) -> None:
    name = f"cli{os.getpid()}"
    done = gear_sql(
        *("install", sql_site.url, "--schema", name, "--pythonpath", sql_site.pythonpath),
        *("-S", "127.0.0.1:4731", "--timeout", "2.5"),
    )
    try:
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"installed gear {gear.__version__} in schema {name}\n")
        status = gear_sql("status", sql_site.url, "--schema", name)
        assert status.returncode == 0, status.stderr
        lines = dict(line.split(":", 1) for line in status.stdout.splitlines())
        assert lines["functions"].strip() == f"{len(EXPECTED)} (all present)"
        assert lines["python path"].strip() == sql_site.pythonpath
        assert lines["servers"].strip() == "127.0.0.1:4731"
        assert lines["timeout"].strip() == "2.5 s"
        assert lines["outbox"].strip() == "0 job(s) waiting for gear sql relay"
        backend = lines["server python"].strip()
        assert backend.startswith(f"gear {gear.__version__} from {sql_site.pythonpath}/gear/")
    finally:
        gone = gear_sql("uninstall", sql_site.url, "--schema", name)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout == f"uninstalled {len(EXPECTED)} functions from schema {name}\n"
    assert not schema_exists(sql_site, name)
    after = gear_sql("status", sql_site.url, "--schema", name)
    assert (after.returncode, after.stdout) == (1, "")
    assert (
        after.stderr
        == f"gear sql status: gear's SQL functions are not installed in schema {name}\n"
    )


def test_status_lists_every_function_and_per_function_servers(
    new_schema: Callable[..., Installed],
) -> None:
    site = new_schema("127.0.0.1:4730")
    assert site.one("SELECT gman_servers_set('127.0.0.1:4999', 'resize')") == "127.0.0.1:4999"
    found = admin.status(site.site.url, site.schema)
    assert found.installed and found.missing == []
    assert sorted(found.functions) == EXPECTED
    # the MySQL UDFs' names are all there
    for name in ("gman_do_high_background", "gman_do_low_background", "gman_sum"):
        assert any(f.startswith(name + "(") for f in found.functions)
    assert found.servers == {"": "127.0.0.1:4730", "resize": "127.0.0.1:4999"}
    assert found.timeout is None and found.effective_timeout == 10
    assert found.backend["gear"] == gear.__version__ and found.backend_error is None


def test_installing_again_upgrades_and_keeps_settings_and_queued_jobs(
    new_schema: Callable[..., Installed],
) -> None:
    site = new_schema("127.0.0.1:4730")
    site.one("SELECT gman_servers_set('127.0.0.1:4999', 'resize')")
    site.one("SELECT gman_do_background_on_commit('resize', 'a.png')")
    site.conn.execute(f"DROP FUNCTION {site.schema}.gman_do_low(text, text, text)")
    assert admin.status(site.site.url, site.schema).missing == ["gman_do_low(text,text,text)"]

    again = admin.install(site.site.url, site.schema, pythonpath=site.site.pythonpath)
    assert again.missing == []
    assert again.servers == {"": "127.0.0.1:4730", "resize": "127.0.0.1:4999"}
    assert again.outbox == 1


def test_uninstall_refuses_while_jobs_wait_unless_forced(
    new_schema: Callable[..., Installed],
) -> None:
    site = new_schema()
    site.one("SELECT gman_do_background_on_commit('resize', 'a.png')")
    refused = gear_sql("uninstall", site.site.url, "--schema", site.schema)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"gear sql uninstall: 1 job(s) wait in {site.schema}.outbox for gear sql relay; "
        "run it first, or uninstall --force to drop them\n"
    )
    assert admin.status(site.site.url, site.schema).installed

    forced = gear_sql("uninstall", site.site.url, "--schema", site.schema, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "1 unsent job(s) dropped" in forced.stdout
    assert not schema_exists(site.site, site.schema)


def test_uninstall_keeps_a_schema_that_holds_other_objects(
    new_schema: Callable[..., Installed],
) -> None:
    site = new_schema()
    site.conn.execute("CREATE TABLE mine (id int)")
    done = admin.uninstall(site.site.url, site.schema)
    assert (done.functions, done.schema_dropped) == (len(EXPECTED), False)
    assert site.one("SELECT count(*) FROM mine") == 0
    assert (
        site.one("SELECT count(*) FROM pg_proc WHERE pronamespace = %s::regnamespace", site.schema)
        == 0
    )
    assert not admin.status(site.site.url, site.schema).installed


def test_install_rolls_back_when_the_server_python_cannot_import_gear(sql_site: SqlSite) -> None:
    broken = tempfile.mkdtemp(prefix="gear-broken-")
    try:
        os.makedirs(os.path.join(broken, "gear"))
        with open(os.path.join(broken, "gear", "__init__.py"), "w") as fh:
            fh.write("raise ImportError('this gear is broken')\n")
        world_readable(broken)
        name = f"broken{os.getpid()}"
        done = gear_sql("install", sql_site.url, "--schema", name, "--pythonpath", broken)
    finally:
        import shutil

        shutil.rmtree(broken)
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"gear sql install: the database server's Python cannot import gear from {broken}: "
        "cannot import gear.sql: this gear is broken; give --pythonpath a directory"
    )
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not schema_exists(sql_site, name)  # the whole install rolled back


def test_default_pythonpath_is_where_this_gear_is(sql_site: SqlSite) -> None:
    name = f"default{os.getpid()}"
    done = gear_sql("install", sql_site.url, "--schema", name)
    if sql_site.pythonpath == admin.default_pythonpath():  # the server can read this checkout
        assert done.returncode == 0, done.stderr
        status = admin.status(sql_site.url, name)
        assert status.pythonpath == admin.default_pythonpath()
        assert status.backend["file"] == os.path.join(status.pythonpath, "gear", "__init__.py")
        admin.uninstall(sql_site.url, name)
    else:  # it cannot: a clear one-line refusal, nothing left behind
        assert done.returncode == 1
        assert f"cannot import gear from {admin.default_pythonpath()}" in done.stderr
        assert not schema_exists(sql_site, name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--schema", "Bad-Name"],
            "gear sql install: bad schema name 'Bad-Name': use lower-case letters",
        ),
        (["-S", "host:port"], "gear sql install: bad server list 'host:port'"),
        (["--pythonpath", "/x$gear$"], "gear sql install: the Python path may not contain $gear$"),
    ],
)
def test_install_rejects_bad_arguments(sql_site: SqlSite, args: list[str], message: str) -> None:
    done = gear_sql("install", sql_site.url, *args)
    assert done.returncode == 1
    assert done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1


def test_an_unreachable_database_is_one_line() -> None:
    url = f"postgresql://gear@127.0.0.1:{free_port()}/none"
    for command in ("install", "uninstall", "status", "relay"):
        done = gear_sql(command, url, *(["--burst"] if command == "relay" else []))
        assert done.returncode in (1, 3), (command, done.stderr)
        prefix = f"gear sql {command}: "
        assert done.stderr.startswith(
            (prefix + "cannot connect to the database", prefix + "database")
        )
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_sql_group_help_lists_its_commands() -> None:
    result = CliRunner().invoke(main, ["sql", "--help"])
    assert result.exit_code == 0
    for command in ("install", "uninstall", "status", "relay"):
        assert f"  {command} " in result.output
    assert "sql" in CliRunner().invoke(main, ["--help"]).output
