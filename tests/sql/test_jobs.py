"""Foreground, background and priorities from SQL, through gear serve and C gearmand."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from tests.conftest import start_gear_process
from tests.interop.wire import status_table, wait_for_admin
from tests.sql.conftest import Installed, Server, burst, running_worker


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def queued(server: str, function: str) -> int:
    row = status_table(wait_for_admin(port_of(server), "status", lambda _: True)).get(function)
    return row[0] if row else 0


def test_gman_do_returns_the_result_as_text_or_bytea(installed: Installed) -> None:
    with running_worker(installed.server):
        assert installed.one("SELECT gman_do('reverse', 'hello')") == "olleh"
        assert installed.one(f"SELECT {installed.schema}.gman_do('reverse', 'hello')") == "olleh"
        assert installed.one("SELECT gman_do('reverse', 'hello'::bytea)") == b"olleh"
        assert installed.one("SELECT gman_do('reverse', %s::bytea)", b"\x00\x01") == b"\x01\x00"
        assert installed.one("SELECT gman_do('length', 'été')") == "5"  # sent as UTF-8
        assert installed.one("SELECT gman_do('reverse', NULL::text)") == ""
        assert installed.one("SELECT gman_do('reverse', 'abc', 'my-unique')") == "cba"
        # WORK_DATA chunks come first, then the WORK_COMPLETE payload (as `gear submit` prints)
        assert installed.one("SELECT gman_do('chunks', '')") == "abcdef"
        assert installed.one("SELECT gman_do('binary', ''::bytea)") == b"\xff\x00\xfe"


def test_gman_do_priorities_and_a_query_over_rows(installed: Installed) -> None:
    with running_worker(installed.server):
        assert installed.one("SELECT gman_do_high('reverse', 'high')") == "hgih"
        assert installed.one("SELECT gman_do_low('reverse', 'low')") == "wol"
        assert installed.one("SELECT gman_do_high('reverse', 'ab'::bytea)") == b"ba"
        rows = installed.conn.execute(
            "SELECT gman_do('reverse', w) FROM unnest(ARRAY['one', 'two', 'three']) AS w"
        ).fetchall()
        assert [r[0] for r in rows] == ["eno", "owt", "eerht"]


def test_background_jobs_queue_with_their_priority(installed: Installed) -> None:
    calls = [
        ("gman_do_background_low", "low-1"),
        ("gman_do_background", "normal-1"),
        ("gman_do_low_background", "low-2"),  # the MySQL UDF's name
        ("gman_do_background_high", "high-1"),
        ("gman_do_background", "normal-2"),
        ("gman_do_high_background", "high-2"),  # the MySQL UDF's name
    ]
    handles = [installed.one(f"SELECT {fn}('record', %s)", data) for fn, data in calls]
    assert all(handles) and len(set(handles)) == len(calls)
    assert queued(installed.server, "record") == len(calls)
    ran = [data.decode() for _fn, data in burst(installed.server)]
    assert ran == ["high-1", "high-2", "normal-1", "normal-2", "low-1", "low-2"]


def test_bytea_background_job_keeps_its_bytes(installed: Installed) -> None:
    installed.one("SELECT gman_do_background('record', %s::bytea)", b"\x00\xff")
    assert burst(installed.server) == [("record", b"\x00\xff")]


def test_a_high_foreground_job_overtakes_queued_low_jobs(installed: Installed) -> None:
    for data in ("low-1", "low-2"):
        installed.one("SELECT gman_do_background_low('record', %s)", data)
    other = installed.connect()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            lambda: other.execute("SELECT gman_do_high('record', 'fg')").fetchone()[0]
        )
        wait_for_admin(
            port_of(installed.server),
            "status",
            lambda reply: status_table(reply).get("record", [0])[0] == 3,
        )
        ran = [data.decode() for _fn, data in burst(installed.server)]
        assert waiting.result(30) == ""
    other.close()
    assert ran == ["fg", "low-1", "low-2"]


def test_gman_sum_adds_the_results_of_one_job_per_row(installed: Installed) -> None:
    with running_worker(installed.server):
        total = installed.one(
            "SELECT gman_sum('length', w) FROM unnest(ARRAY['a', 'bb', 'ccc', '']) AS w"
        )
        assert total == 6
        assert installed.one("SELECT gman_sum('length', w) FROM unnest('{}'::text[]) AS w") is None
        grouped = installed.conn.execute(
            "SELECT k, gman_sum('length', w) FROM (VALUES (1, 'a'), (1, 'bcd'), (2, 'xy')) AS"
            " t(k, w) GROUP BY k ORDER BY k"
        ).fetchall()
        assert grouped == [(1, 4), (2, 2)]


def test_a_kept_connection_survives_a_job_server_restart(
    new_schema: Callable[..., Installed],
) -> None:
    first = start_gear_process()
    port = first.port
    site = new_schema(f"127.0.0.1:{port}")
    try:
        with running_worker(f"127.0.0.1:{port}"):
            assert site.one("SELECT gman_do('reverse', 'one')") == "eno"
    finally:
        first.stop()  # the session's kept client now holds a closed connection
    second = start_gear_process("--port", str(port))
    try:
        with running_worker(f"127.0.0.1:{port}"):
            assert site.one("SELECT gman_do('reverse', 'two')") == "owt"
            assert site.one("SELECT gman_do_background('record', 'bg')")
    finally:
        second.stop()


def test_functions_follow_servers_set_per_function(
    new_schema: Callable[..., Installed], job_server: Server
) -> None:
    site = new_schema("127.0.0.1:1")  # the default servers are unreachable
    assert site.one("SELECT gman_servers_set(%s, 'reverse')", job_server.address) == (
        job_server.address
    )
    with running_worker(job_server.address):
        assert site.one("SELECT gman_do('reverse', 'abc')") == "cba"
        # a session setting wins over both rows
        site.conn.execute("SELECT set_config('gear.servers', %s, false)", (job_server.address,))
        assert site.one("SELECT gman_do('length', 'abcd')") == "4"
