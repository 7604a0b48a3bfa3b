"""The asyncio client and worker library, with blocking facades.

``AsyncClient``/``Client`` submit jobs; ``AsyncWorker``/``Worker`` run them;
``Job`` is a submitted job; the event classes are what jobs stream.
"""

from gear.client.client import AsyncClient
from gear.client.events import (
    JobData,
    JobInfo,
    JobOutcome,
    JobProgress,
    JobStatus,
    JobUpdate,
    JobWarning,
    ServerLoss,
)
from gear.client.job import Job
from gear.client.servers import ServerAddress, parse_servers, resolve_servers
from gear.client.sync import BlockingJob, Client, Worker
from gear.client.worker import AsyncWorker
from gear.client.worker_job import WorkerJob
from gear.protocol.constants import Priority

__all__ = [
    "AsyncClient",
    "AsyncWorker",
    "BlockingJob",
    "Client",
    "Job",
    "JobData",
    "JobInfo",
    "JobOutcome",
    "JobProgress",
    "JobStatus",
    "JobUpdate",
    "JobWarning",
    "Priority",
    "ServerAddress",
    "ServerLoss",
    "Worker",
    "WorkerJob",
    "parse_servers",
    "resolve_servers",
]
