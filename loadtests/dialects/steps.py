"""The values and steps of the sans-IO protocol layer (frozen dataclasses, no I/O).

Values are what the dialects produce and the client hands back to them (tokens, chat and agent
references, files to upload). Steps describe I/O for the transports: an ``HttpRequest`` to send
and the ``HttpReply`` that came back, or an ``Exchange`` on the real-time connection (a message
to send, and the event type to wait for). ``Kind`` names the three wire protocols a sample is
recorded under.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loadtests.dialects.events import StreamEvent

__all__ = [
    "MB",
    "AgentRef",
    "AuthSession",
    "ChatRef",
    "CollectionRef",
    "Credentials",
    "Exchange",
    "HttpReply",
    "HttpRequest",
    "Incoming",
    "Kind",
    "Outgoing",
    "RealtimeEndpoint",
    "SioEvent",
    "Step",
    "Upload",
    "WsText",
    "agent_body",
]

Kind = Literal["http", "ws", "sio"]
MB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Values the dialects produce and the client hands back to them.


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthSession:
    """Tokens of one logged-in simulated user. ``expires_at`` comes from the token's ``exp`` claim
    (``None``: unknown, the client falls back to the configured lifetime)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class ChatRef:
    chat_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class CollectionRef:
    collection_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AgentRef:
    agent_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to send as multipart field ``file`` (contents never logged)."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str


# ---------------------------------------------------------------------------------------------
# Steps: descriptions of I/O for the transports.


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP call. ``name`` is the semantic metric name (``chat.history``), never the path."""

    name: str
    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    authenticated: bool = True
    upload: Upload | None = None  # sent as multipart field "file", with ``form`` as the other fields
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True, slots=True)
class WsText:
    """A native WebSocket text frame (blue)."""

    text: str


@dataclass(frozen=True, slots=True)
class SioEvent:
    """A Socket.IO event, outgoing (emit) or incoming (green)."""

    event: str
    data: Any = None


Outgoing = WsText | SioEvent
Incoming = WsText | SioEvent


@dataclass(frozen=True, slots=True)
class RealtimeEndpoint:
    """Where and how to open the real-time connection. ``query`` and ``auth`` may carry the token:
    transports must never log them."""

    kind: Kind
    path: str
    query: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth: Mapping[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Exchange:
    """Send ``send`` on the real-time connection; if ``until`` is set, wait for that event type.
    ``name`` is the metric the wait is recorded under."""

    send: Outgoing
    until: type[StreamEvent] | None = None
    name: str = ""


Step = HttpRequest | Exchange


def agent_body(name: str) -> dict[str, Any]:
    """An agent as both colors accept it (CONTRACT.md, "Agents")."""
    return {
        "name": name,
        "description": "created by loadbench",
        "systemPrompt": "You are a concise teaching assistant.",
        "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "collectionNames": [],
        "temperature": 0.7,
        "maxTokens": 4000,
        "isPublic": False,
        "tags": ["loadbench"],
    }
