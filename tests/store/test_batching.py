"""The group-commit core without a database, and the ``--store`` URLs.

``FakeStore`` keeps rows in a dict and fails its next writes on demand, so
the batching, acknowledgement, retry and logging rules are checked exactly.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from gear.server import ConfigError, Server, ServerConfig
from gear.server.state import Job
from gear.server.store import MemoryStore, StoredJob
from gear.server.stores import StoreError, StoreURLError, create_store
from gear.server.stores.batching import (
    ADD,
    REMOVE,
    STARTED,
    BatchingStore,
    Changes,
    Op,
    Row,
    compact,
    stored_job,
)
from gear.server.stores.postgres import PostgresStore, _redact
from gear.server.stores.sqlite import CHUNKS, SQLiteStore, chunks
from tests.store.jobs import add, make_job


def row(handle: bytes, attempts: int = 0) -> Row:
    return (handle, b"f", b"", 1, b"d", 0.0, attempts, b"", 1.0)


class FakeStore(BatchingStore):
    """Rows in a dict; ``fail`` makes that many next writes raise."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[bytes, Row] = {}
        self.fail = 0
        self.writes: list[list[Op]] = []

    def __repr__(self) -> str:
        return "fake store"

    async def _connect(self) -> None:
        return None

    async def _read(self) -> list[StoredJob]:
        return [stored_job(r) for r in self.rows.values()]

    async def _write(self, ops: list[Op]) -> None:
        self.writes.append(list(ops))
        await asyncio.sleep(0)  # a commit takes a while: later calls queue up
        if self.fail:
            self.fail -= 1
            raise OSError(28, "No space left on device")
        changes = compact(ops)
        for h in changes.deletes:
            self.rows.pop(h, None)
        for attempts, h in changes.updates:
            self.rows[h] = (*self.rows[h][:6], attempts, *self.rows[h][7:])
        for r in changes.inserts:
            self.rows[r[0]] = r

    async def _disconnect(self) -> None:
        return None


# ---------------------------------------------------------------- compact --
def test_compact_keeps_the_last_word_per_handle() -> None:
    ops: list[Op] = [
        (ADD, b"a", row(b"a")),
        (STARTED, b"a", 1),  # folded into the insert
        (STARTED, b"b", 2),
        (STARTED, b"b", 3),  # the last count wins
        (STARTED, b"c", 1),
        (REMOVE, b"c", None),  # started then ended: only deleted
        (ADD, b"d", row(b"d")),
        (REMOVE, b"d", None),  # may have been stored by an earlier, failed commit
        (ADD, b"e", row(b"e")),
    ]
    assert compact(ops) == Changes(
        inserts=[row(b"a", 1), row(b"e")],
        updates=[(3, b"b")],
        deletes=[b"c", b"d"],
    )
    assert not compact([])


def test_compact_re_adding_a_handle_replaces_its_delete() -> None:
    ops: list[Op] = [(REMOVE, b"a", None), (ADD, b"a", row(b"a"))]
    assert compact(ops) == Changes(inserts=[row(b"a")])


def test_sqlite_chunks_use_few_statement_sizes() -> None:
    items = list(range(1000))
    parts = chunks(items)
    assert [x for part in parts for x in part] == items
    assert {len(p) for p in parts} <= set(CHUNKS)
    assert len(parts) <= 12
    assert chunks([]) == []


# -------------------------------------------------------- commit and retry --
async def test_everything_that_arrives_during_a_commit_goes_into_the_next() -> None:
    store = FakeStore()
    flushes: list[int] = []
    await store.open(lambda: flushes.append(1))
    first = add(store, make_job(1))
    await asyncio.sleep(0)  # the commit task takes the first batch
    later = [add(store, make_job(n)) for n in range(2, 50)]
    assert await first is None and not any(f.done() for f in later)
    assert await asyncio.gather(*later) == [None] * 48
    assert [len(w) for w in store.writes] == [1, 48]
    assert len(flushes) == 2
    await store.close()


def written(store: FakeStore, kind: int) -> list[bytes]:
    return [handle for batch in store.writes for k, handle, _ in batch if k == kind]


async def stored_and_started(store: FakeStore) -> Job:
    """A job stored, then handed to a worker for its first run."""
    await store.open(lambda: None)
    job = make_job(1)
    assert await add(store, job) is None
    job.attempts = 1
    store.started(job)
    return job


async def test_a_job_that_ends_within_the_grace_is_only_deleted() -> None:
    store = FakeStore()
    job = await stored_and_started(store)
    store.remove(job)
    await store.close()
    assert written(store, STARTED) == [], "one row change per short job, not two"
    assert written(store, REMOVE) == [job.handle] and store.rows == {}


