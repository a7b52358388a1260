"""The asyncio engine's connections: native WebSocket (blue) and Socket.IO (green), lean.

One ``asyncio.Protocol`` per socket drives websockets' sans-IO ``ClientProtocol`` (the WebSocket
handshake, framing, the peer's pings and close), and, for green, Engine.IO 4 / Socket.IO 5 packets
(``loadtests.swarm.sio_codec``). No task, no queue and no reader loop per
connection: bytes arrive in ``data_received``, become items in a short inbox, and wake the one
waiter (the session's task, ``loadtests.swarm.aio_session``). A send writes to the transport
without waiting. Why not python-socketio's ``AsyncClient``: an aiohttp session, two tasks and a
queue per connection, about 35 KB and twice the CPU of this at 10,000
(research/feasibility.md); websockets' own asyncio client adds a task and a keep-alive per
connection that Engine.IO's pings make redundant.

Same surface as the gevent engine's connections (``loadtests.swarm.connection``), awaited:
``await open(endpoint, timeout)`` raises a classified ``ConnectFailed``; ``send`` raises
``TransportError``; ``await receive(timeout)`` returns an ``Incoming``, a ``TransportClosed`` when
the peer went away, or ``None`` when the time ran out; ``close`` never fails and never waits.
No redirect is followed (a 3xx answer to a handshake is a refused connect, as in
``loadtests.transport.wire``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from loadtests.dialects.steps import Incoming, Kind, Outgoing, RealtimeEndpoint, SioEvent, WsText
from loadtests.swarm import sio_codec as codec
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import ConnectFailed, TransportError
from loadtests.transport.wire import ws_url

__all__ = ["INBOX_LIMIT", "AioConnection", "AioSioConnection", "AioWsConnection", "new_aio_connection"]

INBOX_LIMIT = 256  # items nobody reads (another member's typing…) are dropped past this
MAX_MESSAGE_BYTES = 1 << 20  # a frame larger than this from the target fails the connection
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM}


# Linux's IP_BIND_ADDRESS_NO_PORT (not in Python 3.11's socket module): bind the address now and
# leave the port to connect(), which shares it among connections to different destinations. Without
# it, bind() reserves a port for this address alone and a source address adds no ports at all.
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def _bound_socket(source: str) -> socket.socket:
    """A non-blocking TCP socket bound to ``source`` (port left to connect)."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sys.platform.startswith("linux"):
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_failure(error: BaseException) -> ConnectFailed:
    if isinstance(error, ConnectFailed):
        return error
    if isinstance(error, TimeoutError):
        return ConnectFailed("timeout", "no handshake before the deadline")
    if isinstance(error, ConnectionRefusedError):
        return ConnectFailed("refused", "connection refused")
    if isinstance(error, OSError) and error.errno in _RESOURCE_ERRNOS:
        return ConnectFailed("resource", f"{errno.errorcode.get(error.errno or 0, 'OSError')}: {error.strerror}")
    if isinstance(error, ConnectionError):
        return ConnectFailed("reset", f"closed during the handshake ({type(error).__name__})")
    return ConnectFailed("other", f"{type(error).__name__}: {str(error)[:120]}")


