"""Tables with plain strings: alignment, SERVER column, filter, sort, TSV, JSON."""

from __future__ import annotations

import json
from typing import Any

from gear.cli.repl import tables
from gear.cli.repl.tables import Table, plain
from gear.protocol import admin_replies as ar


def fs(name: str, total: int, running: int, workers: int) -> ar.FunctionStatus:
    return ar.FunctionStatus(function=name, total=total, running=running, workers=workers)


STATUS = [
    ("a:4730", fs("reverse", 14, 2, 4)),
    ("a:4730", fs("resize", 0, 0, 0)),
    ("b:4730", fs("thumbnail", 3, 0, 0)),
]


def test_aligned_status_table() -> None:
    table = Table.of(tables.sort_pairs(STATUS[:2], None), show_server=False)
    assert plain(table.aligned()) == (
        "FUNCTION  TOTAL  QUEUED  RUNNING  WORKERS\n"
        "resize        0       0        0        0\n"
        "reverse      14      12        2        4\n"
    )


def test_status_for_scripts_keeps_the_wires_total() -> None:
    """gearadmin prints TOTAL (queued + running): scripts get the same line."""
    table = Table.of(STATUS[:1], show_server=False)
    assert table.tsv(header=True) == ["FUNCTION\tTOTAL\tRUNNING\tWORKERS", "reverse\t14\t2\t4"]
    assert table.records()[0] | {"server": ""} == {
        "server": "",
        "function": "reverse",
        "total": 14,
        "queued": 12,
        "running": 2,
        "workers": 4,
    }


def busy_worker(fd: int, client_id: str, handles: tuple[str, ...], *times: float, **kw: Any) -> Any:
    """A busy ``show workers`` row, ``times`` = (in state, connected)."""
    fields = {"address": "127.0.0.1", "state": "busy", "functions": ()} | kw
    return ar.WorkerDetail(
        fd=fd,
        client_id=client_id,
        handles=handles,
        state_seconds=times[0],
        connected_seconds=times[1],
        **fields,
    )


def test_times_have_their_unit_for_people_and_are_seconds_for_scripts() -> None:
    worker = busy_worker(7, "w1", ("H:x:1",), 74.003, 4.5, functions=("slow",))
    table = Table.of([("s", worker)], show_server=False)
    lines = plain(table.aligned()).splitlines()
    assert lines[0].split() == [
        "FD", "ADDRESS", "ID", "STATE", "IN_STATE", "HANDLES", "CONNECTED", "FUNCTIONS"
    ]  # fmt: skip
    assert lines[1].split() == ["7", "127.0.0.1", "w1", "busy", "1m14s", "H:x:1", "4.5s", "slow"]
    assert table.tsv() == ["7\t127.0.0.1\tw1\tbusy\t74.003\tH:x:1\t4.500\tslow"]


def test_server_column_when_several_servers() -> None:
    text = plain(Table.of(STATUS, show_server=True).aligned())
    assert text.splitlines()[0] == "SERVER  FUNCTION   TOTAL  QUEUED  RUNNING  WORKERS"
    assert text.splitlines()[3] == "b:4730  thumbnail      3       3        0        0"


def test_rows_without_workers_are_styled() -> None:
    lines = Table.of(STATUS, show_server=False).aligned()
    assert lines[0][0][0] == "class:header"
    assert [line[0][0] for line in lines[1:]] == ["", "class:row.idle", "class:row.stuck"]


def test_sort_numeric_descending_and_natural() -> None:
    by_queued = tables.sort_pairs(STATUS, "queued", descending=True)
    assert [row.function for _, row in by_queued] == ["reverse", "thumbnail", "resize"]  # type: ignore[attr-defined]
    jobs = [
        ("s", ar.JobInfo(handle=f"H:x:{n}", retries=0, ignored=False, queued=True))
        for n in (10, 2, 1)
    ]
    assert [r.handle for _, r in tables.sort_pairs(jobs, None)] == ["H:x:1", "H:x:2", "H:x:10"]  # type: ignore[attr-defined]


