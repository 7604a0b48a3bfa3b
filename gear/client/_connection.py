"""Many flows over one server connection, without I/O.

Strategy: ``FlowConnection`` is the sans-I/O middle between bytes and flows.
``start`` runs a flow up to its first ``RECEIVE``, collecting the packets it
sends (``data_to_send``); ``receive_data`` decodes replies and routes each:

* WORK_* packets go to every flow that announced that handle (two submits
  with the same unique share one handle on a connection);
* NOOP, ERROR JOB_NOT_FOUND (the server's answer to a late WORK_* from
  a worker) and ERROR PERMISSION_DENIED "may not register F" (gear's answer
  to a CAN_DO its ACL refuses) go to ``on_unsolicited``;
* everything else is the direct reply to the oldest flow waiting for one —
  a Gearman server answers requests on a connection in order.

Each flow reports to a ``FlowSink``: ``event`` for the values it yields,
then exactly one of ``done`` (its return value) or ``error``.  ``close``
fails every flow still running, e.g. when the socket is lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from gear.errors import GearError, RemoteProtocolError
from gear.protocol.constants import DEFAULT_MAX_PACKET, REQ, RES, PacketType
from gear.protocol.framing import NEED_DATA, Decoder
from gear.protocol.packets import Packet

from ._flows import RECEIVE, WORK_TYPES, Flow
from .events import JobCreated

P = PacketType


def _answers_no_request(error: Packet) -> bool:
    """ERRORs that answer no request: a late WORK_* packet's, a refused CAN_DO's."""
    code, text = error.args[0], error.args[1] if len(error.args) > 1 else b""
    return code == b"JOB_NOT_FOUND" or (
        code == b"PERMISSION_DENIED" and text.startswith(b"may not register ")
    )


class FlowSink(Protocol):
    """Receives what one flow produces."""

    def event(self, event: object) -> None:
        """A value the flow yielded (JobCreated, JobData …)."""

    def done(self, result: Any) -> None:
        """The flow returned ``result``."""

    def error(self, exc: BaseException) -> None:
        """The flow failed, or its connection was lost."""


class _Active:
    __slots__ = ("flow", "handle", "sink")

    def __init__(self, flow: Flow[Any], sink: FlowSink) -> None:
        self.flow = flow
        self.sink = sink
        self.handle: bytes | None = None


class FlowConnection:
    """Routes one connection's packets to the flows running on it."""

    def __init__(
        self,
        *,
        max_packet_size: int = DEFAULT_MAX_PACKET,
        on_unsolicited: Callable[[Packet], None] | None = None,
    ) -> None:
        #: called with NOOP and JOB_NOT_FOUND errors, which answer no flow
        self.on_unsolicited = on_unsolicited
        self._decoder = Decoder(expect=RES, allow_text=False, max_packet_size=max_packet_size)
        self._waiting: deque[_Active] = deque()
        self._by_handle: dict[bytes, list[_Active]] = {}
        self._out: list[bytes] = []
        self._closed = False

    @property
    def pending(self) -> int:
        """Flows still running on this connection."""
        return len(self._waiting) + sum(len(v) for v in self._by_handle.values())

    def start(self, flow: Flow[Any], sink: FlowSink) -> None:
        """Run ``flow`` up to the point where it waits for a reply."""
        if self._closed:
            flow.close()
            raise RemoteProtocolError("connection is closed")
        self._advance(_Active(flow, sink), None)

    def send(self, packet: Packet) -> None:
        """Queue a packet that expects no reply (CAN_DO, WORK_* …)."""
        self._out.append(packet.encode(REQ))

    def data_to_send(self) -> bytes:
        """The bytes queued for the server, emptying the queue."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes) -> None:
        """Decode ``data`` and hand every complete packet to its flow.

        Raises:
            RemoteProtocolError: the server broke the protocol; the caller
                should ``close`` the connection.
        """
        self._decoder.feed(data)
        while True:
            event = self._decoder.next_event()
            if event is NEED_DATA:
                return
            assert isinstance(event, Packet)
            self._route(event)

    def close(self, exc: BaseException) -> None:
        """Fail every running flow with ``exc``; no flow may start after."""
        self._closed = True
        actives = list(self._waiting)
        for group in self._by_handle.values():
            actives.extend(a for a in group if a not in actives)
        self._waiting.clear()
        self._by_handle.clear()
        for active in actives:
            active.flow.close()
            active.sink.error(exc)

    # ------------------------------------------------------------------ --
    def _route(self, packet: Packet) -> None:
        ptype = packet.type
        if ptype in WORK_TYPES:
            for active in list(self._by_handle.get(packet.args[0], ())):
                self._advance(active, packet)
        elif ptype == P.NOOP or (ptype == P.ERROR and _answers_no_request(packet)):
            if self.on_unsolicited is not None:
                self.on_unsolicited(packet)
        elif self._waiting:
            self._advance(self._waiting.popleft(), packet)
        else:
            raise RemoteProtocolError(f"unexpected {PacketType(ptype).name} from the server")

    def _advance(self, active: _Active, value: Packet | None) -> None:
        """Resume a flow with ``value`` and run it until it waits or ends."""
        try:
            step = active.flow.send(value)
            while step is not RECEIVE:
                if isinstance(step, Packet):
                    self._out.append(step.encode(REQ))
                else:
                    if isinstance(step, JobCreated):
                        active.handle = step.handle
                        self._by_handle.setdefault(step.handle, []).append(active)
                    active.sink.event(step)
                step = active.flow.send(None)
        except StopIteration as stop:
            self._forget(active)
            active.sink.done(stop.value)
            return
        except GearError as exc:
            self._forget(active)
            active.sink.error(exc)
            return
        if active.handle is None:
            self._waiting.append(active)

    def _forget(self, active: _Active) -> None:
        if active.handle is None:
            return
        group = self._by_handle.get(active.handle)
        if group is not None and active in group:
            group.remove(active)
            if not group:
                del self._by_handle[active.handle]
