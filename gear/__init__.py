"""gear: a Gearman job server, client and worker library, and tools.

The public API is re-exported here; front ends (``gear.cli``, ``gear.tui``)
and the server (``gear.server``) are imported only when used.

Strategy: the library names are resolved lazily (PEP 562 ``__getattr__``),
so ``import gear.protocol`` or ``gear --help`` does not pull in asyncio and
the client library; ``from gear import AsyncClient`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gear._version import __version__

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    "AdminClient": "gear.client.admin",
    "AsyncAdminClient": "gear.client.admin",
    "AsyncClient": "gear.client.client",
    "AsyncWorker": "gear.client.worker",
    "BlockingJob": "gear.client.sync",
    "Client": "gear.client.sync",
    "Worker": "gear.client.sync",
    "Job": "gear.client.job",
    "WorkerJob": "gear.client.worker_job",
    "JobData": "gear.client.events",
    "JobInfo": "gear.client.events",
    "JobProgress": "gear.client.events",
    "JobStatus": "gear.client.events",
    "JobWarning": "gear.client.events",
    "ServerAddress": "gear.client.servers",
    "Priority": "gear.protocol.constants",
    "GearError": "gear.errors",
    "ConnectError": "gear.errors",
    "ServerUnavailable": "gear.errors",
    "ServerError": "gear.errors",
    "JobTimeout": "gear.errors",
    "JobFailed": "gear.errors",
    "JobException": "gear.errors",
    "client_context": "gear.client.tls",
}

if TYPE_CHECKING:
    from gear.client.admin import AdminClient, AsyncAdminClient
    from gear.client.client import AsyncClient
    from gear.client.events import JobData, JobInfo, JobProgress, JobStatus, JobWarning
    from gear.client.job import Job
    from gear.client.servers import ServerAddress
    from gear.client.sync import BlockingJob, Client, Worker
    from gear.client.tls import client_context
    from gear.client.worker import AsyncWorker
    from gear.client.worker_job import WorkerJob
    from gear.errors import (
        ConnectError,
        GearError,
        JobException,
        JobFailed,
        JobTimeout,
        ServerError,
        ServerUnavailable,
    )
    from gear.protocol.constants import Priority


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gear' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AdminClient",
    "AsyncAdminClient",
    "AsyncClient",
    "AsyncWorker",
    "BlockingJob",
    "Client",
    "ConnectError",
    "GearError",
    "Job",
    "JobData",
    "JobException",
    "JobFailed",
    "JobInfo",
    "JobProgress",
    "JobStatus",
    "JobTimeout",
    "JobWarning",
    "Priority",
    "ServerAddress",
    "ServerError",
    "ServerUnavailable",
    "Worker",
    "WorkerJob",
    "__version__",
    "client_context",
]
