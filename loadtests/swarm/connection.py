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
"""

from __future__ import annotations

import contextlib
import errno
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit

import engineio
import gevent
import gevent.event
import socketio
import websocket

from loadtests.dialects.base import Incoming, Kind, Outcome, Outgoing, RealtimeEndpoint, SioEvent, WsText
from loadtests.targets import NO_WS_REDIRECTS
from loadtests.transport.errors import TransportError
from loadtests.transport.realtime import TransportClosed

CLOSE_TIMEOUT_S = 5.0

FailureKind = Literal["refused", "reset", "timeout", "auth", "protocol", "resource", "other"]
FAILURE_KINDS: tuple[FailureKind, ...] = ("refused", "reset", "timeout", "auth", "protocol", "resource", "other")

INBOX_LIMIT = 256  # green: events nobody reads (another member's typing…) are dropped past this

# Out of file descriptors or ports: the generator's limits, not the target's fault.
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM}


class ConnectFailed(Exception):
    """A connect attempt that did not end with a ready connection. ``kind`` classifies it for the
    sample's reason and the connection counters; messages never carry tokens."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    @property
    def outcome(self) -> Outcome:
        return Outcome.TIMEOUT if self.kind == "timeout" else Outcome.ERROR

    @property
    def reason(self) -> str:
        return str(self)


def _chain(error: BaseException, limit: int = 8) -> list[BaseException]:
    """The error and what caused it: python-socketio and python-engineio re-raise their own
    ``ConnectionError`` inside an ``except``, so the socket's own error is in the chain."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(found) < limit and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def classify(error: BaseException, *, server_refusal: str | None = None) -> ConnectFailed:
    """Turn whatever a connect raised into a ``ConnectFailed``. ``server_refusal`` is the message
    of a Socket.IO ``connect_error`` (the server's connect handler said no)."""
    chain = _chain(error)
    for cause in chain:
        if isinstance(cause, websocket.WebSocketBadStatusException):
            status = cause.status_code
            kind: FailureKind = "auth" if status in (401, 403) else "protocol"
            return ConnectFailed(kind, f"handshake answered HTTP {status}")
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return ConnectFailed("refused", "connection refused")
        if isinstance(cause, OSError) and cause.errno in _RESOURCE_ERRNOS:
            return ConnectFailed("resource", f"{errno.errorcode.get(cause.errno or 0, 'OSError')}: {cause.strerror}")
        if isinstance(cause, TimeoutError | websocket.WebSocketTimeoutException):
            return ConnectFailed("timeout", "no handshake before the deadline")
        if isinstance(cause, ConnectionResetError | BrokenPipeError | websocket.WebSocketConnectionClosedException):
            return ConnectFailed("reset", f"closed during the handshake ({type(cause).__name__})")
    if server_refusal is not None:
        kind = "auth" if "auth" in server_refusal.lower() else "protocol"
        return ConnectFailed(kind, f"server refused: {server_refusal[:120]}")
    for cause in chain:
        if isinstance(cause, websocket.WebSocketException | socketio.exceptions.SocketIOError):
            return ConnectFailed("protocol", f"{type(cause).__name__}: {str(cause)[:120]}")
    return ConnectFailed("other", f"{type(error).__name__}: {str(error)[:120]}")


class SwarmConnection(Protocol):
    kind: Kind

    def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None: ...
    def send(self, message: Outgoing) -> None: ...
    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None: ...
    def close(self) -> None: ...


def _ws_url(base_url: str, path: str, query: dict[str, str]) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path}" + (f"?{urlencode(query)}" if query else "")


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
            url = _ws_url(self._base_url, endpoint.path, dict(endpoint.query))
            ws.connect(url, timeout=timeout_s, **NO_WS_REDIRECTS)
        except Exception as error:
            with contextlib.suppress(Exception):
                ws.shutdown()
            raise classify(error) from None
        self._ws = ws

    def send(self, message: Outgoing) -> None:
        if not isinstance(message, WsText):
            raise TypeError("a native WebSocket sends text frames")
        ws = self._ws
        if ws is None:
            raise TransportError("not connected")
        try:
            ws.send(message.text)
        except (OSError, websocket.WebSocketException) as error:
            raise TransportError(f"send failed: {type(error).__name__}") from None

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        ws = self._ws
        if ws is None:
            return TransportClosed("not connected")
        ws.settimeout(max(timeout_s, 0.001))
        try:
            opcode, data = ws.recv_data()  # answers the server's pings itself
        except websocket.WebSocketTimeoutException:
            return None
        except TimeoutError:
            return None
        except (OSError, websocket.WebSocketException) as error:
            self._ws = None
            with contextlib.suppress(Exception):
                ws.shutdown()
            return TransportClosed(f"connection lost: {type(error).__name__}")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return WsText(data.decode("utf-8", "replace"))
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
            self._ws = None
            with contextlib.suppress(Exception):
                ws.shutdown()
            return TransportClosed(f"closed by peer with code {code}")
        return None  # binary frames mean nothing in this protocol

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)
            with contextlib.suppress(Exception):
                ws.shutdown()


