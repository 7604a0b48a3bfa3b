"""The asyncio shell around the broker: sockets, timers, signals, shutdown.

Strategy: one ``GearProtocol`` per connection.  ``data_received`` feeds
the decoder and hands every complete packet (or admin line) to the broker;
a worker's replies to its own requests are written at once while the loop
is not busy, and ``flush``, at the end of the loop turn, writes every other
session's pending bytes with one ``transport.write`` each.  After a turn
with input the loop polls for ``--busy-poll`` microseconds before it
sleeps.  Nothing here knows the protocol's rules; the broker
does.  The earliest broker deadline (epoch jobs, job timeouts) is kept armed
as a single ``call_later`` handle.  uvloop is used when it is installed.

Shutdown: SIGTERM/SIGINT stop listening, write what is pending and return
at once; SIGUSR1 or admin ``shutdown graceful`` stop listening and return
when no job is running.  SIGHUP runs ``handle_sighup`` (reopen the log
file, reload the ACL).  ``--metrics`` and ``--http`` listeners (``gear.server.httpd``) run in
the same loop; systemd hears READY=1 once everything listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any, Final, cast

from gear import build
from gear._version import __version__
from gear.errors import RemoteProtocolError
from gear.protocol.constants import PacketType
from gear.protocol.framing import AdminLine, Decoder, EchoReplies
from gear.protocol.packets import Frame, response
from gear.server import limits, logs, systemd
from gear.server.acl import Access, AclError, Identity, is_loopback
from gear.server.admin import AdminCommands, ServerInfo
from gear.server.broker import Broker, BrokerConfig
from gear.server.config import ConfigError, ServerConfig, StaleBuildError
from gear.server.handles import default_handle_prefix, first_handle_id
from gear.server.memory import MemoryReleaser
from gear.server.state import Session
from gear.server.stores import create_store
from gear.server.tls import TlsAcceptor, peer_subject, server_context

log = logging.getLogger("gear.server")

#: what ``version`` answers: C gearmand's level first, for tools that parse it
VERSION_STRING: Final = f"1.1.20-gear-{__version__}"
#: how often the jobs held are compared with their high point (gear.server.memory)
MEMORY_POLL_SECONDS: Final = 1.0


#: how often unanswered NOOPs are taken back (``Broker.expire_wakeups``)
WAKEUP_TICK_SECONDS: Final = 0.5
#: True when this module runs compiled: packets then go through
#: ``Broker.handle_packet``, whose direct calls are C calls (fg +8%); the
#: interpreter does better with one call through the handler table (one
#: Python call less per packet: bg_submit -4% the other way)
_COMPILED: Final = not __file__.endswith(".py")
#: workers a loop turn answers at once (``GearProtocol.data_received``);
#: past that the turn is a busy one and the rest wait for its ``flush``
ANSWER_AT_ONCE: Final = 8


class GearProtocol:
    """One accepted connection: asyncio's Protocol interface, without its base class.

    asyncio and uvloop call these methods by name; not inheriting from
    ``asyncio.Protocol`` lets mypyc compile this as a native class, whose
    attribute reads are field loads instead of dictionary look-ups.
    """

    __slots__ = ("admin", "broker", "decoder", "server", "session", "transport", "write")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.broker = server.broker
        self.admin = server.admin
        self.decoder = Decoder(max_packet_size=server.config.max_packet_size)
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.write: Callable[[bytes], None] = _not_connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.write = transport.write  # type: ignore[attr-defined]  # a bound method: no look-up per write
        server = self.server
        config = server.config
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
        limits.tune_socket(
            sock, config.keepalive_idle, config.keepalive_interval, config.keepalive_count
        )
        transport.set_write_buffer_limits(high=config.output_high_water)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else str(peer or "-")
        self.session = session = self.broker.connect(host, fd)
        session.io = transport
        cn, dn = peer_subject(transport) if server.tls is not None else ("", "")
        session.grants = server.access.grants_for(Identity(host, cn, dn))
        server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closing:
            return
        decoder = self.decoder
        decoder.feed(data)
        broker = self.broker
        handlers = broker.handlers
        try:
            while True:
                events, error = decoder.read_events()
                for event in events:
                    cls = event.__class__
                    if cls is EchoReplies:
                        broker.send(session, cast(EchoReplies, event).data)
                    elif cls is AdminLine:
                        line = cast(AdminLine, event).line
                        broker.send(session, self.admin.run(session, line))
                    elif _COMPILED:
                        broker.handle_packet(session, cast(Frame, event))
                    else:
                        frame = cast(Frame, event)
                        handlers[frame[0]](session, frame)
                if error is None:
                    break
                self._protocol_error(session, error)
                if error.fatal:
                    break
        except Exception:
            log.exception("internal error on connection from %s; closing it", session.peer)
            self.broker.send(session, _error("SERVER_ERROR", "internal error, see server log"))
            session.closing = True
        # A worker's replies (JOB_ASSIGN, NO_JOB, NOOP) go out now, while
        # the loop turn is a quiet one: the worker is idle until they come
        # (fg and bg_drain doubled).  Every other reply waits for the flush
        # that ends the turn, to go out in one write per peer with what
        # other connections' input produced for it: a worker with other
        # jobs to run (pipelined GRAB_JOBs; bg_drain8 in the interpreter
        # +15%), clients (a pipelined submitter's next window then comes
        # in larger reads: bg_submit -4% to -8% when its JOB_CREATEDs went
        # out at once), and everyone once the turn has served
        # ANSWER_AT_ONCE connections or the turn before it did (a busy
        # server gains more from gathering writes than from a few answers
        # sooner; herd +8%).
        out = session.out
        server = self.server
        server.batch_reads += 1
        server.reads += 1
        if (
            out
            and session.abilities
            and server.batch_reads <= server.answer_limit
            and len(session.running) <= 1
        ):
            if not session.closing:
                self.write(out[0] if len(out) == 1 else b"".join(out))
                out.clear()
        if not server.flush_pending:
            server.flush_pending = True
            server.call_soon(server.flush)

    def _protocol_error(self, session: Session, exc: RemoteProtocolError) -> None:
        log.info("protocol error from %s: %s", session.peer, exc)
        self.broker.send(session, _error(exc.error_code, str(exc)))
        if exc.fatal:
            session.closing = True

    def eof_received(self) -> bool | None:
        """The peer shut its side: let the transport close ours."""
        return None

    def pause_writing(self) -> None:
        """The peer reads slower than we write: stop reading its requests."""
        self.server.paused.add(self)
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.server.paused.discard(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.session is not None:
            log.info("connection from %s lost: %s", self.session.peer, exc)
        self.server.connections.discard(self)
        self.server.paused.discard(self)
        if self.session is not None:
            self.session.io = None
            self.broker.disconnect(self.session)
            self.server.flush()


def _not_connected(data: bytes) -> None:
    raise RuntimeError("write before connection_made")


def _error(code: str, text: str) -> bytes:
    return response(PacketType.ERROR, code.encode(), text.encode())


class Server:
    """A Gearman job server bound to one port on one or more addresses."""

    def __init__(
        self,
        config: ServerConfig,
        clock: Callable[[], float] = time.time,
        *,
        own_process: bool = False,
    ) -> None:
        config.validate()
        self.config = config
        prefix = (
            config.job_handle_prefix.encode() + b":"
            if config.job_handle_prefix
            else default_handle_prefix()
        )
        self.broker = Broker(
            BrokerConfig(
                handle_prefix=prefix,
                job_retries=config.job_retries,
                worker_wakeup=config.worker_wakeup,
                exceptions=config.exceptions,
                first_handle_id=first_handle_id(),
                timeout_unit=config.can_do_timeout_unit,
                max_queue=config.max_queue,
            ),
            clock,
            create_store(config.store),
        )
        self.info = ServerInfo(
            pid=os.getpid(),
            version=VERSION_STRING,
            log_level=config.log_level.upper(),
            allow_shutdown=config.allow_shutdown,
            request_shutdown=self.request_shutdown,
        )
        self.admin = AdminCommands(self.broker, self.info)
        self.connections: set[GearProtocol] = set()
        #: connections whose peer stopped reading (see gear.server.limits)
        self.paused: set[GearProtocol] = set()
        self.guard = limits.ConnectionGuard(config.max_connections)
        #: the access rules in force (gear.server.acl); SIGHUP reloads them
        self.tls = server_context(config)
        try:
            self.access = Access(config.acl)
        except AclError as exc:
            raise ConfigError(str(exc)) from None
        #: the bound port (known after ``start``)
        self.port = 0
        #: the bound (host, port) pairs
        self.addresses: list[tuple[str, int]] = []
        self.started = asyncio.Event()
        self._servers: list[asyncio.Server] = []
        self._done = asyncio.Event()
        self._graceful = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._clock = clock
        #: a flush is scheduled for the end of this loop iteration
        self.flush_pending = False
        #: connections served since the last flush (``ANSWER_AT_ONCE``)
        self.batch_reads = 0
        #: how many of them are answered at once in this turn (0 after a busy one)
        self.answer_limit = ANSWER_AT_ONCE
        #: connections served since start (``_poll`` sees whether input came)
        self.reads = 0
        #: ``--busy-poll`` in seconds, and whether the loop is polling now
        self.busy_poll = config.busy_poll / 1e6
        self.polling = False
        self._poll_seen = 0
        self._poll_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        #: the loop's ``call_soon``, looked up once (``start``)
        self.call_soon: Callable[..., object] = _no_loop
        #: garbage collection policy (polled by a slow timer); freezing is
        #: for a process the server owns (``run`` sets ``own_process``)
        self.memory = MemoryReleaser(freeze=own_process)
        self._memory_timer: asyncio.TimerHandle | None = None
        self._wakeup_timer: asyncio.TimerHandle | None = None
        #: the ``--metrics`` / ``--http`` listeners (``gear.server.httpd.HttpService``)
        self.http_services: list[Any] = []

    async def start(self) -> None:
        """Bind every listen address; ``port`` 0 picks one free port for all."""
        self._loop = asyncio.get_running_loop()
        self.call_soon = self._loop.call_soon
        store = self.broker.store
        await store.open(self.flush)
        for record in await store.load():
            self.broker.restore(record)
        loop = asyncio.get_running_loop()
        port = self.config.port
        for host in self.config.listen:
            srv = await loop.create_server(
                self._new_connection, host=host, port=port, reuse_address=True, backlog=1024
            )
            self._servers.append(srv)
            # uvloop's Server.sockets is a list, not the tuple typeshed says
            sockets: Sequence[socket.socket] = getattr(srv, "sockets")  # noqa: B009
            for sock in sockets:
                addr = sock.getsockname()
                self.addresses.append((addr[0], addr[1]))
            port = self.addresses[0][1]
        self.port = port
        if self.config.metrics or self.config.http:
            from gear.server.httpd import start_services  # aiohttp loads only when asked

            try:
                self.http_services = await start_services(self)
            except OSError:  # its port is taken: do not keep the Gearman ports either
                for srv in self._servers:
                    srv.close()
                raise
        self._memory_timer = self.loop.call_later(MEMORY_POLL_SECONDS, self._poll_memory)
        self._wakeup_timer = self.loop.call_later(WAKEUP_TICK_SECONDS, self._expire_wakeups)
        self.started.set()

    def _new_connection(self) -> asyncio.Protocol:
        # the interface, not the class: cast
        guard = self.guard
        if guard.limit and guard.full(len(self.connections)):
            return cast(asyncio.Protocol, limits.Refuser(guard))
        if self.tls is None:
            return cast(asyncio.Protocol, GearProtocol(self))
        guard.handshaking += 1
        acceptor = TlsAcceptor(
            GearProtocol(self), self.tls, self.config.tls_handshake_timeout, self._handshake_done
        )
        return cast(asyncio.Protocol, acceptor)

    def _handshake_done(self, acceptor: TlsAcceptor) -> None:
        self.guard.handshaking -= 1

    def on_sighup(self) -> None:
        """SIGHUP: re-read what can change without a restart (the ACL file).

        Live connections get the new rules at once; a file that does not
        load leaves the old ones in force.
        """
        if not self.access.reload():
            return
        for session in self.broker.sessions.values():
            grants = session.grants
            if grants is not None:
                session.grants = self.access.grants_for(grants.who)

    async def serve_forever(self) -> None:
        """Serve until ``request_shutdown`` (or a signal) ends it."""
        await self._done.wait()
        await self._close()

    def request_shutdown(self, graceful: bool) -> None:
        """Stop listening; end now, or once no job is running (graceful)."""
        for srv in self._servers:
            srv.close()
        if graceful:
            self._graceful = True
            log.warning(
                "graceful shutdown: waiting for %d running jobs", self.broker.running_count()
            )
            self._check_graceful()
        else:
            self._done.set()

    def _check_graceful(self) -> None:
        if self._graceful and self.broker.running_count() == 0:
            self._done.set()

    def _poll_memory(self) -> None:
        self.memory.poll(len(self.broker.jobs))
        self._memory_timer = self.loop.call_later(MEMORY_POLL_SECONDS, self._poll_memory)

    def _expire_wakeups(self) -> None:
        self.broker.expire_wakeups()
        self.flush()
        self._wakeup_timer = self.loop.call_later(WAKEUP_TICK_SECONDS, self._expire_wakeups)

    async def _close(self) -> None:
        for timer in (self._memory_timer, self._wakeup_timer):
            if timer is not None:
                timer.cancel()
        for srv in self._servers:
            srv.close()
        for service in self.http_services:
            await service.close()
        self.flush()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        if self._timer is not None:
            self._timer.cancel()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 0.5)
        await self.broker.store.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs in (set by ``start``)."""
        assert self._loop is not None, "start() first"
        return self._loop

    def flush(self) -> None:
        """Write every session's pending bytes, re-arm the timer, and start polling.

        Polling (``--busy-poll``): once a turn has served input, the loop
        keeps turning without sleeping for ``busy_poll`` microseconds more
        (``_poll`` re-schedules itself, so the loop's next wait for I/O has
        a zero timeout), and the window starts again whenever input came
        in.  A peer's next request, usually microseconds away under load,
        is then found by a poll instead of waking the process: on this
        machine the wake-up was 40% of the server's CPU per bg_drain job
        (the scheduler's switch and IPI paths in ``perf``), and bg_drain
        went from 55k to 117k jobs/s.  An idle server polls for one window
        and sleeps.  A poll that finds nothing yields the core
        (``sched_yield``) to whatever waits for it: two servers on 2 cores
        with the generator lost 20-35% to each other's polling without it
        (bench/scaleout.py); with it they do as well as without polling or
        better (2 servers: bg drain +15%, fg +8%).
        """
        self.flush_pending = False
        # a turn past ANSWER_AT_ONCE connections: the next one answers none at once
        self.answer_limit = 0 if self.batch_reads > ANSWER_AT_ONCE else ANSWER_AT_ONCE
        self.batch_reads = 0
        if self.busy_poll and not self.polling:
            self.polling = True
            self._poll_seen = self.reads
            self._poll_until = perf_counter() + self.busy_poll
            self.call_soon(self._poll)
        broker = self.broker
        dirty = broker.dirty
        if dirty:
            for session in dirty:
                out = session.out
                transport = session.io
                if transport is not None and out:
                    transport.write(out[0] if len(out) == 1 else b"".join(out))
                    if session.closing:
                        transport.close()
                out.clear()
            dirty.clear()
        if self.paused:
            limits.drop_overflowing(self.paused, self.config.output_hard_limit)
        if broker.has_timers:
            deadline = broker.next_deadline()
            if deadline is not None and deadline != self._timer_at:
                self._arm(deadline)
        if self._graceful:
            self._check_graceful()

    def _poll(self) -> None:
        """One turn of ``--busy-poll``: go on while input keeps coming in the window."""
        now = perf_counter()
        if self.reads != self._poll_seen:
            self._poll_seen = self.reads
            self._poll_until = now + self.busy_poll
        elif now >= self._poll_until:
            self.polling = False
            return
        else:
            # polite polling: a process waiting for this core (a peer, another
            # server on a machine with fewer cores than servers) runs first
            os.sched_yield()
        self.call_soon(self._poll)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        delay = max(0.0, deadline - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.broker.on_timer()
        self.flush()


def _no_loop(*args: object) -> object:
    raise RuntimeError("start() first")


def handle_sighup(server: Server) -> None:
    """SIGHUP: everything that is re-read without a restart.

    The log file is reopened (logrotate moved it) and the ACL file is
    reloaded (``Server.on_sighup``; a bad file keeps the old rules).
    """
    reopened = logs.reopen_log_files()
    log.info("SIGHUP: %d log file(s) reopened", reopened)
    server.on_sighup()


def _install_signals(server: Server) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_shutdown, False)
    loop.add_signal_handler(signal.SIGUSR1, server.request_shutdown, True)
    loop.add_signal_handler(signal.SIGHUP, handle_sighup, server)


