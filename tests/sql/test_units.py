"""Pure units of gear.sql: the generated SQL, settings parsing, the SQLSTATE table."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from gear.errors import (
    ConnectError,
    GearError,
    JobException,
    JobFailed,
    JobTimeout,
    RemoteProtocolError,
    ServerError,
    ServerUnavailable,
)
from gear.sql import plpython, schema, sqlstate

MYSQL_UDFS = {
    "gman_do",
    "gman_do_high",
    "gman_do_low",
    "gman_do_background",
    "gman_do_high_background",
    "gman_do_low_background",
    "gman_sum",
    "gman_servers_set",
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2", 2.0), ("2.5", 2.5), (" 2.5s ", 2.5), ("500ms", 0.5), ("1min", 60.0), ("1e1", 10.0)],
)
def test_parse_seconds(text: str, seconds: float) -> None:
    assert plpython.parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1", "soon", "2 h", "nan", "inf", "1e999"])
def test_parse_seconds_refuses(text: str) -> None:
    assert plpython.parse_seconds(text) is None


def test_normalize_servers() -> None:
    assert plpython.normalize_servers("a, b:4731,a:4730,[::1]:9") == "a:4730,b:4731,[::1]:9"
    for bad in ("", " , ", "h:p", "h:0", "[::1"):
        assert plpython.normalize_servers(bad) is None


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (JobTimeout("t"), "YG002"),
        (JobFailed("f"), "YG003"),
        (JobException(b"e"), "YG004"),
        (ServerError("QUEUE_ERROR", "full"), "YG005"),
        (ConnectError("c"), "YG001"),
        (ServerUnavailable("u"), "YG001"),
        (RemoteProtocolError("p"), "YG006"),
        (GearError("g"), "YG009"),
    ],
)
def test_each_gear_error_has_its_sqlstate(error: GearError, code: str) -> None:
    assert sqlstate.for_error(error) == code


def test_sqlstates_are_distinct_and_well_formed() -> None:
    codes = [v for k, v in vars(sqlstate).items() if k.isupper() and isinstance(v, str)]
    assert len(codes) == len(set(codes)) == 12
    assert all(len(c) == 5 and c.isalnum() and c.upper() == c for c in codes)


def test_the_schema_has_every_mysql_udf_and_unique_signatures() -> None:
    functions = schema.functions("gear")
    signatures = [f.signature for f in functions]
    assert len(signatures) == len(set(signatures)) == 24
    assert MYSQL_UDFS <= {f.name for f in functions}
    assert functions[-1].name == "gman_sum" and functions[-1].language == "aggregate"
    assert "gman_do_background_on_commit(text,text,text,text)" in signatures
    assert "gman_do_background_on_commit(text,bytea,text,text)" in signatures


def test_plpython_bodies_are_valid_python_with_the_path_quoted() -> None:
    path = "/opt/it's \\ here"
    for function in schema.functions("gear", path):
        if function.language != "plpython3u":
            continue
        # PL/Python runs a body as the body of a function
        source = "def stub():\n" + textwrap.indent(function.body, "    ")
        compile(source, function.name, "exec")
        assert f"path = {path!r}" in function.body
        statement = function.create("gear")
        assert statement.startswith(f"CREATE OR REPLACE FUNCTION gear.{function.name}(")
        assert statement.count(schema.TAG) == 2


def test_on_commit_notifies_the_schemas_channel() -> None:
    on_commit = [f for f in schema.functions("jobs") if f.name.endswith("_on_commit")]
    assert len(on_commit) == 2
    for function in on_commit:
        assert "INSERT INTO jobs.outbox" in function.body
        assert "pg_notify('jobs_outbox', '')" in function.body
    assert schema.channel("jobs") == "jobs_outbox"


def test_schema_names() -> None:
    assert schema.SCHEMA_NAME.fullmatch("gear_2")
    for bad in ("Gear", "2gear", "g-1", "a" * 57, "gear; drop"):
        assert not schema.SCHEMA_NAME.fullmatch(bad)


class FakePlpy:
    """Only what ``_error`` touches: PL/Python's ``plpy.Error``."""

    class Error(Exception):
        pass


def test_errors_are_plpy_errors_named_after_the_gear_error() -> None:
    with pytest.raises(FakePlpy.Error) as caught:
        plpython._error(FakePlpy, "JobTimeout", "YG002", "too slow", detail="d", hint="h")
    exc: Any = caught.value
    assert (type(exc).__module__, type(exc).__name__) == ("gear", "JobTimeout")
    assert (str(exc), exc.sqlstate, exc.detail, exc.hint) == ("too slow", "YG002", "d", "h")
    with pytest.raises(FakePlpy.Error) as again:
        plpython._error(FakePlpy, "JobTimeout", "YG002", "again")
    assert type(again.value) is type(exc)  # one class per name
    assert not hasattr(again.value, "detail")


def test_probe_reports_gear_and_python() -> None:
    import json

    import gear

    found = json.loads(plpython.probe())
    assert found["gear"] == gear.__version__ and found["file"] == gear.__file__
