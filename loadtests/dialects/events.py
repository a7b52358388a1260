"""What a dialect decodes from the real-time connection: typed stream events (frozen dataclasses).

``Dialect.decode`` turns an ``Incoming`` message (a blue text frame, a green Socket.IO event) into
one of these, or ``None`` when the message carries nothing the suite times or acts on. Both colors
speak this one vocabulary, so the client and the swarm read events without knowing the color.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Accepted",
    "Chunk",
    "Connected",
    "Disconnected",
    "End",
    "Joined",
    "Pong",
    "Refused",
    "RoomCreated",
    "RoomMessage",
    "StreamEvent",
    "StreamFailed",
    "StreamSubscribed",
]


class StreamEvent:
    """Base of everything ``Dialect.decode`` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Connected(StreamEvent):
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class RoomCreated(StreamEvent):
    chat_id: str


@dataclass(frozen=True, slots=True)
class Joined(StreamEvent):
    chat_id: str


@dataclass(frozen=True, slots=True)
class Accepted(StreamEvent):
    chat_id: str = ""


@dataclass(frozen=True, slots=True)
class Chunk(StreamEvent):
    text: str


@dataclass(frozen=True, slots=True)
class End(StreamEvent):
    pass


@dataclass(frozen=True, slots=True)
class StreamFailed(StreamEvent):
    message: str


@dataclass(frozen=True, slots=True)
class Refused(StreamFailed):
    """The server refused a real-time call and said why (green: Nest's ``exception`` event from a
    guard, e.g. "Forbidden resource" once the handshake token has expired). ``event`` is the call
    it refused, when the server names it."""

    event: str = ""


@dataclass(frozen=True, slots=True)
class Pong(StreamEvent):
    """``token`` echoes the ping's payload where the protocol allows it (green), so the round trip
    is correlated; blue's raw ``pong`` frame carries none."""

    token: str = ""


@dataclass(frozen=True, slots=True)
class Disconnected(StreamEvent):
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StreamSubscribed(StreamEvent):
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class RoomMessage(StreamEvent):
    """A user message relayed to the members of a chat room (the swarm's fan-out)."""

    text: str
    chat_id: str = ""