async def serve(
    config: ServerConfig,
    announce: Callable[[Server], None] | None = None,
    *,
    own_process: bool = False,
) -> None:
    """Run a server until it is told to stop (``own_process``: it owns the interpreter)."""
    server = Server(config, own_process=own_process)
    await server.start()
    _install_signals(server)
    if announce is not None:
        announce(server)
    if own_process:
        systemd.notify("READY=1", f"STATUS=listening on port {server.port}")
    await server.serve_forever()
    if own_process:
        systemd.notify("STOPPING=1")


def _announce(server: Server) -> None:
    where = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in server.addresses)
    hint = ""
    if all(h in ("127.0.0.1", "::1") for h, _ in server.addresses):
        hint = "; to listen on all interfaces use --listen 0.0.0.0 --listen ::"
    line = f"gear serve {__version__} ({build.describe()}): listening on {where}"
    print(f"{line} (pid {os.getpid()}){hint}", flush=True)
    for service in server.http_services:
        what = "metrics on" if service.name == "metrics" else "HTTP gateway on"
        print(f"gear serve: {what} {service.url}/", flush=True)
    log.info(
        "started (%s), handles %s", build.describe(), server.broker.config.handle_prefix.decode()
    )
    tls = "TLS" if server.tls is not None else "plain TCP (no --tls-cert)"
    # a warning only where it matters: a network address without TLS or without an ACL
    exposed = not all(is_loopback(h) for h, _ in server.addresses)
    open_door = server.tls is None or server.access.path is None
    level = logging.WARNING if exposed and open_door else logging.INFO
    log.log(level, "%s; %s", tls, server.access.describe())


