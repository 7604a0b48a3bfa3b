"""The SQLSTATEs of the ``gman_*`` functions, and the gear error each stands for.

Strategy: Gearman failures get codes of their own in class ``YG``.  The SQL
standard leaves classes that begin with I-Z to implementations, and
PostgreSQL uses none that begins with Y, so no client mistakes them for its
own (a code in class 08 would make connection pools drop a healthy
database connection).  Bad arguments keep PostgreSQL's standard class 22
codes.  docs/sql.md carries this table.
"""

from __future__ import annotations

from gear.errors import (
    ConnectError,
    GearError,
    JobException,
    JobFailed,
    JobTimeout,
    ProtocolError,
    ServerError,
    ServerUnavailable,
)

#: the database server's Python cannot import gear (see ``--pythonpath``)
NOT_INSTALLED = "YG000"
#: no job server could be reached
UNREACHABLE = "YG001"
#: the job was not created, or not done, within the timeout
TIMEOUT = "YG002"
#: the worker failed the job (WORK_FAIL)
JOB_FAILED = "YG003"
#: the worker raised an exception (WORK_EXCEPTION); the message is its text
JOB_EXCEPTION = "YG004"
#: the job server refused the request (an ERROR packet: queue full …)
REFUSED = "YG005"
#: the job server broke the Gearman protocol
PROTOCOL = "YG006"
#: any other gear error
OTHER = "YG009"
#: a bad argument: server list, timeout, priority, empty function name
INVALID_PARAMETER = "22023"
#: a NULL function name (or server list)
NULL_VALUE = "22004"
#: a result that is not valid UTF-8 text (use the bytea variant)
NOT_TEXT = "22021"
#: ``gman_sum``: a job's result is not an integer
NOT_INTEGER = "22P02"

#: (gear error class, SQLSTATE), most specific first
_BY_ERROR: tuple[tuple[type[GearError], str], ...] = (
    (JobTimeout, TIMEOUT),
    (JobFailed, JOB_FAILED),
    (JobException, JOB_EXCEPTION),
    (ServerError, REFUSED),
    (ConnectError, UNREACHABLE),
    (ServerUnavailable, UNREACHABLE),
    (ProtocolError, PROTOCOL),
)


def for_error(exc: GearError) -> str:
    """The SQLSTATE a gear error is reported with."""
    for cls, code in _BY_ERROR:
        if isinstance(exc, cls):
            return code
    return OTHER
