"""What one ``gear bench`` run is asked to do.

Strategy: every knob is one field of a frozen ``BenchConfig``; ``validate``
checks them all at once and raises ``BenchConfigError`` with a one-line
message, so the CLI maps flags onto the dataclass and nothing else.  ``split``
deals the connections and the job count of a run over ``--processes`` parts
so that each part is a smaller ``BenchConfig`` run by the same engine.

A *preset* scenario is another one's traffic at another size (``many`` is
fg with 1,000 clients, one job in flight each, and 100 workers):
``for_scenario`` applies its sizes except where the user set a field
(``explicit``), so ``gear bench many -c 2000`` means what it says.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace

from gear.client.servers import ServerAddress
from gear.errors import GearError

#: the scenarios, in the order ``gear bench`` runs them by default
SCENARIOS: tuple[str, ...] = ("bg", "fg", "echo", "herd")
#: every scenario: the default ones, then those run only when named
ALL_SCENARIOS: tuple[str, ...] = (*SCENARIOS, "many")
#: sizes of the preset scenarios (see the module's docstring)
PRESETS: dict[str, dict[str, int]] = {"many": {"clients": 1000, "workers": 100, "window": 1}}
#: scenarios whose clients wait for each job's WORK_COMPLETE
ROUND_TRIPS: tuple[str, ...] = ("fg", "herd", "many")
#: how a multi-server run's clients pick a job's server: CRC32 of the unique or
#: round-robin over one window per client (as ``gear.client`` does), or a window
#: on each server's connection (``conn``: each server sees what one server would)
SPREADS: tuple[str, ...] = ("unique", "rr", "conn")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4730


class BenchError(GearError):
    """A benchmark run could not be carried out (server lost, timed out …)."""


class BenchConfigError(BenchError):
    """An option of a benchmark run is out of range."""


def parse_address(spec: str) -> tuple[str, int]:
    """``host:port``, ``host``, ``[v6]:port`` or ``:port`` as (host, port).

    Raises:
        BenchConfigError: the port is not a number in 1..65535.
    """
    try:
        address = ServerAddress.parse(spec, DEFAULT_PORT, default_host=DEFAULT_HOST)
    except ValueError as exc:
        raise BenchConfigError(str(exc)) from None
    return address.host, address.port


def default_function() -> str:
    """A function name no other run uses, so leftovers never mix."""
    return f"bench_{os.getpid()}_{secrets.token_hex(3)}"


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """One benchmark run: where, which scenario, how much load, how long."""

    #: server address
    host: str = DEFAULT_HOST
    #: server port
    port: int = DEFAULT_PORT
    #: bg, fg, echo or herd
    scenario: str = "fg"
    #: client connections
    clients: int = 4
    #: worker connections that do the jobs
    workers: int = 4
    #: requests in flight per client connection
    window: int = 16
    #: GRAB_JOBs pipelined per worker (after a wake-up, and in the bg drain)
    grabs: int = 1
    #: jobs (or echoes) to issue in all
    count: int = 100_000
    #: soft limit, seconds: stop issuing after it and finish what is in flight (0 = none)
    duration: float = 3.0
    #: hard limit of one scenario, seconds: abort and report partial counts
    timeout: float = 60.0
    #: bytes of job data / echo payload (>= 16 carries the send time for latency)
    size: int = 64
    #: extra workers asleep on the same function (herd only)
    idle: int = 1000
    #: function name (default: unique per run)
    function: str = field(default_factory=default_function)
    #: generator processes the connections are spread over
    processes: int = 1
    #: pid of the server, to sample its CPU time per phase (0 = unknown)
    server_pid: int = 0
    #: connect over TLS (implied by any tls_* path)
    tls: bool = False
    #: CA bundle of the server's certificate (default $GEARMAN_CA_CERTIFICATE)
    tls_ca: str | None = None
    #: client certificate and key (default $GEARMAN_CLIENT_PEM / _KEY)
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def uses_tls(self) -> bool:
        """Whether the connections are TLS."""
        return bool(self.tls or self.tls_ca or self.tls_cert or self.tls_key)

    #: more servers' pids (a multi-server run): their CPU time is summed with ``server_pid``'s
    more_pids: tuple[int, ...] = ()
    #: every server of a multi-server run, (host, port) each; () = ``host``:``port`` alone
    servers: tuple[tuple[str, int], ...] = ()
    #: a multi-server run's choice of server per job (see ``SPREADS``)
    spread: str = "unique"
    #: fields the user set: a preset scenario leaves them alone
    explicit: frozenset[str] = frozenset()

    def validate(self) -> None:
        """Check every field.

        Raises:
            BenchConfigError: the first field out of range, as one line.
        """
        if self.scenario not in ALL_SCENARIOS:
            raise BenchConfigError(f"unknown scenario {self.scenario!r}; known: {ALL_SCENARIOS}")
        if self.spread not in SPREADS:
            raise BenchConfigError(f"unknown spread {self.spread!r}; known: {SPREADS}")
        for name in ("clients", "workers", "window", "grabs", "count", "processes"):
            if getattr(self, name) < 1:
                raise BenchConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("size", "idle", "server_pid"):
            if getattr(self, name) < 0:
                raise BenchConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if any(pid <= 0 for pid in self.more_pids):
            raise BenchConfigError("server pids must be positive")
        if self.duration < 0 or self.timeout <= 0:
            raise BenchConfigError("duration must be >= 0 and timeout > 0")
        if not self.function or any(c in self.function for c in "\0\n "):
            raise BenchConfigError("function name must be non-empty, without NUL, space or newline")
        for _, port in self.addresses:
            if not 0 < port < 65536:
                raise BenchConfigError(f"port must be in 1..65535, got {port}")
        if self.processes > self.clients + self.workers + self.idle:
            raise BenchConfigError("more processes than connections to spread over them")

    def for_scenario(self, name: str) -> BenchConfig:
        """This run's config for scenario ``name``, its preset sizes applied."""
        preset = PRESETS.get(name, {})

        def size(field: str) -> int:
            mine: int = getattr(self, field)
            return mine if field in self.explicit else preset.get(field, mine)

        return replace(
            self,
            scenario=name,
            clients=size("clients"),
            workers=size("workers"),
            window=size("window"),
        )

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """The servers to load, in order (one unless ``servers`` names several)."""
        return self.servers or ((self.host, self.port),)

    @property
    def round_trips(self) -> bool:
        """Whether the clients wait for each job's WORK_COMPLETE (fg, herd, many)."""
        return self.scenario in ROUND_TRIPS

    @property
    def uses_workers(self) -> bool:
        """Whether the scenario opens worker connections."""
        return self.scenario != "echo"

    @property
    def idle_workers(self) -> int:
        """Sleeping extra workers this scenario opens."""
        return self.idle if self.scenario == "herd" else 0


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def split(config: BenchConfig) -> list[BenchConfig]:
    """One config per process, dealing out connections and the job count.

    The job count follows the clients: a part with no client issues nothing.
    """
    parts = config.processes
    clients = [_share(config.clients, parts, i) for i in range(parts)]
    counts = [config.count * c // config.clients for c in clients]
    counts[0] += config.count - sum(counts)
    return [
        replace(
            config,
            clients=clients[i],
            workers=_share(config.workers, parts, i),
            idle=_share(config.idle_workers, parts, i),
            count=counts[i],
            processes=1,
        )
        for i in range(parts)
    ]
