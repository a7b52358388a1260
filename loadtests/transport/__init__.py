"""I/O for the dialects' steps: HTTP (geventhttpclient via Locust's FastHttpSession) and the two
real-time protocols (native WebSocket, Socket.IO). No timing, no judging here.

    base       the interfaces (``HttpSender``, ``RealtimeConnection``, ``RealtimeFactory``,
               ``TransportClosed``): light, for the client, the swarm and tests' fakes
    errors     ``TransportError`` → ``ConnectFailed`` and ``classify``: one reading of a failure
    http       ``HttpTransport``
    realtime   the chat users' connections (``open_realtime``)
    wire       the real-time plumbing the chat users' and the swarm's connections share

The names below are imported lazily, from the module that owns each: importing the package (or
``errors``) imports neither Locust nor a socket library.
"""

from __future__ import annotations

from loadtests.lazy import lazy_surface

__all__ = [
    "CLOSE_TIMEOUT_S",
    "FAILURE_KINDS",
    "NO_WS_REDIRECTS",
    "WS_CLOSE_TIMEOUT_S",
    "ConnectFailed",
    "FailureKind",
    "HttpSender",
    "HttpTransport",
    "RealtimeConnection",
    "RealtimeFactory",
    "SocketIOConnection",
    "TransportClosed",
    "TransportError",
    "WebSocketConnection",
    "classify",
    "open_realtime",
    "ws_url",
]

EXPORTS: dict[str, tuple[str, ...]] = {
    "base": ("HttpSender", "RealtimeConnection", "RealtimeFactory", "TransportClosed"),
    "errors": ("FAILURE_KINDS", "ConnectFailed", "FailureKind", "TransportError", "classify"),
    "http": ("HttpTransport",),
    "realtime": ("SocketIOConnection", "WebSocketConnection", "open_realtime"),
    "wire": ("CLOSE_TIMEOUT_S", "NO_WS_REDIRECTS", "WS_CLOSE_TIMEOUT_S", "ws_url"),
}

__getattr__, __dir__ = lazy_surface(__name__, EXPORTS)
