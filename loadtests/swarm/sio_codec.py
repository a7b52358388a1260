"""Engine.IO 4 / Socket.IO 5 text packets, default namespace, as the swarm's connections need them.

Written here rather than taken from python-engineio's and python-socketio's ``Packet`` (which the
first version of the asyncio engine used): ``socketio.packet.Packet`` walks every payload, on
encode and on decode, looking for binary attachments. Profiled at 10,000 held connections, that
walk alone was a quarter of the engine thread's CPU, for a swarm that never sends binary. What
is here is the text subset of the two specifications (socket.io-protocol v5, engine.io-protocol
v4): a packet type digit, an optional namespace (``/name,``), an optional ack id, a JSON payload.
Binary packets (types 5 and 6) are not decoded: ``decode_message`` returns ``None`` for them, as
for anything malformed (the target's bytes are untrusted).

``tests/swarm/test_sio_codec.py`` checks it against python-socketio's own codec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EIO_CLOSE",
    "EIO_MESSAGE",
    "EIO_OPEN",
    "EIO_PING",
    "SIO_CONNECT",
    "SIO_CONNECT_ERROR",
    "SIO_DISCONNECT",
    "SIO_EVENT",
    "SioMessage",
    "decode_message",
    "encode_connect",
    "encode_disconnect",
    "encode_event",
    "encode_pong",
]

# Engine.IO packet types (the first character of a text frame)
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE = "0", "1", "2", "3", "4"
# Socket.IO packet types (the first character of an Engine.IO message)
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR = "0", "1", "2", "3", "4"

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode = json.JSONDecoder().decode


@dataclass(frozen=True, slots=True)
class SioMessage:
    kind: str  # one of SIO_*
    data: Any


def encode_event(event: str, data: Any = None) -> str:
    return EIO_MESSAGE + SIO_EVENT + _compact([event] if data is None else [event, data])


def encode_connect(auth: dict[str, str] | None) -> str:
    return EIO_MESSAGE + SIO_CONNECT + (_compact(auth) if auth else "")


def encode_disconnect() -> str:
    return EIO_MESSAGE + SIO_DISCONNECT


def encode_pong(ping: str) -> str:
    """The answer to an Engine.IO ping text frame (``2`` or ``2probe``): the same payload back."""
    return EIO_PONG + ping[1:]


def decode_message(text: str) -> SioMessage | None:
    """A Socket.IO packet of the default namespace from an Engine.IO message's payload (the frame
    without its leading ``4``); ``None`` for another namespace, binary or malformed packets."""
    if not text:
        return None
    kind, rest = text[0], text[1:]
    if kind not in (SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR):
        return None
    if rest.startswith("/"):
        namespace, comma, rest = rest.partition(",")
        if namespace != "/" or (not comma and rest):
            return None
    digits = 0
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    payload = rest[digits:]
    if not payload:
        return SioMessage(kind, None)
    try:
        return SioMessage(kind, _decode(payload))
    except ValueError:
        return None
