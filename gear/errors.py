"""The one exception tree of gear.

::

    GearError
    ├── ProtocolError                 bytes that break the Gearman protocol
    │   ├── LocalProtocolError        we were about to send something invalid
    │   └── RemoteProtocolError       the peer sent something invalid
    │       └── PacketTooLarge        a header announced more than the size limit
    ├── ConnectError                  a server could not be reached
    ├── ServerUnavailable             no server of a list could take the request
    ├── ServerError                   the server refused a request with an ERROR packet
    ├── AdminError                    an admin command got ``ERR CODE text``
    │                                 (defined in gear.protocol.admin_replies)
    ├── JobTimeout                    a job did not finish within its time
    ├── JobFailed                     the worker answered WORK_FAIL
    └── JobException                  the worker answered WORK_EXCEPTION

``RemoteProtocolError`` carries ``error_code``: the Gearman ERROR code a server
answers with (``INVALID_MAGIC``, ``ARGUMENT_TOO_LARGE`` …) and ``fatal``: whether
the connection cannot go on after it.
"""

from __future__ import annotations


class GearError(Exception):
    """Base of every error gear raises on purpose."""


class ProtocolError(GearError):
    """Bytes that break the Gearman protocol."""

    def __init__(self, message: str, *, error_code: str = "INVALID_COMMAND", fatal: bool = False):
        super().__init__(message)
        #: the ERROR packet code a server answers this with
        self.error_code = error_code
        #: True when the byte stream cannot be resynchronised
        self.fatal = fatal


class LocalProtocolError(ProtocolError):
    """We were asked to build or send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes the protocol does not allow."""


class PacketTooLarge(RemoteProtocolError):
    """A packet header announced a body larger than the configured limit."""


class ConnectError(GearError):
    """A server could not be reached or the connection broke."""


class ServerUnavailable(GearError):
    """No server of the list could take the request."""


class ServerError(GearError):
    """The server answered a request with an ERROR packet (queue full, unique too long …)."""

    def __init__(self, code: str, text: str):
        super().__init__(f"{code}: {text}" if text else code)
        #: the ERROR packet's code, e.g. ``QUEUE_ERROR``
        self.code = code
        #: the ERROR packet's text
        self.text = text


class JobTimeout(GearError):
    """A job did not finish within the time given."""


class JobFailed(GearError):
    """The worker reported WORK_FAIL (or the server failed the job)."""


class JobException(GearError):
    """The worker reported WORK_EXCEPTION; ``args[0]`` is its data as bytes."""
