"""One swarm connection per color, kept lean: thousands live in one process (≤ 50 KB each).

Both give the session the same surface: ``open`` (raises ``ConnectFailed`` with a classified
reason), ``send``, ``receive(timeout)`` returning an ``Incoming`` message, a ``TransportClosed``
marker when the peer went away, or ``None`` when the time ran out, and ``close``.

- blue, ``WsSwarmConnection``: websocket-client read by the swarm user's own greenlet. No reader
  greenlet, no queue: the user's wait *is* the socket read, so a drop is seen the moment it happens.
- green, ``SioSwarmConnection``: python-socketio's sync ``Client`` (under Locust's gevent its read
  and write loops are greenlets), WebSocket transport only, ``reconnection=False`` (a drop is
  measured; the session reconnects explicitly, bounded, counted). Its handlers append to a small
  list and wake the user's greenlet, and run in the read loop (no thread per message).

Both run only under gevent (Locust monkey-patches the standard library before any of this runs).
The mechanisms they share with the chat users' connections (URLs, redirect refusal, close
timeouts, frame decoding, the ``TransportError``/``ConnectFailed`` tree and its classification)
live in ``loadtests.transport``; what is here is only what keeps a swarm connection lean.
"""

from __future__ import annotations

from typing import Any, Protocol

import engineio
import gevent
import gevent.event
import socketio
import websocket

from loadtests.dialects.steps import Incoming, Kind, Outgoing, RealtimeEndpoint
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import ConnectFailed, FailureKind, classify
from loadtests.transport.wire import (
    NO_WS_REDIRECTS,
    close_sio,
    close_websocket,
    connection_lost,
    emit,
    release_websocket,
    send_text,
    sio_client_options,
    sio_connect,
    sio_event,
    sio_refusal,
    ws_item,
    ws_url,
)

# ConnectFailed, FailureKind and classify are re-exported: what a swarm connection raises, and
# the kinds its counters (``loadtests.swarm.gauge``) count.
__all__ = [
    "INBOX_LIMIT",
    "ConnectFailed",
    "FailureKind",
    "SioSwarmConnection",
    "SwarmConnection",
    "WsSwarmConnection",
    "classify",
    "new_connection",
]

INBOX_LIMIT = 256  # green: events nobody reads (another member's typing…) are dropped past this


class SwarmConnection(Protocol):
    kind: Kind

    def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
        """Connect; raise ``ConnectFailed`` (classified) when it ends without a connection."""
        ...

    def send(self, message: Outgoing) -> None: ...
    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None: ...
    def close(self) -> None: ...


class WsSwarmConnection:
    """Native WebSocket (blue), read only by its owner's greenlet."""

    __slots__ = ("_base_url", "_ws")
    kind: Kind = "ws"

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._ws: websocket.WebSocket | None = None

    def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
        # One greenlet does all I/O on this socket: no locks (enable_multithread=False); frames
        # are ASCII JSON written by the server, so UTF-8 validation is work for nothing.
        ws = websocket.WebSocket(enable_multithread=False, skip_utf8_validation=True)
        try:
            ws.connect(ws_url(self._base_url, endpoint.path, endpoint.query), timeout=timeout_s, **NO_WS_REDIRECTS)
        except Exception as error:
            release_websocket(ws)
            raise classify(error) from None
        self._ws = ws

    def send(self, message: Outgoing) -> None:
        send_text(self._ws, message)

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        ws = self._ws
        if ws is None:
            return TransportClosed("not connected")
        ws.settimeout(max(timeout_s, 0.001))
        try:
            item = ws_item(*ws.recv_data())  # answers the server's pings itself
        except (websocket.WebSocketTimeoutException, TimeoutError):
            return None
        except (OSError, websocket.WebSocketException) as error:
            self._ws = None
            release_websocket(ws)
            return connection_lost(error)
        if isinstance(item, TransportClosed):  # the peer's close frame (answered by websocket-client)
            self._ws = None
            release_websocket(ws)
        return item

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            close_websocket(ws)


class _InlineEngineIO(engineio.Client):
    """python-engineio's sync client, dispatching each inbound message in its read loop.

    The stock client starts a new thread (under gevent, a greenlet plus a ``threading.Thread``
    object and its locks) for every message, so that a handler may block. The swarm's handlers
    never block (they append to a list and set an event), and at 10,000 connections that thread
    per pong was most of the generator's CPU and the garbage behind its longest collections."""

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("run_async", None)
        return super()._trigger_event(event, *args, **kwargs)


class _SwarmSioClient(socketio.Client):
    def _engineio_client_class(self) -> type[engineio.Client]:  # python-socketio's hook for its engine.io client
        return _InlineEngineIO


class SioSwarmConnection:
    """Socket.IO (green) with python-socketio's sync ``Client``, reused across reconnects: one
    client object per swarm user for the whole run (a replaced client that ``gc.freeze()`` moved
    out of the collector's sight would never be freed, since the client holds reference cycles)."""

    __slots__ = ("_base_url", "_client", "_closing", "_inbox", "_refusal", "_wake")
    kind: Kind = "sio"

    def __init__(self, base_url: str, *, request_timeout_s: float) -> None:
        self._base_url = base_url
        self._inbox: list[Incoming | TransportClosed] = []
        self._wake = gevent.event.Event()
        self._closing = False
        self._refusal: str | None = None  # the server's reason for refusing the handshake
        # Socket.IO frames are JSON the server wrote; websocket-client would validate their UTF-8 in
        # pure Python, byte by byte, for every message. request_timeout: engine.io's connect timeout.
        client = _SwarmSioClient(request_timeout=request_timeout_s, **sio_client_options(skip_utf8_validation=True))
        client.on("*", self._on_event)
        client.on("disconnect", self._on_disconnect)
        client.on("connect_error", self._on_connect_error)
        self._client = client

    def _put(self, item: Incoming | TransportClosed) -> None:
        if len(self._inbox) < INBOX_LIMIT or isinstance(item, TransportClosed):
            self._inbox.append(item)
            self._wake.set()

    def _on_event(self, event: str, *args: Any) -> None:
        self._put(sio_event(event, args))

    def _on_disconnect(self, reason: Any = None) -> None:
        if not self._closing:
            self._put(TransportClosed(f"disconnected: {reason or 'unknown'}"))

    def _on_connect_error(self, data: Any = None) -> None:
        self._refusal = sio_refusal(data)

    def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
        self._closing = False
        self._refusal = None
        self._inbox.clear()
        try:
            sio_connect(self._client, self._base_url, endpoint, timeout_s)
        except Exception as error:
            raise classify(error, server_refusal=self._refusal) from None

    def send(self, message: Outgoing) -> None:
        emit(self._client, message)

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        if not self._inbox:
            self._wake.clear()
            self._wake.wait(timeout=max(timeout_s, 0.0))
        return self._inbox.pop(0) if self._inbox else None

    def close(self) -> None:
        self._closing = True
        close_sio(self._client)
        self._inbox.clear()


def new_connection(kind: Kind, base_url: str, *, connect_timeout_s: float) -> SwarmConnection:
    """A closed connection of the color's kind; ``open`` it (again) with an endpoint."""
    if kind == "ws":
        return WsSwarmConnection(base_url)
    if kind == "sio":
        return SioSwarmConnection(base_url, request_timeout_s=connect_timeout_s)
    raise ValueError(f"no swarm connection for kind {kind!r}")