def test_filter_glob_and_substring() -> None:
    assert len(tables.filter_pairs(STATUS, "re*")) == 2
    assert len(tables.filter_pairs(STATUS, "umb")) == 1
    assert len(tables.filter_pairs(STATUS, None)) == 3
    worker = ar.WorkerInfo(fd=3, address="::1", client_id="w1", functions=("reverse", "x"))
    assert tables.filter_pairs([("s", worker)], "w1") and tables.filter_pairs([("s", worker)], "x")
    assert not tables.filter_pairs([("s", worker)], "zzz")


def test_tsv_plain_and_with_header() -> None:
    table = Table.of(STATUS[:1], show_server=True)
    assert table.tsv() == ["a:4730\treverse\t14\t2\t4"]
    assert table.tsv(header=True)[0] == "SERVER\tFUNCTION\tTOTAL\tRUNNING\tWORKERS"


def test_cells_of_tuples_bools_and_floats() -> None:
    worker = busy_worker(5, "", ("H:1", "H:2"), 0.25, 3.0)
    assert Table.of([("s", worker)], False).tsv() == [
        "5\t127.0.0.1\t-\tbusy\t0.250\tH:1 H:2\t3.000\t-"
    ]
    job = ar.JobInfo(handle="H:1", retries=1, ignored=False, queued=False)
    assert Table.of([("s", job)], False).tsv() == ["H:1\tno\t1\tno"]


def test_tsv_cells_never_hold_tabs_or_newlines() -> None:
    row = ar.UniqueJob(unique="a\tb\nc")
    assert Table.of([("s", row)], False).tsv() == ["a b c"]


def test_records_for_json() -> None:
    records = Table.of(STATUS[:1], True).records()
    assert records == [
        {
            "server": "a:4730",
            "function": "reverse",
            "total": 14,
            "running": 2,
            "workers": 4,
            "queued": 12,
        }
    ]
    version = ar.ServerVersion(version="1.1.20+ds", kind=ar.ServerKind.GEARMAND)
    assert (
        json.loads(tables.to_json(Table.of([("s", version)], True).records()))[0]["kind"]
        == "gearmand"
    )


def test_acks_have_a_result_column() -> None:
    ack = ar.JobCancelled(handle="H:1")
    assert Table.of([("s", ack)], False).tsv(header=True) == ["RESULT", "OK"]


def test_sort_keys() -> None:
    assert tables.sort_keys(ar.FunctionStatus) == [
        "function", "total", "queued", "running", "workers"
    ]  # fmt: skip
    assert "in_state" in tables.sort_keys(ar.WorkerDetail)


def test_wide_tables_cut_text_columns_to_fit() -> None:
    job = ar.UniqueJob(unique="u" * 50)
    pairs: list[tuple[str, object]] = [("a-long-server-name:4730", job)]
    lines = plain(Table.of(pairs, True).aligned(width=40)).splitlines()
    assert max(len(line) for line in lines) <= 40
    assert lines[1].endswith("u…")
    assert tables.fit([5, 30, 3], [False, False, True], 20) == [5, 8, 3]
    assert tables.fit([5, 5], [True, True], 4) == [5, 5]


def test_wide_tables_never_cut_a_job_handle() -> None:
    """Handles are copied into ``cancel job`` and ``gear status``: cut, they are useless."""
    job = ar.QueuedJob(
        handle="H:a-long-host-name:1796398285413077",
        function="f" * 30,
        unique="u" * 30,
        priority="normal",
        state="queued",
        age=1.5,
        size=4,
        clients=0,
        background=True,
        when=0,
    )
    lines = plain(Table.of([("s", job)], False).aligned(width=60)).splitlines()
    assert "H:a-long-host-name:1796398285413077" in lines[1]


def test_every_row_type_of_the_parsers_has_columns() -> None:
    """A new reply row type without a column spec would print blank lines."""
    import typing

    from gear.cli.repl.tables import COLUMNS
    from gear.protocol import admin_replies as ar

    assert set(typing.get_args(ar.Row)) <= set(COLUMNS)
