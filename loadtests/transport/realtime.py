"""Real-time connections of the chat users: one per simulated user, read by a background reader
into a bounded queue.

Both transports hand the client the same things: ``Incoming`` messages in arrival order and a
``TransportClosed`` marker when the peer goes away. Under Locust the background reader is a
greenlet (gevent patches ``threading``); in plain Python it is a daemon thread. A failed ``open``
raises ``ConnectFailed`` (a ``TransportError``), classified as the swarm's are; the plumbing both
share is ``loadtests.transport.wire``.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import socketio
import websocket

from loadtests.dialects.steps import Incoming, Outgoing, RealtimeEndpoint
from loadtests.transport import wire
from loadtests.transport.base import RealtimeConnection, RealtimeFactory, TransportClosed
from loadtests.transport.errors import classify

# RealtimeConnection, RealtimeFactory and TransportClosed (``base``) are re-exported: the interface
# these connections implement.
__all__ = [
    "INBOX_LIMIT",
    "RealtimeConnection",
    "RealtimeFactory",
    "SocketIOConnection",
    "TransportClosed",
    "WebSocketConnection",
    "open_realtime",
]

INBOX_LIMIT = 2_000  # messages nobody waits for (other users' typing, late chunks) are dropped past this


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


class WebSocketConnection:
    """Native WebSocket (blue) with websocket-client: synchronous, so gevent makes it cooperative."""

    def __init__(self, base_url: str, endpoint: RealtimeEndpoint) -> None:
        self._url = wire.ws_url(base_url, endpoint.path, endpoint.query)
        self._ws: websocket.WebSocket | None = None
        self._inbox = _Inbox()
        self._reader: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._ws is not None and self._ws.connected

    def open(self, timeout_s: float) -> None:
        try:
            self._ws = websocket.create_connection(
                self._url, timeout=timeout_s, enable_multithread=True, **wire.NO_WS_REDIRECTS
            )
        except (OSError, websocket.WebSocketException) as error:
            raise classify(error) from None
        self._ws.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, args=(self._ws,), daemon=True)
        self._reader.start()

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        try:
            while True:
                item = wire.ws_item(*ws.recv_data())
                if item is not None:
                    self._inbox.put(item)
                    if isinstance(item, TransportClosed):
                        return
        except (OSError, websocket.WebSocketException) as error:
            self._inbox.put(wire.connection_lost(error) if ws.connected else TransportClosed("closed"))

    def send(self, message: Outgoing) -> None:
        wire.send_text(self._ws, message)

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        return self._inbox.get(timeout_s)

    def drain(self) -> int:
        return self._inbox.drain()

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            wire.close_websocket(ws)


class SocketIOConnection:
    """Socket.IO (green) with python-socketio's sync client, WebSocket transport only, no
    reconnection (``wire.sio_client_options``): the client reconnects explicitly, and that is timed.
    """

    def __init__(self, base_url: str, endpoint: RealtimeEndpoint) -> None:
        self._base_url = base_url
        self._endpoint = endpoint
        self._inbox = _Inbox()
        self._client = socketio.Client(**wire.sio_client_options())
        self._client.on("*", self._on_event)
        self._client.on("disconnect", self._on_disconnect)
        self._client.on("connect_error", self._on_connect_error)
        self._refusal: str | None = None  # the server's reason for refusing the handshake

    def _on_connect_error(self, data: Any = None) -> None:
        self._refusal = wire.sio_refusal(data)

    def _on_event(self, event: str, *args: Any) -> None:
        self._inbox.put(wire.sio_event(event, args))

    def _on_disconnect(self, reason: Any = None) -> None:
        self._inbox.put(TransportClosed(f"disconnected: {reason or 'unknown'}"))

    @property
    def is_open(self) -> bool:
        return bool(self._client.connected)

    def open(self, timeout_s: float) -> None:
        self._refusal = None
        try:
            wire.sio_connect(self._client, self._base_url, self._endpoint, timeout_s)
        except socketio.exceptions.ConnectionError as error:
            raise classify(error, server_refusal=self._refusal) from None

    def send(self, message: Outgoing) -> None:
        wire.emit(self._client, message)

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        return self._inbox.get(timeout_s)

    def drain(self) -> int:
        return self._inbox.drain()

    def close(self) -> None:
        wire.close_sio(self._client)


def open_realtime(base_url: str, endpoint: RealtimeEndpoint) -> RealtimeConnection:
    """A not-yet-open connection of the endpoint's kind."""
    if endpoint.kind == "ws":
        return WebSocketConnection(base_url, endpoint)
    if endpoint.kind == "sio":
        return SocketIOConnection(base_url, endpoint)
    raise ValueError(f"no real-time transport for kind {endpoint.kind!r}")
