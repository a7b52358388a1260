"""The loopback guard holds across redirects: a target answering a real-time handshake with a
redirect gets a failed connect, and the address it names never sees a request (plain HTTP already
refuses redirects: ``loadtests/transport/http.py``).

Every real-time path is tried: blue's native WebSocket and green's Socket.IO, for the chat users
(``loadtests/transport/realtime.py``) and for the swarm (``loadtests/swarm/connection.py``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from loadtests.dialects.base import RealtimeEndpoint
from loadtests.swarm.connection import ConnectFailed, SioSwarmConnection, WsSwarmConnection
from loadtests.transport.errors import TransportError
from loadtests.transport.realtime import SocketIOConnection, WebSocketConnection

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers


class _Listener:
    """A loopback TCP server in a thread. ``redirect_to``: answer every request with a 302 there;
    else just count the connections it gets (the place a redirect points at)."""

    def __init__(self, status: int = 302, redirect_to: str | None = None) -> None:
        self.redirect_to = redirect_to
        self.status = status
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                        data += chunk
                    if self.redirect_to is not None:
                        conn.sendall(
                            f"HTTP/1.1 {self.status} Found\r\nLocation: {self.redirect_to}\r\n"
                            "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                        )
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()


@contextlib.contextmanager
def _redirecting(scheme: str) -> Iterator[tuple[str, _Listener]]:
    """(the base URL of a target that redirects everything, the listener it redirects to)."""
    elsewhere = _Listener()
    target = _Listener(redirect_to=f"{scheme}://127.0.0.1:{elsewhere.port}/elsewhere")
    try:
        yield f"http://127.0.0.1:{target.port}", elsewhere
    finally:
        target.close()
        elsewhere.close()


@pytest.fixture
def redirecting() -> Iterator[tuple[str, _Listener]]:
    """To a ``ws://`` address: websocket-client follows that (an ``http://`` one it refuses itself)."""
    with _redirecting("ws") as pair:
        yield pair


@pytest.fixture
def http_redirecting() -> Iterator[tuple[str, _Listener]]:
    with _redirecting("http") as pair:
        yield pair


WS = RealtimeEndpoint(kind="ws", path="/api/chat/ws", query={"token": "t"})
SIO = RealtimeEndpoint(kind="sio", path="/socket.io/", auth={"token": "t"})

OPENERS: dict[str, Callable[[str], None]] = {
    "blue chat (websocket-client)": lambda url: WebSocketConnection(url, WS).open(3),
    "green chat (python-socketio)": lambda url: SocketIOConnection(url, SIO).open(3),
    "blue swarm (websocket-client)": lambda url: WsSwarmConnection(url).open(WS, 3),
    "green swarm (python-socketio)": lambda url: SioSwarmConnection(url, request_timeout_s=3).open(SIO, 3),
}


@pytest.mark.parametrize("path", list(OPENERS))
def test_a_redirect_is_refused_and_never_followed(path: str, redirecting: tuple[str, _Listener]) -> None:
    url, elsewhere = redirecting
    with pytest.raises((TransportError, ConnectFailed)):
        OPENERS[path](url)
    assert elsewhere.connections == 0, "the connection followed the redirect"


def test_plain_http_does_not_follow_a_redirect_either(http_redirecting: tuple[str, _Listener]) -> None:
    """HTTP gets the 302 itself (measured as the answer it is) and goes nowhere else."""
    from loadtests.dialects.base import HttpRequest
    from loadtests.transport.http import HttpTransport

    url, elsewhere = http_redirecting
    reply = HttpTransport(url, timeout_s=3, connect_timeout_s=3).send(HttpRequest("health", "GET", "/health"), {})
    assert reply.status == 302
    assert elsewhere.connections == 0