async def test_a_count_settles_by_itself_once_the_job_ran_for_the_grace() -> None:
    store = FakeStore()
    store.attempt_grace = 0.02
    await store.open(lambda: None)
    running, again = make_job(1), make_job(2)
    assert await add(store, running) is None and await add(store, again) is None
    running.attempts = 1
    store.started(running)
    again.attempts = 1
    store.started(again)
    again.attempts = 2  # its worker died; a second run starts the wait over
    store.started(again)
    async with asyncio.timeout(5):  # the commit task wakes with no other operation
        while store.rows[running.handle][6] != 1 or store.rows[again.handle][6] != 2:
            await asyncio.sleep(0.005)
    assert written(store, STARTED) == [running.handle, again.handle]
    await store.close()


async def test_close_writes_the_counts_still_settling() -> None:
    store = FakeStore()
    job = await stored_and_started(store)
    await store.close()
    assert store.rows[job.handle][6] == 1, "a run cut short by a shutdown counts"


async def test_a_failed_batch_refuses_adds_and_retries_updates_first() -> None:
    store = FakeStore()
    store.attempt_grace = 0.0  # attempt counts queued at once
    await store.open(lambda: None)
    kept = make_job(1)
    assert await add(store, kept) is None
    store.fail = 1
    kept.attempts = 1
    store.started(kept)
    refused = add(store, make_job(2))
    assert await refused == "[Errno 28] No space left on device"
    assert await add(store, make_job(3)) is None
    assert store.writes[-1][0] == (STARTED, kept.handle, 1)  # kept, ahead of the new add
    assert sorted(store.rows) == [b"H:t:1", b"H:t:3"] and store.rows[b"H:t:1"][6] == 1
    assert (store.batches, store.failed_batches, store.refused) == (2, 1, 1)
    await store.close()


async def test_the_log_says_when_the_store_fails_and_when_it_works_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gear.server.store")
    store = FakeStore()
    await store.open(lambda: None)
    store.fail = 2
    assert await add(store, make_job(1))
    assert await add(store, make_job(2))
    assert await add(store, make_job(3)) is None
    await store.close()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(messages) == 2  # the second failure of the same outage is not repeated
    assert messages[0][0] == "ERROR" and "fake store failed (" in messages[0][1]
    assert messages[1][0] == "WARNING" and "works again" in messages[1][1]
    assert "2 submits were refused" in messages[1][1]


async def test_a_failing_acknowledgement_does_not_stop_the_commits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    await store.open(lambda: None)

    def broken(error: str | None) -> None:
        raise RuntimeError("broker bug")

    store.add(make_job(1), broken)
    assert await add(store, make_job(2)) is None
    assert "store acknowledgement failed" in caplog.text
    await store.close()


async def test_adds_after_close_are_refused_at_once() -> None:
    store = FakeStore()
    await store.open(lambda: None)
    await store.close()
    answered: list[str | None] = []
    store.add(make_job(1), answered.append)
    assert answered == ["the server is shutting down"]


# ------------------------------------------------------------------- URLs --
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:jobs.db", "jobs.db"),
        ("sqlite:/var/lib/gear/jobs.db", "/var/lib/gear/jobs.db"),
        ("sqlite:///var/lib/gear/jobs.db", "/var/lib/gear/jobs.db"),
        ("sqlite:/no/such/dir/jobs.db", "/no/such/dir/jobs.db"),  # nothing is touched yet
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    store = create_store(url)
    assert isinstance(store, SQLiteStore) and store.path == path and store.durable


@pytest.mark.parametrize("url", ["postgresql://gear@db/jobs", "postgres://u:pw@h:5433/d?x=1"])
def test_postgres_urls(url: str) -> None:
    store = create_store(url)
    assert isinstance(store, PostgresStore) and store.url == url
    assert "pw" not in repr(store)


def test_memory_is_the_default() -> None:
    assert isinstance(create_store("memory"), MemoryStore)
    assert isinstance(create_store(""), MemoryStore)


@pytest.mark.parametrize("url", ["sqlite:", "sqlite::memory:", "redis://localhost", "mysql:x"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(StoreURLError):
        create_store(url)
    with pytest.raises(ConfigError):
        ServerConfig(store=url).validate()


def test_redact_hides_only_the_password() -> None:
    assert _redact("postgresql://u:secret@h/db") == "postgresql://u@h/db"
    assert _redact("postgresql://h/db") == "postgresql://h/db"


async def test_a_store_that_cannot_open_stops_the_start(tmp_path: object) -> None:
    server = Server(ServerConfig(port=0, store="sqlite:/no/such/dir/jobs.db"))
    with pytest.raises(StoreError, match="no such directory"):
        await server.start()


async def test_a_newer_schema_is_refused(tmp_path: pytest.TempPathFactory) -> None:
    import sqlite3

    path = f"{tmp_path}/jobs.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    store = create_store(f"sqlite:{path}")
    with pytest.raises(StoreError, match="newer gear"):
        await store.open(lambda: None)
