"""Everything ``gear serve`` can be told, as one dataclass.

Strategy: the CLI maps its flags 1:1 onto ``ServerConfig`` and calls
``gear.server.run(config)``; embedders and tests build the same object.
Validation happens here, so a bad value is one clear message wherever it
comes from.  Each field's ``#:`` comment is its documentation: the config
file (``gear.server.config_file``) derives its keys, their ``GEAR_SERVE_*``
environment names and ``--print-config``'s comments from the fields, so a
new field needs nothing more than a CLI option of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gear.protocol.constants import DEFAULT_MAX_PACKET
from gear.server.stores import StoreURLError, create_store

DEFAULT_PORT = 4730
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("human", "json")
TIMEOUT_UNITS = ("auto", "ms", "s")
#: the longest --busy-poll (microseconds): past a few hundred it only burns CPU
MAX_BUSY_POLL = 10_000


class ConfigError(ValueError):
    """A setting that cannot be used; the message says which and why."""


class StaleBuildError(RuntimeError):
    """``require_fresh_build`` and a compiled module does not match its source."""


@dataclass
class ServerConfig:
    """Settings of one job server."""

    #: addresses to listen on (IPv4 or IPv6); each gets ``port``
    listen: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    #: TCP port; 0 picks a free one (reported on the start-up line)
    port: int = DEFAULT_PORT
    #: runs a job may have before it fails to its clients; -1 = no limit
    job_retries: int = -1
    #: most workers one new job wakes; 0 = as many as there are runnable jobs
    worker_wakeup: int = 0
    #: job handles become ``<prefix>:<n>``; default ``H:<host>`` (gearmand's format)
    job_handle_prefix: str | None = None
    #: largest packet body accepted, in bytes
    max_packet_size: int = DEFAULT_MAX_PACKET
    #: DEBUG, INFO, WARNING, ERROR or CRITICAL
    log_level: str = "WARNING"
    #: write the log here instead of stderr
    log_file: str | None = None
    #: write the process id here while running
    pid_file: str | None = None
    #: accept the admin ``shutdown`` command
    allow_shutdown: bool = False
    #: honour OPTION_REQ "exceptions" (WORK_EXCEPTION to opted-in clients)
    exceptions: bool = True
    #: where background jobs are kept: ``memory``, ``sqlite:PATH``, ``postgresql://...``
    store: str = "memory"
    #: unit of CAN_DO_TIMEOUT values: ``auto`` (below 1000 seconds, else ms), ``ms`` or ``s``
    can_do_timeout_unit: str = "auto"
    #: refuse to start when a compiled module does not match its source (gear.build)
    require_fresh_build: bool = False
    #: TLS on the whole port: the server's certificate chain (PEM); None = plain TCP
    tls_cert: str | None = None
    #: its private key (PEM); None when it is in ``tls_cert``
    tls_key: str | None = None
    #: CA bundle that client certificates are checked against (and asked for)
    tls_ca: str | None = None
    #: refuse TLS clients without a certificate signed by ``tls_ca``
    tls_require_client_cert: bool = False
    #: seconds a TLS handshake may take before the connection is dropped
    tls_handshake_timeout: float = 10.0
    #: ACL file (TOML, see gear.server.acl); None = mutating admin from loopback only
    acl: str | None = None
    #: most connections open at once (0 = no limit)
    max_connections: int = 0
    #: default queue limit of every function (0 = none; admin ``maxqueue`` overrides)
    max_queue: int = 0
    #: unwritten replies (bytes) above which a peer's requests stop being read
    output_high_water: int = 1024 * 1024
    #: unwritten replies (bytes) above which a peer is dropped
    output_hard_limit: int = 256 * 1024 * 1024
    #: TCP keepalive: idle seconds before the first probe (0 = keepalive off)
    keepalive_idle: int = 60
    #: seconds between probes
    keepalive_interval: int = 10
    #: unanswered probes before the connection is dropped
    keepalive_count: int = 6
    #: microseconds the loop keeps polling, without sleeping, after a turn with input
    #: (0 = sleep at once); see ``gear.server.server.Server.flush``
    busy_poll: int = 50
    #: log lines as ``human`` text or ``json`` objects (one per line, for log shippers)
    log_format: str = "human"
    #: serve Prometheus ``/metrics`` and ``/healthz`` on this HOST:PORT (port 0 picks one)
    metrics: str | None = None
    #: serve the HTTP gateway (gearmand's ``-r http``) on this HOST:PORT (port 0 picks one)
    http: str | None = None

    def validate(self) -> None:
        """Raise ConfigError for the first setting that cannot be used."""
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is outside 0-65535")
        if not self.listen:
            raise ConfigError("nothing to listen on: give at least one --listen address")
        if self.job_retries < -1:
            raise ConfigError("--job-retries takes -1 (no limit), 0 or a positive number")
        if self.worker_wakeup < 0:
            raise ConfigError("--worker-wakeup takes 0 (as needed) or a positive number")
        if self.max_packet_size < 1024:
            raise ConfigError("--max-packet-size must be at least 1024 bytes")
        if self.can_do_timeout_unit not in TIMEOUT_UNITS:
            raise ConfigError(f"--can-do-timeout-unit takes one of {', '.join(TIMEOUT_UNITS)}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"--log-level takes one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"--log-format takes one of {', '.join(LOG_FORMATS)}")
        self._validate_http()
        try:
            create_store(self.store)
        except StoreURLError as exc:
            raise ConfigError(str(exc)) from None
        self._validate_hardening()
        prefix = self.job_handle_prefix
        if prefix is not None and (
            not prefix or len(prefix) > 40 or any(c in prefix for c in "\0 \t\n")
        ):
            raise ConfigError("--job-handle-prefix must be 1-40 characters with no spaces")

    def _validate_hardening(self) -> None:
        """The TLS, access and limit settings (gear.server.tls / acl / limits)."""
        if (self.tls_key or self.tls_ca or self.tls_require_client_cert) and not self.tls_cert:
            raise ConfigError("--tls-key, --tls-ca and --tls-require-client-cert need --tls-cert")
        if self.tls_require_client_cert and not self.tls_ca:
            raise ConfigError("--tls-require-client-cert needs --tls-ca (the clients' CA)")
        if self.tls_handshake_timeout <= 0:
            raise ConfigError("--tls-handshake-timeout must be positive")
        for name in ("max_connections", "max_queue", "keepalive_idle"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} takes 0 (none) or more")
        if not 0 <= self.busy_poll <= MAX_BUSY_POLL:
            raise ConfigError(f"--busy-poll takes 0 (off) to {MAX_BUSY_POLL} microseconds")
        if self.keepalive_interval < 1 or self.keepalive_count < 1:
            raise ConfigError("--keepalive-interval and --keepalive-count must be at least 1")
        if self.output_high_water < 1024:
            raise ConfigError("--output-high-water must be at least 1024 bytes")
        if self.output_hard_limit < max(self.output_high_water, self.max_packet_size):
            raise ConfigError(
                "--output-hard-limit must be at least --output-high-water and --max-packet-size"
            )

    def _validate_http(self) -> None:
        metrics = parse_address(self.metrics, "--metrics") if self.metrics else None
        http = parse_address(self.http, "--http") if self.http else None
        if metrics and http and metrics == http and metrics[1] != 0:
            raise ConfigError("--metrics and --http need different ports")


def parse_address(text: str, option: str = "address") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or a bare ``PORT`` (on 127.0.0.1) as (host, port).

    Raises:
        ConfigError: not one of those forms, or the port is out of range.
    """
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"{option}: write an IPv6 address in brackets, as [::1]:9418")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{option} takes HOST:PORT (port 0-65535), got {text!r}")
    return host, int(port)