@dataclass(frozen=True, slots=True)
class _Refusal:
    message: str


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
        self._refusal: _Refusal | None = None
        client = _SwarmSioClient(
            reconnection=False,  # a drop is measured, and reconnected explicitly by the session
            handle_sigint=False,
            logger=False,
            engineio_logger=False,
            request_timeout=request_timeout_s,  # engine.io's WebSocket connect timeout
            # Socket.IO frames are JSON the server wrote; websocket-client would validate their
            # UTF-8 in pure Python, byte by byte, for every message
            websocket_extra_options={"skip_utf8_validation": True, **NO_WS_REDIRECTS},
        )
        client.on("*", self._on_event)
        client.on("disconnect", self._on_disconnect)
        client.on("connect_error", self._on_connect_error)
        self._client = client

    def _put(self, item: Incoming | TransportClosed) -> None:
        if len(self._inbox) < INBOX_LIMIT or isinstance(item, TransportClosed):
            self._inbox.append(item)
            self._wake.set()

    def _on_event(self, event: str, *args: Any) -> None:
        self._put(SioEvent(event, args[0] if len(args) == 1 else list(args) or None))

    def _on_disconnect(self, reason: Any = None) -> None:
        if not self._closing:
            self._put(TransportClosed(f"disconnected: {reason or 'unknown'}"))

    def _on_connect_error(self, data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self._refusal = _Refusal(str(message or "connect_error"))

    def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
        self._closing = False
        self._refusal = None
        self._inbox.clear()
        try:
            self._client.connect(
                self._base_url,
                auth=dict(endpoint.auth) if endpoint.auth else None,
                transports=["websocket"],
                socketio_path=endpoint.path.strip("/"),
                wait_timeout=timeout_s,
            )
        except Exception as error:
            refusal = self._refusal.message if self._refusal else None
            if refusal is None and "namespaces failed" not in str(error) and "timed out" in str(error).lower():
                raise ConnectFailed("timeout", "no Socket.IO connect before the deadline") from None
            raise classify(error, server_refusal=refusal) from None

    def send(self, message: Outgoing) -> None:
        if not isinstance(message, SioEvent):
            raise TypeError("Socket.IO sends events")
        try:
            self._client.emit(message.event, message.data)
        except socketio.exceptions.SocketIOError as error:
            raise TransportError(f"emit failed: {type(error).__name__}") from None

    def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        if not self._inbox:
            self._wake.clear()
            self._wake.wait(timeout=max(timeout_s, 0.0))
        return self._inbox.pop(0) if self._inbox else None

    def close(self) -> None:
        self._closing = True
        # Closing a half-open client must never fail a task, nor hang it: python-socketio's
        # disconnect joins its read loop, which a dead peer can leave blocked. Bounded, then let go.
        with contextlib.suppress(Exception), gevent.Timeout(CLOSE_TIMEOUT_S, False):
            self._client.disconnect()
        self._inbox.clear()


def new_connection(kind: Kind, base_url: str, *, connect_timeout_s: float) -> SwarmConnection:
    """A closed connection of the color's kind; ``open`` it (again) with an endpoint."""
    if kind == "ws":
        return WsSwarmConnection(base_url)
    if kind == "sio":
        return SioSwarmConnection(base_url, request_timeout_s=connect_timeout_s)
    raise ValueError(f"no swarm connection for kind {kind!r}")
