"""``gear sql relay``: send the jobs ``gman_do_background_on_commit`` queued.

Why an outbox table and LISTEN/NOTIFY rather than a deferred constraint
trigger that submits at COMMIT: a deferred trigger still runs *before* the
commit is durable and visible, so a fast worker could look for a row it
cannot see yet, and a commit failing after it (a later deferred check, a
serialization failure) would leave a job for a row that never was; and
while the job server is down every such commit would fail.  Here the
transaction only inserts a row and calls ``pg_notify``; PostgreSQL delivers
the notification only when that transaction commits (and folds equal ones
of one transaction into one), a rolled-back row never existed, and jobs
wait in the table, durably, while the job server is away.  The price is
this small process.

Strategy: LISTEN first, then drain, then wait for a notification and drain
again (so a commit between the drain and the wait is never missed); after
a failure the wait ends after a backoff too, to try again.  ``burst``
drains once and returns.  A drain is one transaction per batch: select the
oldest rows ``FOR UPDATE SKIP LOCKED`` (so several relays share the work),
submit them all at once as background jobs on ``AsyncClient``, delete the
rows the job server accepted, commit.  Rows whose submit failed stay for
the next try.  A crash between a submit and the commit sends that row once
more at the next start, with the same unique key (the row's), so a job
server that still holds the first copy coalesces them: at least once, as
Gearman promises.  Servers come from the schema's ``servers`` table per
function (as ``gman_do`` reads them, without session settings), or from
``--server`` for every function.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from gear import AsyncClient, GearError

from . import schema as sql
from .admin import SQLAdminError, check_schema
from .plpython import DEFAULT_TIMEOUT, PRIORITIES, parse_seconds

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

#: seconds to wait for the database connection
CONNECT_TIMEOUT = 10
SELECT_BATCH = (
    "SELECT id, function, data, unique_key, priority FROM {s}.outbox "
    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)
DELETE_SENT = "DELETE FROM {s}.outbox WHERE id = ANY(%s)"


class RelayError(GearError):
    """The relay cannot go on (burst mode: some jobs could not be sent)."""


@dataclass
class RelayConfig:
    """Everything ``gear sql relay`` was told."""

    #: libpq connection string or URL ('' for the PG* environment)
    url: str
    schema: str = "gear"
    #: job servers for every function (None: the schema's servers table)
    servers: str | None = None
    #: rows per transaction
    batch: int = 100
    #: drain the outbox once and return
    burst: bool = False
    #: longest wait, in seconds, before trying again after a failure
    backoff_max: float = 5.0


@dataclass
class _Settings:
    servers: dict[str, str]
    timeout: float

    def servers_of(self, function: str) -> str | None:
        return self.servers.get(function) or self.servers.get("")


class Relay:
    """Moves jobs from a schema's outbox to the job servers.

    Args:
        config: what to relay, and how.
        report: called with one line per event worth a log line.
    """

    def __init__(self, config: RelayConfig, report: Callable[[str], None] = print) -> None:
        check_schema(config.schema)
        self.config = config
        self.report = report
        #: jobs sent so far
        self.sent = 0
        self._clients: dict[str | None, AsyncClient] = {}
        self._stopping = asyncio.Event()
        self._ready = False

    def stop(self) -> None:
        """Finish the current batch, then return from ``run``."""
        self._stopping.set()

    async def run(self) -> int:
        """Relay until stopped (or, in burst mode, once); return the jobs sent.

        Raises:
            RelayError: burst mode and some jobs were not sent, or the database failed.
            SQLAdminError: the schema is not installed, or psycopg is missing.
        """
        delay = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    await self._session()
                    break
                except RelayError as exc:
                    if self.config.burst:
                        raise
                    delay = min(max(delay * 2, 0.1), self.config.backoff_max)
                    self.report(f"{exc}; trying again in {delay:g} s")
                    await self._pause(delay)
        finally:
            for client in self._clients.values():
                await client.close()
        return self.sent

    # ---------------------------------------------------------------- loop --
    async def _session(self) -> None:
        """One pair of database connections: LISTEN, then drain and wait until stopped."""
        async with self._connect(autocommit=True) as listener, self._connect() as conn:
            await self._db(listener.execute(f"LISTEN {sql.channel(self.config.schema)}"))
            if not self._ready and not self.config.burst:
                self._ready = True
                self.report(
                    f"relaying {self.config.schema}.outbox, "
                    f"listening on {sql.channel(self.config.schema)}"
                )
            failures = 0
            while not self._stopping.is_set():
                failed = await self._drain(conn)
                if self.config.burst:
                    if failed:
                        raise RelayError(failed)
                    return
                failures = failures + 1 if failed else 0
                if failed:
                    self.report(failed)
                delay = min(0.1 * 2**failures, self.config.backoff_max) if failures else None
                await self._wait(listener, delay)

    async def _drain(self, conn: psycopg.AsyncConnection[Any]) -> str:
        """Send every row (batch by batch); '' or why some could not be sent."""
        while True:
            sent, rows, failure = await self._db(self._batch(conn))
            self.sent += sent
            if sent and not self.config.burst:
                self.report(f"sent {sent} job(s)")
            if failure or rows < self.config.batch:
                return failure

    async def _batch(self, conn: psycopg.AsyncConnection[Any]) -> tuple[int, int, str]:
        """One transaction: (jobs sent, rows seen, why some were not sent)."""
        s = self.config.schema
        async with conn.transaction():
            cursor = await conn.execute(SELECT_BATCH.format(s=s), (self.config.batch,))
            rows = await cursor.fetchall()
            if not rows:
                return 0, 0, ""
            settings = await self._settings(conn)
            results = await asyncio.gather(
                *(self._submit(row, settings) for row in rows), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, GearError):
                    raise result
            sent = [row[0] for row, result in zip(rows, results, strict=True) if result is None]
            if sent:
                await conn.execute(DELETE_SENT.format(s=s), (sent,))
        errors = [r for r in results if isinstance(r, GearError)]
        failure = f"{len(errors)} job(s) not sent: {errors[0]}" if errors else ""
        return len(sent), len(rows), failure

    async def _submit(self, row: tuple[Any, ...], settings: _Settings) -> None:
        _id, function, data, unique_key, priority = row
        servers = self.config.servers or settings.servers_of(function)
        client = self._clients.get(servers)
        if client is None:
            try:
                client = self._clients[servers] = AsyncClient(servers)
            except ValueError as exc:
                raise RelayError(f"bad server list for {function!r}: {exc}") from None
        await client.submit_background(
            function,
            bytes(data),
            unique=unique_key,
            priority=PRIORITIES[priority],
            timeout=settings.timeout,
        )

    async def _settings(self, conn: psycopg.AsyncConnection[Any]) -> _Settings:
        s = self.config.schema
        servers = await (
            await conn.execute(f"SELECT function, servers FROM {s}.servers")
        ).fetchall()
        cursor = await conn.execute(f"SELECT value FROM {s}.settings WHERE name = 'timeout'")
        row = await cursor.fetchone()
        timeout = (parse_seconds(row[0]) if row else None) or DEFAULT_TIMEOUT
        return _Settings(dict(servers), timeout)

    # ----------------------------------------------------------- waiting --
    async def _wait(self, listener: psycopg.AsyncConnection[Any], timeout: float | None) -> None:
        """Until a notification arrives, ``timeout`` passes, or ``stop()``."""

        async def notified() -> None:
            async for _ in listener.notifies(timeout=timeout, stop_after=1):
                pass

        await self._first(notified())

    async def _pause(self, delay: float) -> None:
        await self._first(asyncio.sleep(delay))

    async def _first(self, coro: Any) -> None:
        """Run ``coro`` until it ends or ``stop()`` is called."""
        waiting = asyncio.ensure_future(coro)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopping):
                task.cancel()
            await asyncio.gather(waiting, stopping, return_exceptions=True)
        if waiting.done() and not waiting.cancelled() and waiting.exception() is not None:
            await self._db(waiting)

    # ---------------------------------------------------------- database --
    @contextlib.asynccontextmanager
    async def _connect(
        self, autocommit: bool = False
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            import psycopg
        except ImportError:
            raise SQLAdminError(
                "gear sql needs psycopg 3: pip install 'gearkit[postgres]'"
            ) from None
        conn = await self._db(
            psycopg.AsyncConnection.connect(
                self.config.url,
                autocommit=autocommit,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="gear sql relay",
            )
        )
        async with conn:
            yield conn

    async def _db(self, awaitable: Awaitable[T]) -> T:
        """Await a database call; its errors become RelayError (or SQLAdminError: not installed)."""
        import psycopg

        try:
            return await awaitable
        except psycopg.errors.UndefinedTable:
            raise SQLAdminError(
                f"gear's SQL functions are not installed in schema {self.config.schema}"
            ) from None
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RelayError(f"database error: {first}") from None
