"""Real-time connections: one per simulated user, read by a background reader into a bounded queue.

Both transports hand the client the same things: ``Incoming`` messages in arrival order and a
``TransportClosed`` marker when the peer goes away. Under Locust the background reader is a
greenlet (gevent patches ``threading``); in plain Python it is a daemon thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import gevent
import socketio
import websocket

from loadtests.dialects.base import Incoming, Outgoing, RealtimeEndpoint, SioEvent, WsText
from loadtests.targets import NO_WS_REDIRECTS
from loadtests.transport.errors import TransportError

CLOSE_TIMEOUT_S = 5.0
INBOX_LIMIT = 2_000  # messages nobody waits for (other users' typing, late chunks) are dropped past this


@dataclass(frozen=True, slots=True)
class TransportClosed:
    reason: str


class RealtimeConnection(Protocol):
    def open(self, timeout_s: float) -> None: ...
    def send(self, message: Outgoing) -> None: ...
    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None: ...
    def drain(self) -> int: ...
    def close(self) -> None: ...
    @property
    def is_open(self) -> bool: ...


class _Inbox:
    def __init__(self) -> None:
        self._queue: queue.Queue[Incoming | TransportClosed] = queue.Queue(maxsize=INBOX_LIMIT)
        self.dropped = 0

    def put(self, item: Incoming | TransportClosed) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def get(self, timeout_s: float) -> Incoming | TransportClosed | None:
        try:
            return self._queue.get(timeout=max(timeout_s, 0.0)) if timeout_s > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def drain(self) -> int:
        count = 0
        while self.get(0) is not None:
            count += 1
        return count


def _ws_url(base_url: str, path: str, query: Mapping[str, str]) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{scheme}://{parts.netloc}{path}{suffix}"


class WebSocketConnection:
    """Native WebSocket (blue) with websocket-client: synchronous, so gevent makes it cooperative."""

    def __init__(self, base_url: str, endpoint: RealtimeEndpoint) -> None:
        self._url = _ws_url(base_url, endpoint.path, endpoint.query)
        self._ws: websocket.WebSocket | None = None
        self._inbox = _Inbox()
        self._reader: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._ws is not None and self._ws.connected

    def open(self, timeout_s: float) -> None:
        try:
            self._ws = websocket.create_connection(
                self._url, timeout=timeout_s, enable_multithread=True, **NO_WS_REDIRECTS
            )
        except websocket.WebSocketBadStatusException as error:
            raise TransportError(f"handshake refused with HTTP {error.status_code}", refused=True) from None
        except (OSError, websocket.WebSocketException) as error:
            timed_out = isinstance(error, TimeoutError | websocket.WebSocketTimeoutException)
            raise TransportError(f"connect failed: {type(error).__name__}", timed_out=timed_out) from None
        self._ws.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, args=(self._ws,), daemon=True)
        self._reader.start()

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        try:
            while True:
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._inbox.put(WsText(data.decode("utf-8", "replace")))
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    self._inbox.put(TransportClosed(f"closed by peer with code {code}"))
                    return
        except (OSError, websocket.WebSocketException) as error:
            if ws.connected:
                self._inbox.put(TransportClosed(f"connection lost: {type(error).__name__}"))
            else:
                self._inbox.put(TransportClosed("closed"))

    def send(self, message: Outgoing) -> None:
        if not isinstance(message, WsText):
            raise TypeError("a native WebSocket sends text frames")
        if self._ws is None:
            raise TransportError("not connected")
        try:
            self._ws.send(message.text)
        except (OSError, websocket.WebSocketException) as error:
            raise TransportError(f"send failed: {type(error).__name__}") from None

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        return self._inbox.get(timeout_s)

    def drain(self) -> int:
        return self._inbox.drain()

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.close(timeout=1)


class SocketIOConnection:
    """Socket.IO (green) with python-socketio's sync client, WebSocket transport only.

    Reconnection is off: a drop must be measured, not papered over by the library's infinite
    default (``reconnection_attempts=0``). The client reconnects explicitly, and that is timed.
    """

    def __init__(self, base_url: str, endpoint: RealtimeEndpoint) -> None:
        self._base_url = base_url
        self._endpoint = endpoint
        self._inbox = _Inbox()
        self._client = socketio.Client(
            reconnection=False,
            handle_sigint=False,
            logger=False,
            engineio_logger=False,
            websocket_extra_options=dict(NO_WS_REDIRECTS),
        )
        self._client.on("*", self._on_event)
        self._client.on("disconnect", self._on_disconnect)
        self._client.on("connect_error", self._on_connect_error)
        self._refusal: str | None = None  # the server's reason for refusing the handshake

    def _on_connect_error(self, data: Any = None) -> None:
        # A server's refusal of the namespace arrives as {"message": ...}; a bare string is the
        # client library reporting a transport failure (connection refused, bad status).
        if isinstance(data, dict):
            self._refusal = str(data.get("message") or "no reason given")[:200]

    def _on_event(self, event: str, *args: Any) -> None:
        self._inbox.put(SioEvent(event, args[0] if len(args) == 1 else list(args) or None))

    def _on_disconnect(self, reason: Any = None) -> None:
        self._inbox.put(TransportClosed(f"disconnected: {reason or 'unknown'}"))

    @property
    def is_open(self) -> bool:
        return bool(self._client.connected)

    def open(self, timeout_s: float) -> None:
        try:
            self._client.connect(
                self._base_url,
                auth=dict(self._endpoint.auth) if self._endpoint.auth else None,
                transports=["websocket"],
                socketio_path=self._endpoint.path.strip("/"),
                wait_timeout=timeout_s,
            )
        except socketio.exceptions.ConnectionError as error:
            if self._refusal is not None:
                # The server's words ("Authentication failed"), not the library's ("One or more
                # namespaces failed to connect").
                raise TransportError(f"handshake refused: {self._refusal}", refused=True) from None
            raise TransportError(f"connect failed: {error}", timed_out="timed out" in str(error).lower()) from None

    def send(self, message: Outgoing) -> None:
        if not isinstance(message, SioEvent):
            raise TypeError("Socket.IO sends events")
        try:
            self._client.emit(message.event, message.data)
        except socketio.exceptions.SocketIOError as error:
            raise TransportError(f"emit failed: {error}") from None

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        return self._inbox.get(timeout_s)

    def drain(self) -> int:
        return self._inbox.drain()

    def close(self) -> None:
        # Closing a half-open client must never fail a task, nor hang it: python-socketio's
        # disconnect joins its read loop, which a dead peer can leave blocked. Bounded, then let go.
        with contextlib.suppress(Exception), gevent.Timeout(CLOSE_TIMEOUT_S, False):
            self._client.disconnect()


def open_realtime(base_url: str, endpoint: RealtimeEndpoint) -> WebSocketConnection | SocketIOConnection:
    """A not-yet-open connection of the endpoint's kind."""
    if endpoint.kind == "ws":
        return WebSocketConnection(base_url, endpoint)
    if endpoint.kind == "sio":
        return SocketIOConnection(base_url, endpoint)
    raise ValueError(f"no real-time transport for kind {endpoint.kind!r}")
