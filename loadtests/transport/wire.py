"""The real-time plumbing every connection shares: the chat users' (``loadtests.transport.realtime``)
and the swarm's lean ones (``loadtests.swarm.connection``). One copy of each mechanism:

- where a connection goes (``ws_url``), and that it goes nowhere else (``NO_WS_REDIRECTS``);
- how long a close may take (``WS_CLOSE_TIMEOUT_S``, ``CLOSE_TIMEOUT_S``), and that it never fails
  (``close_websocket``, ``release_websocket``, ``close_sio``);
- what a frame or event becomes (``ws_item``, ``sio_event``; ``TransportClosed`` when the peer
  closed);
- how a message goes out (``send_text``, ``emit``: a failure is a ``TransportError``);
- python-socketio's options and connect call (``sio_client_options``, ``sio_connect``) and the
  server's reason when it refuses a handshake (``sio_refusal``).

Connect failures are classified by ``loadtests.transport.errors.classify``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import gevent
import socketio
import websocket

from loadtests.dialects.steps import Incoming, Outgoing, RealtimeEndpoint, SioEvent, WsText
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import TransportError

__all__ = [
    "CLOSE_TIMEOUT_S",
    "NO_WS_REDIRECTS",
    "WS_CLOSE_TIMEOUT_S",
    "close_sio",
    "close_websocket",
    "connection_lost",
    "emit",
    "release_websocket",
    "send_text",
    "sio_client_options",
    "sio_connect",
    "sio_event",
    "sio_refusal",
    "ws_item",
    "ws_url",
]

# websocket-client follows up to 3 redirects by default, and python-socketio connects through it:
# a target answering a handshake with a 302 would send the load to any address, unchecked (the
# loopback guard of ``loadtests.targets`` checks a URL once). Every real-time connection passes
# these options (websocket-client's ``connect``, python-socketio's ``websocket_extra_options``), so
# a redirect fails the connect instead. Refused rather than re-checked against the guard:
# websocket-client offers no hook between the redirect and the next request; a redirect on a
# handshake is a misconfigured target that a benchmark should show, not absorb (it would time two
# handshakes as one ``chat.connect``); and plain HTTP refuses them too.
NO_WS_REDIRECTS: dict[str, int] = {"redirect_limit": 0}

CLOSE_TIMEOUT_S = 5.0  # python-socketio's disconnect, which a dead peer can leave blocked
WS_CLOSE_TIMEOUT_S = 1.0  # websocket-client's wait for the peer's close frame


def ws_url(base_url: str, path: str, query: Mapping[str, str]) -> str:
    """The ``ws://`` (``wss://`` for an ``https://`` target) URL of ``path`` on the target."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path}" + (f"?{urlencode(query)}" if query else "")


# -- native WebSocket (websocket-client) ------------------------------------------------------


def ws_item(opcode: int, data: bytes) -> WsText | TransportClosed | None:
    """A received frame as its reader sees it: text, the peer's close (with its code), or ``None``
    for frames that mean nothing in this protocol (binary, and pings websocket-client answers)."""
    if opcode == websocket.ABNF.OPCODE_TEXT:
        return WsText(data.decode("utf-8", "replace"))
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
        return TransportClosed(f"closed by peer with code {code}")
    return None


def connection_lost(error: BaseException) -> TransportClosed:
    return TransportClosed(f"connection lost: {type(error).__name__}")


def send_text(ws: websocket.WebSocket | None, message: Outgoing) -> None:
    if not isinstance(message, WsText):
        raise TypeError("a native WebSocket sends text frames")
    if ws is None:
        raise TransportError("not connected")
    try:
        ws.send(message.text)
    except (OSError, websocket.WebSocketException) as error:
        raise TransportError(f"send failed: {type(error).__name__}") from None


def close_websocket(ws: websocket.WebSocket) -> None:
    """Close on purpose, waiting briefly for the peer's close frame, and release the socket; never
    raises."""
    with contextlib.suppress(Exception):
        ws.close(timeout=WS_CLOSE_TIMEOUT_S)
    release_websocket(ws)


def release_websocket(ws: websocket.WebSocket) -> None:
    """Release the socket at once, with no closing handshake (the peer closed, or is gone)."""
    with contextlib.suppress(Exception):
        ws.shutdown()


# -- Socket.IO (python-socketio's sync client) ------------------------------------------------


def sio_client_options(**websocket_options: Any) -> dict[str, Any]:
    """``socketio.Client`` options every connection uses. Reconnection is off: a drop must be
    measured, not papered over by the library's infinite default (``reconnection_attempts=0``);
    the client and the swarm reconnect explicitly, and time it. No redirect is followed."""
    return {
        "reconnection": False,
        "handle_sigint": False,
        "logger": False,
        "engineio_logger": False,
        "websocket_extra_options": {**websocket_options, **NO_WS_REDIRECTS},
    }


def sio_connect(client: socketio.Client, base_url: str, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
    """Connect over the WebSocket transport only, with the endpoint's handshake ``auth``."""
    client.connect(
        base_url,
        auth=dict(endpoint.auth) if endpoint.auth else None,
        transports=["websocket"],
        socketio_path=endpoint.path.strip("/"),
        wait_timeout=timeout_s,
    )


def sio_refusal(data: Any = None) -> str | None:
    """The server's reason from a ``connect_error``: a server's refusal of the namespace arrives as
    ``{"message": ...}``; anything else is the client library reporting a transport failure (the
    error it raises says what)."""
    if isinstance(data, dict):
        return str(data.get("message") or "no reason given")
    return None


def sio_event(event: str, args: tuple[Any, ...]) -> Incoming:
    """An event as python-socketio's catch-all handler gets it (one argument or several)."""
    return SioEvent(event, args[0] if len(args) == 1 else list(args) or None)


def emit(client: socketio.Client, message: Outgoing) -> None:
    if not isinstance(message, SioEvent):
        raise TypeError("Socket.IO sends events")
    try:
        client.emit(message.event, message.data)
    except socketio.exceptions.SocketIOError as error:
        raise TransportError(f"emit failed: {type(error).__name__}") from None


def close_sio(client: socketio.Client) -> None:
    """Disconnect; never fails, never hangs: python-socketio's disconnect joins its read loop, which a
    dead peer can leave blocked. Bounded (``CLOSE_TIMEOUT_S``), then let go."""
    with contextlib.suppress(Exception), gevent.Timeout(CLOSE_TIMEOUT_S, False):
        client.disconnect()