class _Socket(asyncio.Protocol):
    """One WebSocket over one TCP connection; text frames go to ``on_text``, the end to ``on_end``."""

    __slots__ = ("_fragments", "_handshake", "_owner", "_protocol", "_transport")

    def __init__(self, owner: AioConnection, url: str) -> None:
        self._owner = owner
        self._protocol = ClientProtocol(parse_uri(url), max_size=MAX_MESSAGE_BYTES)
        self._transport: asyncio.Transport | None = None
        self._handshake: asyncio.Future[None] | None = None
        self._fragments: list[bytes] | None = None

    async def open(self, url: str, deadline_s: float, source: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 80
        self._handshake = _quiet_future(loop)
        async with asyncio.timeout(deadline_s):
            if source is None:
                await loop.create_connection(lambda: self, host, port)
            else:
                sock = _bound_socket(source)
                try:
                    await loop.sock_connect(sock, (host, port))
                except BaseException:
                    sock.close()
                    raise
                await loop.create_connection(lambda: self, sock=sock)
            await self._handshake

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        protocol = self._protocol
        protocol.send_request(protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        protocol = self._protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Response):
                self._handshake_done()
            else:
                self._frame(event)
        self._flush()  # answers to the peer's pings and close

    def eof_received(self) -> bool | None:
        self._protocol.receive_eof()
        self._ended("connection lost: EOF")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._ended(f"connection lost: {type(exc).__name__}" if exc is not None else "connection lost")

    # -- frames -------------------------------------------------------------------------------
    def _handshake_done(self) -> None:
        waiter = self._handshake
        error = self._protocol.handshake_exc
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        elif isinstance(error, InvalidStatus):
            status = error.response.status_code
            kind = "auth" if status in (401, 403) else "protocol"
            waiter.set_exception(ConnectFailed(kind, f"handshake refused with HTTP {status}", refused=True))
        else:
            waiter.set_exception(ConnectFailed("protocol", f"{type(error).__name__}: {str(error)[:120]}"))

    def _frame(self, frame: Any) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or (opcode is Opcode.CONT and self._fragments is not None):
            if not frame.fin:
                self._fragments = [*(self._fragments or ()), frame.data]
                return
            data = b"".join([*self._fragments, frame.data]) if self._fragments else frame.data
            self._fragments = None
            self._owner._on_text(data.decode("utf-8", "replace"))
        elif opcode is Opcode.CLOSE:
            code = self._protocol.close_rcvd.code if self._protocol.close_rcvd is not None else 1005
            self._ended(f"closed by peer with code {code}")

    def _ended(self, reason: str) -> None:
        waiter = self._handshake
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectFailed("reset", f"closed during the handshake ({reason})"))
        owner, self._owner = self._owner, None  # type: ignore[assignment]
        if owner is not None:
            owner._on_end(reason)

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for chunk in self._protocol.data_to_send():
            if chunk:
                transport.write(chunk)
            else:  # the protocol is done with the connection (after a close handshake)
                transport.close()
                return

    # -- the owner's side ---------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        if self._transport is None or self._transport.is_closing() or self._protocol.state is not State.OPEN:
            raise TransportError("not connected")
        self._protocol.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        """A close frame, then the TCP close once it is written: no wait for the peer's answer."""
        self._owner = None  # type: ignore[assignment]
        transport, self._transport = self._transport, None
        if transport is None:
            return
        if self._protocol.state is not State.OPEN:  # mid-handshake, or already closing: nothing to say
            transport.abort()
            return
        try:
            self._protocol.send_close(1000)
            for chunk in self._protocol.data_to_send():
                if chunk:
                    transport.write(chunk)
        except Exception:  # a close never fails
            transport.abort()
            return
        transport.close()


