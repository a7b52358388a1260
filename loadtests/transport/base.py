"""What the transports are to their users: the interfaces, light on import (no Locust, no socket
library), so that the client, the swarm and tests can name them without importing an I/O stack.

    HttpSender           ``send(request, headers) -> HttpReply`` (``HttpTransport``, or a fake)
    RealtimeConnection   one real-time connection of a chat user (``realtime``, or a fake)
    RealtimeFactory      ``(base_url, endpoint) -> RealtimeConnection`` (``open_realtime``)
    TransportClosed      what a reader gets instead of a message once the peer went away

Failures are ``loadtests.transport.errors.TransportError`` (connects: ``ConnectFailed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from loadtests.dialects.steps import HttpReply, HttpRequest, Incoming, Outgoing, RealtimeEndpoint

__all__ = ["HttpSender", "RealtimeConnection", "RealtimeFactory", "TransportClosed"]


@dataclass(frozen=True, slots=True)
class TransportClosed:
    """The peer went away (or the connection was never open): what a reader gets instead of a message."""

    reason: str


class HttpSender(Protocol):
    def send(self, request: HttpRequest, headers: Mapping[str, str]) -> HttpReply:
        """Send one request and read the whole body; raise ``TransportError`` when no response came."""
        ...


class RealtimeConnection(Protocol):
    """Messages come out in arrival order, then a ``TransportClosed`` when the peer goes away;
    ``receive`` returns ``None`` when ``timeout_s`` passed with nothing."""

    def open(self, timeout_s: float) -> None:
        """Connect; raise ``ConnectFailed`` (a ``TransportError``) when it ends without a connection."""
        ...

    def send(self, message: Outgoing) -> None: ...
    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None: ...
    def drain(self) -> int: ...
    def close(self) -> None: ...
    @property
    def is_open(self) -> bool: ...


RealtimeFactory = Callable[[str, RealtimeEndpoint], RealtimeConnection]
"""``(base_url, endpoint) -> a connection not yet open``: ``open_realtime``, or a test's fake."""
