"""The SQL of ``gear sql install``: every object it creates, as text.

Strategy: one table of functions (``functions()``) drives install,
uninstall and status, so the three always agree on what exists.  The
PL/Python functions are stubs: ``PRELUDE`` puts the path recorded at
install time on ``sys.path`` (when it is not there yet), imports
``gear.sql.plpython`` once per session into ``GD``, and the stub's one
line calls it; all the logic is in that module.

``gman_do_background_on_commit`` is PL/pgSQL, not Python: it only writes
the job into the schema's ``outbox`` table and calls ``pg_notify``.  Both
are transactional: a rolled-back transaction leaves no row and sends no
notification, and a committed one wakes ``gear sql relay`` once (equal
notifications of one transaction are folded into one), which submits the
rows and deletes them.  Nothing here touches the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import sqlstate

#: a schema name gear accepts: a plain lower-case identifier, short enough
#: that the notification channel ``<schema>_outbox`` fits in 63 bytes
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,55}")
#: the dollar-quote tag around function bodies
TAG = "$gear$"
#: the settings rows install writes
VERSION, PYTHONPATH, INSTALLED_AT, TIMEOUT = "version", "pythonpath", "installed_at", "timeout"
#: (suffix, priority) of the three variants of each submit function
PRIORITIES = (("", "normal"), ("_high", "high"), ("_low", "low"))

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.settings (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.servers (function text PRIMARY KEY, servers text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.outbox (
    id bigserial PRIMARY KEY,
    function text NOT NULL,
    data bytea NOT NULL,
    unique_key text NOT NULL,
    priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('high', 'normal', 'low')),
    queued_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {s}.outbox IS
    'background jobs queued by gman_do_background_on_commit; gear sql relay sends them';
"""
#: the tables, in the order uninstall drops them
TABLE_NAMES = ("outbox", "servers", "settings")

PRELUDE = """\
g = GD.get("gear.sql.plpython")
if g is None:
    import sys
    path = {path!r}
    if path and path not in sys.path:
        sys.path.insert(0, path)
    try:
        from gear.sql import plpython as g
    except ImportError as exc:
        plpy.error(
            "cannot import gear.sql: %s" % exc,
            sqlstate="{code}",
            hint="gear sql install --pythonpath DIR, DIR holding the gear package",
        )
    GD["gear.sql.plpython"] = g
"""

ON_COMMIT = """\
DECLARE
    queued_key text;
BEGIN
    IF fn IS NULL THEN
        RAISE EXCEPTION 'the function name is NULL' USING ERRCODE = '{null}';
    ELSIF fn = '' THEN
        RAISE EXCEPTION 'the function name is empty' USING ERRCODE = '{invalid}';
    ELSIF priority IS NULL OR priority NOT IN ('high', 'normal', 'low') THEN
        RAISE EXCEPTION 'bad priority %', quote_nullable(priority)
            USING ERRCODE = '{invalid}', HINT = 'one of ''high'', ''normal'', ''low''';
    END IF;
    INSERT INTO {s}.outbox AS o (function, data, unique_key, priority)
    VALUES (fn, coalesce({payload}, ''::bytea), coalesce(unique_key, gen_random_uuid()::text),
            priority)
    RETURNING o.unique_key INTO queued_key;
    PERFORM pg_notify('{channel}', '');
    RETURN queued_key;
END
"""


@dataclass(frozen=True)
class SqlFunction:
    """One function (or the aggregate) of the schema."""

    name: str
    #: the argument list, with names and defaults
    args: str
    #: the argument types only, as DROP and pg_get_function_identity_arguments write them
    types: str
    returns: str
    language: str
    body: str

    @property
    def signature(self) -> str:
        """``name(type,type)``, as PostgreSQL's regprocedure writes it."""
        return f"{self.name}({self.types.replace(', ', ',')})"

    def create(self, schema: str) -> str:
        """The CREATE OR REPLACE statement."""
        if self.language == "aggregate":
            return f"CREATE OR REPLACE AGGREGATE {schema}.{self.name}({self.args}) ({self.body})"
        return (
            f"CREATE OR REPLACE FUNCTION {schema}.{self.name}({self.args}) "
            f"RETURNS {self.returns} LANGUAGE {self.language} VOLATILE "
            f"AS {TAG}\n{self.body}{TAG}"
        )

    def drop(self, schema: str) -> str:
        """The DROP statement (IF EXISTS)."""
        kind = "AGGREGATE" if self.language == "aggregate" else "FUNCTION"
        return f"DROP {kind} IF EXISTS {schema}.{self.name}({self.types})"


def channel(schema: str) -> str:
    """The notification channel of a schema's outbox."""
    return f"{schema}_outbox"


def functions(schema: str, pythonpath: str = "") -> list[SqlFunction]:
    """Every function of a schema, the aggregate last (it needs its helpers)."""
    prelude = PRELUDE.format(path=pythonpath, code=sqlstate.NOT_INSTALLED)

    def py(name: str, args: str, types: str, returns: str, call: str) -> SqlFunction:
        return SqlFunction(name, args, types, returns, "plpython3u", f"{prelude}return {call}\n")

    found = []
    for kind in ("text", "bytea"):
        args = f"fn text, data {kind}, unique_key text DEFAULT NULL"
        types = f"text, {kind}, text"
        text = kind == "text"
        for suffix, prio in PRIORITIES:
            common = f"plpy, GD, {schema!r}, fn, data, unique_key, priority={prio!r}"
            found.append(py(f"gman_do{suffix}", args, types, kind, f"g.do({common}, text={text})"))
            bg = f"g.do({common}, background=True)"
            found.append(py(f"gman_do_background{suffix}", args, types, "text", bg))
            if suffix:  # the MySQL UDF's names: gman_do_high_background …
                found.append(py(f"gman_do{suffix}_background", args, types, "text", bg))
        payload = "convert_to(data, 'UTF8')" if text else "data"
        body = ON_COMMIT.format(
            s=schema,
            payload=payload,
            channel=channel(schema),
            null=sqlstate.NULL_VALUE,
            invalid=sqlstate.INVALID_PARAMETER,
        )
        found.append(
            SqlFunction(
                "gman_do_background_on_commit",
                f"{args}, priority text DEFAULT 'normal'",
                f"{types}, text",
                "text",
                "plpgsql",
                body,
            )
        )
    found += [
        py(
            "gman_servers_set",
            "servers text, fn text DEFAULT NULL",
            "text, text",
            "text",
            f"g.servers_set(plpy, GD, {schema!r}, servers, fn)",
        ),
        py(
            "gman_timeout_set",
            "seconds double precision",
            "double precision",
            "double precision",
            f"g.timeout_set(plpy, GD, {schema!r}, seconds)",
        ),
        py("_gear_probe", "", "", "text", "g.probe()"),
        SqlFunction(
            "_gman_sum_add",
            "state text[], fn text, data text",
            "text[], text, text",
            "text[]",
            "sql",
            "SELECT coalesce(state, '{}'::text[]) || ARRAY[fn, data]\n",
        ),
        py(
            "_gman_sum_final",
            "state text[]",
            "text[]",
            "bigint",
            f"g.sum_results(plpy, GD, {schema!r}, state)",
        ),
        SqlFunction(
            "gman_sum",
            "text, text",
            "text, text",
            "bigint",
            "aggregate",
            f"SFUNC = {schema}._gman_sum_add, STYPE = text[], FINALFUNC = {schema}._gman_sum_final",
        ),
    ]
    return found