class AioConnection:
    """The inbox both colors share: items waiting for the session, and the one waiter."""

    __slots__ = ("_base_url", "_inbox", "_socket", "_waiter", "source_address")
    kind: Kind

    def __init__(self, base_url: str, source_address: str | None = None) -> None:
        self._base_url = base_url
        self.source_address = source_address  # the local address its sockets connect from
        self._inbox: list[Incoming | TransportClosed] = []
        self._waiter: asyncio.Future[None] | None = None
        self._socket: _Socket | None = None

    def _put(self, item: Incoming | TransportClosed) -> None:
        if len(self._inbox) < INBOX_LIMIT or isinstance(item, TransportClosed):
            self._inbox.append(item)
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _on_text(self, text: str) -> None:
        raise NotImplementedError

    def _on_end(self, reason: str) -> None:
        self._socket = None
        self._put(TransportClosed(reason))

    async def _open_socket(self, endpoint: RealtimeEndpoint, query: dict[str, str], timeout_s: float) -> None:
        self.close()
        self._inbox.clear()
        url = ws_url(self._base_url, endpoint.path, query)
        sock = _Socket(self, url)
        self._socket = sock
        try:
            await sock.open(url, timeout_s, self.source_address)
        except BaseException as error:
            sock.close()
            self._socket = None
            if isinstance(error, asyncio.CancelledError):
                raise
            raise _connect_failure(error) from None

    async def receive(self, timeout_s: float) -> Incoming | TransportClosed | None:
        if not self._inbox:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(max(timeout_s, 0.0), _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self._inbox.pop(0) if self._inbox else None

    def _send_text(self, text: str) -> None:
        socket = self._socket
        if socket is None:
            raise TransportError("not connected")
        socket.send_text(text)

    def close(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.close()


def _quiet_future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """A handshake's future: its failure may come after its waiter gave up (a timeout, a stop);
    that failure is the waiter's business, not a "never retrieved" warning on stderr."""
    future: asyncio.Future[None] = loop.create_future()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return future


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AioWsConnection(AioConnection):
    """Native WebSocket (blue): every text frame is an item."""

    __slots__ = ()
    kind: Kind = "ws"

    async def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
        await self._open_socket(endpoint, dict(endpoint.query), timeout_s)

    def _on_text(self, text: str) -> None:
        self._put(WsText(text))

    def send(self, message: Outgoing) -> None:
        if not isinstance(message, WsText):
            raise TypeError("a native WebSocket sends text frames")
        self._send_text(message.text)


class AioSioConnection(AioConnection):
    """Socket.IO 5 over Engine.IO 4, WebSocket transport only, default namespace: the handshake
    (Engine.IO's open packet, then the namespace ``CONNECT`` with the endpoint's ``auth``) ends when
    the server accepts the namespace; its refusal (``CONNECT_ERROR``) is a refused connect with the
    server's reason. Engine.IO's pings are answered here; events become ``SioEvent`` items."""

    __slots__ = ("_auth", "_joined")
    kind: Kind = "sio"

    def __init__(self, base_url: str, source_address: str | None = None) -> None:
        super().__init__(base_url, source_address)
        self._auth: dict[str, str] | None = None
        self._joined: asyncio.Future[None] | None = None

    async def open(self, endpoint: RealtimeEndpoint, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._auth = dict(endpoint.auth) if endpoint.auth else None
        joined = self._joined = _quiet_future(loop)
        # Every Socket.IO client asks for the path with its trailing slash (python-socketio adds it;
        # socket.io's Node server matches `/socket.io/` only and drops the upgrade otherwise).
        endpoint = RealtimeEndpoint(endpoint.kind, endpoint.path.rstrip("/") + "/", endpoint.query, endpoint.auth)
        await self._open_socket(endpoint, {**endpoint.query, "EIO": "4", "transport": "websocket"}, timeout_s)
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
                await joined
        except TimeoutError:
            self.close()
            raise ConnectFailed("timeout", "no handshake before the deadline") from None
        except ConnectFailed:
            self.close()
            raise
        finally:
            self._joined = None

    def _settle(self, error: ConnectFailed | None) -> None:
        joined = self._joined
        if joined is not None and not joined.done():
            if error is None:
                joined.set_result(None)
            else:
                joined.set_exception(error)

    def _on_end(self, reason: str) -> None:
        self._settle(ConnectFailed("reset", f"closed during the handshake ({reason})"))
        super()._on_end(reason)

    def _on_text(self, text: str) -> None:
        kind = text[:1]
        if kind == codec.EIO_MESSAGE:
            self._on_message(text[1:])
        elif kind == codec.EIO_PING:
            self._send_text(codec.encode_pong(text))
        elif kind == codec.EIO_OPEN:
            self._send_text(codec.encode_connect(self._auth))
        elif kind == codec.EIO_CLOSE:
            self.close()
            self._on_end("disconnected: transport close")

    def _on_message(self, data: str) -> None:
        packet = codec.decode_message(data)
        if packet is None:
            return
        kind, payload = packet.kind, packet.data
        if kind == codec.SIO_EVENT and isinstance(payload, list) and payload:
            event, args = payload[0], payload[1:]
            self._put(SioEvent(str(event), args[0] if len(args) == 1 else list(args) or None))
        elif kind == codec.SIO_CONNECT:
            self._settle(None)
        elif kind == codec.SIO_CONNECT_ERROR:
            reason = payload.get("message") if isinstance(payload, dict) else payload
            detail = str(reason or "no reason given")[:200]
            kind_of = "auth" if "auth" in detail.lower() else "protocol"
            self._settle(ConnectFailed(kind_of, f"handshake refused: {detail}", refused=True))
        elif kind == codec.SIO_DISCONNECT:
            self.close()
            self._on_end("disconnected: io server disconnect")

    def send(self, message: Outgoing) -> None:
        if not isinstance(message, SioEvent):
            raise TypeError("Socket.IO sends events")
        self._send_text(codec.encode_event(message.event, message.data))

    def close(self) -> None:
        socket = self._socket
        if socket is not None:
            # The namespace's DISCONNECT, then the WebSocket close: the server sees a client leave.
            with contextlib.suppress(TransportError):
                socket.send_text(codec.encode_disconnect())
        super().close()


def new_aio_connection(kind: Kind, base_url: str, source_address: str | None = None) -> AioConnection:
    if kind == "ws":
        return AioWsConnection(base_url, source_address)
    if kind == "sio":
        return AioSioConnection(base_url, source_address)
    raise ValueError(f"no swarm connection for kind {kind!r}")
