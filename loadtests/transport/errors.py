"""What a transport raises, and the one classification of a failed connect.

    TransportError          the peer could not be reached or answered nothing usable (any step)
     └── ConnectFailed      a connect that did not end with a ready connection; ``kind`` says why

``TransportError`` carries ``timed_out`` (a deadline passed) and ``refused`` (the server answered the
handshake with a refusal: blue an HTTP status instead of the upgrade, green ``connect_error``, so the
reason is the server's, e.g. "handshake refused: Authentication failed"); ``outcome`` is the sample's.
``ConnectFailed.kind`` (``FAILURE_KINDS``) is what the swarm's connection counters count.

Both real-time layers (the chat users' ``loadtests.transport.realtime`` and the swarm's
``loadtests.swarm.connection``) turn whatever a connect raised into a ``ConnectFailed`` through
``classify``, so a failure reads the same on both. Messages never carry tokens or URLs with query
strings. Light on import (no socket library until a connect has failed).
"""

from __future__ import annotations

import errno
from typing import Literal

from loadtests.recorder.outcomes import Outcome

__all__ = ["FAILURE_KINDS", "ConnectFailed", "FailureKind", "TransportError", "classify"]

FailureKind = Literal["refused", "reset", "timeout", "auth", "protocol", "resource", "other"]
FAILURE_KINDS: tuple[FailureKind, ...] = ("refused", "reset", "timeout", "auth", "protocol", "resource", "other")

# Out of file descriptors or ports: the generator's limits, not the target's fault.
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM}
_DETAIL_CHARS = 120  # of a library's message
_SERVER_REASON_CHARS = 200  # of the server's reason for refusing a handshake


class TransportError(Exception):
    """The peer could not be reached or answered nothing usable. ``timed_out`` tells a deadline that
    passed from any other failure; ``refused`` that the server answered a handshake with a refusal
    (blue: an HTTP status instead of the upgrade; green: ``connect_error``), so the reason is the
    server's. Messages never carry tokens or URLs with query strings."""

    def __init__(self, reason: str, *, timed_out: bool = False, refused: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.refused = refused

    @property
    def outcome(self) -> Outcome:
        """The sample's outcome: a deadline that passed is a ``timeout``, anything else an ``error``."""
        return Outcome.TIMEOUT if self.timed_out else Outcome.ERROR


class ConnectFailed(TransportError):
    """A connect attempt that did not end with a ready connection. ``str()`` is ``detail`` (what
    happened, e.g. "handshake refused: Authentication failed"); ``reason`` adds the ``kind``
    ("auth: handshake refused: ..."), as the swarm's samples and counters show it."""

    def __init__(self, kind: FailureKind, detail: str, *, refused: bool = False) -> None:
        super().__init__(detail, timed_out=kind == "timeout", refused=refused)
        self.kind = kind
        self.detail = detail

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}"


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
    """Turn whatever a connect raised into a ``ConnectFailed``. ``server_refusal`` is the server's
    reason for refusing a Socket.IO handshake (its ``connect_error`` message: ``wire.sio_refusal``)."""
    # Imported here, where a connect failed: this module stays light (the probe's HTTP path and the
    # orchestrator import it), and websocket-client imports ssl, which Locust must patch first.
    import socketio
    import websocket

    chain = _chain(error)
    for cause in chain:
        if isinstance(cause, websocket.WebSocketBadStatusException):
            status = cause.status_code
            kind: FailureKind = "auth" if status in (401, 403) else "protocol"
            return ConnectFailed(kind, f"handshake refused with HTTP {status}", refused=True)
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return ConnectFailed("refused", "connection refused")
        if isinstance(cause, OSError) and cause.errno in _RESOURCE_ERRNOS:
            return ConnectFailed("resource", f"{errno.errorcode.get(cause.errno or 0, 'OSError')}: {cause.strerror}")
        if isinstance(cause, TimeoutError | websocket.WebSocketTimeoutException):
            return ConnectFailed("timeout", "no handshake before the deadline")
        if isinstance(cause, ConnectionResetError | BrokenPipeError | websocket.WebSocketConnectionClosedException):
            return ConnectFailed("reset", f"closed during the handshake ({type(cause).__name__})")
    if server_refusal is not None:
        # The server's words ("Authentication failed"), not the library's ("One or more namespaces
        # failed to connect").
        kind = "auth" if "auth" in server_refusal.lower() else "protocol"
        return ConnectFailed(kind, f"handshake refused: {server_refusal[:_SERVER_REASON_CHARS]}", refused=True)
    message = str(error)
    if "timed out" in message.lower() and "namespaces failed" not in message:
        return ConnectFailed("timeout", "no handshake before the deadline")
    for cause in chain:
        if isinstance(cause, websocket.WebSocketException | socketio.exceptions.SocketIOError):
            return ConnectFailed("protocol", f"{type(cause).__name__}: {str(cause)[:_DETAIL_CHARS]}")
    return ConnectFailed("other", f"{type(error).__name__}: {message[:_DETAIL_CHARS]}")