def _tune_gc() -> None:
    """Collect garbage cycles rarely: the server holds up to millions of jobs.

    Every job is a GC-tracked object; with the default thresholds (700
    allocations) the collector walks the young jobs again and again while a
    queue fills, about 20% of a submit's cost (measured).  Jobs and sessions
    break their reference cycles explicitly when they end, so collections
    have little to find; the start-up objects are frozen out of them, and
    ``gear.server.memory`` freezes survivors once a second after that.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _check_build(config: ServerConfig) -> None:
    """Refuse (``require_fresh_build``) or warn when compiled code does not match its source."""
    stale = build.stale_modules()
    if stale and config.require_fresh_build:
        raise StaleBuildError(build.stale_message(stale))
    if stale:
        log.warning("STALE BUILD: %s", build.stale_message(stale))


def run(config: ServerConfig) -> int:
    """The entry point of ``gear serve``: serve until a signal, return an exit code.

    Raises:
        StaleBuildError: ``config.require_fresh_build`` and the build is stale.
    """
    logs.configure(config.log_level, config.log_file, config.log_format)
    _check_build(config)
    _tune_gc()
    if config.pid_file:
        with open(config.pid_file, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    try:
        _run_loop(serve(config, _announce, own_process=True))
    finally:
        if config.pid_file:
            with contextlib.suppress(OSError):
                os.unlink(config.pid_file)
    return 0


def _run_loop(coro: object) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
        return
    uvloop.run(coro)  # type: ignore[arg-type]
