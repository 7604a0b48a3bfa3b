"""``gman_do_background_on_commit`` and ``gear sql relay``: jobs only for committed rows."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import free_port
from tests.interop.wire import status_table, wait_for_admin
from tests.sql.conftest import GEAR, Installed, Server, burst, gear_sql, running_worker

TRIGGER = """
CREATE TABLE photos (id serial PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION photos_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gman_do_background_on_commit('record', NEW.name);
    RETURN NEW;
END $$;
CREATE TRIGGER photos_queue AFTER INSERT ON photos
    FOR EACH ROW EXECUTE FUNCTION photos_queue();
"""


def insert(site: Installed, names: list[str], *, commit: bool) -> None:
    with site.conn.transaction(force_rollback=not commit):
        for name in names:
            site.conn.execute("INSERT INTO photos (name) VALUES (%s)", (name,))


def queued(server: str, function: str) -> int:
    port = int(server.rsplit(":", 1)[1])
    row = status_table(wait_for_admin(port, "status", lambda _: True)).get(function)
    return row[0] if row else 0


def test_rollback_sends_nothing_and_commit_one_job_per_row(installed: Installed) -> None:
    installed.conn.execute(TRIGGER)
    insert(installed, ["r1", "r2", "r3"], commit=False)
    assert installed.one("SELECT count(*) FROM outbox") == 0
    insert(installed, ["c1", "c2", "c3", "c4", "c5"], commit=True)
    assert installed.one("SELECT count(*) FROM outbox") == 5
    assert queued(installed.server, "record") == 0  # nothing leaves before the relay runs

    done = gear_sql("relay", installed.site.url, "--schema", installed.schema, "--burst")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sent 5 job(s)\n"
    assert installed.one("SELECT count(*) FROM outbox") == 0
    assert queued(installed.server, "record") == 5
    ran = burst(installed.server)
    assert [data.decode() for _fn, data in ran] == ["c1", "c2", "c3", "c4", "c5"]

    again = gear_sql("relay", installed.site.url, "--schema", installed.schema, "--burst")
    assert again.stdout == "sent 0 job(s)\n"  # each row was sent exactly once
    assert queued(installed.server, "record") == 0


def test_on_commit_jobs_keep_their_bytes_priority_and_unique_key(installed: Installed) -> None:
    key = installed.one("SELECT gman_do_background_on_commit('record', 'low', NULL, 'low')")
    assert len(key) == 36  # a fresh UUID: the job's unique key
    installed.one("SELECT gman_do_background_on_commit('record', %s::bytea)", b"\x00\xff")
    mine = installed.one(
        "SELECT gman_do_background_on_commit('record', 'high', 'my-key', priority => 'high')"
    )
    assert mine == "my-key"
    rows = installed.conn.execute("SELECT unique_key, priority FROM outbox ORDER BY id").fetchall()
    assert rows == [(key, "low"), (rows[1][0], "normal"), ("my-key", "high")]

    done = gear_sql("relay", installed.site.url, "--schema", installed.schema, "--burst")
    assert done.returncode == 0, done.stderr
    ran = [data for _fn, data in burst(installed.server)]
    assert ran == [b"high", b"\x00\xff", b"low"]


@pytest.fixture
def relay(installed: Installed) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``gear sql relay`` on the installed schema; stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*GEAR, "sql", "relay", installed.site.url, "--schema", installed.schema, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert (
            first == f"relaying {installed.schema}.outbox, listening on {installed.schema}_outbox\n"
        )
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_the_relay_sends_each_commit_as_it_happens(
    installed: Installed, relay: Callable[..., subprocess.Popen[bytes]]
) -> None:
    installed.conn.execute(TRIGGER)
    insert(installed, ["before"], commit=True)  # queued before the relay starts
    proc = relay()
    with running_worker(installed.server) as seen:
        assert seen.wait_for(1) == [("record", b"before")]
        insert(installed, ["rolled-back"], commit=False)
        insert(installed, ["after-1", "after-2"], commit=True)
        assert seen.wait_for(3)[1:] == [("record", b"after-1"), ("record", b"after-2")]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == ["sent 1 job(s)", "sent 2 job(s)"]
    assert installed.one("SELECT count(*) FROM outbox") == 0


def test_the_relay_keeps_jobs_while_no_job_server_is_reachable(
    installed: Installed, job_server: Server, relay: Callable[..., subprocess.Popen[bytes]]
) -> None:
    installed.one("SELECT gman_do_background_on_commit('record', 'kept')")
    down = f"127.0.0.1:{free_port()}"
    failed = gear_sql(
        "relay", installed.site.url, "--schema", installed.schema, "--burst", "-S", down
    )
    assert failed.returncode == 3
    assert failed.stderr.startswith(
        "gear sql relay: 1 job(s) not sent: no server could take job record"
    )
    assert len(failed.stderr.splitlines()) == 1
    assert installed.one("SELECT count(*) FROM outbox") == 1

    # a long-running relay says so, keeps the row, and tries again
    proc = relay("-S", down)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("1 job(s) not sent: no server could take job record")
    assert installed.one("SELECT count(*) FROM outbox") == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0

    sent = gear_sql("relay", installed.site.url, "--schema", installed.schema, "--burst")
    assert sent.stdout == "sent 1 job(s)\n"
    assert burst(job_server.address) == [("record", b"kept")]


def test_the_relay_of_a_schema_without_gear(installed: Installed) -> None:
    done = gear_sql("relay", installed.site.url, "--schema", "nothing_here", "--burst")
    assert done.returncode == 1
    assert (
        done.stderr
        == "gear sql relay: gear's SQL functions are not installed in schema nothing_here\n"
    )
    bad = gear_sql("relay", installed.site.url, "--schema", installed.schema, "-S", "h:p")
    assert bad.returncode == 2 and "bad server list 'h:p'" in bad.stderr


def test_several_relays_share_the_outbox(installed: Installed) -> None:
    installed.conn.execute(
        "SELECT gman_do_background_on_commit('record', 'job-' || n) FROM generate_series(1, 40) n"
    )
    command = [*GEAR, "sql", "relay", installed.site.url, "--schema", installed.schema]
    procs = [
        subprocess.Popen(
            [*command, "--burst", "--batch", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    totals = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        totals.append(int(out.decode().split()[1]))
    assert sum(totals) == 40  # SKIP LOCKED: no row went twice
    assert sorted(d for _f, d in burst(installed.server)) == sorted(
        f"job-{n}".encode() for n in range(1, 41)
    )
