"""The swarm's Socket.IO text codec agrees with python-socketio's own, and refuses what it must."""

from __future__ import annotations

import engineio.packet as eio
import pytest
import socketio.packet as sio

from loadtests.swarm import sio_codec as codec

PAYLOADS = [None, "x", "Pong: 1.2", {"chatId": "abc", "content": 'héllo "quoted"'}, [1, 2, {"a": None}], 3.5]


@pytest.mark.parametrize("data", PAYLOADS)
def test_events_encode_as_python_socketio_decodes_them(data: object) -> None:
    frame = codec.encode_event("send-message", data)
    outer = eio.Packet(encoded_packet=frame)
    inner = sio.Packet(encoded_packet=outer.data)
    assert outer.packet_type == eio.MESSAGE
    assert inner.packet_type == sio.EVENT
    assert inner.data == (["send-message"] if data is None else ["send-message", data])


@pytest.mark.parametrize("data", PAYLOADS)
def test_messages_python_socketio_encodes_decode_alike(data: object) -> None:
    for packet in (
        sio.Packet(sio.EVENT, data=["pong"] if data is None else ["pong", data]),
        sio.Packet(sio.EVENT, data=["pong", data], namespace="/"),
        sio.Packet(sio.EVENT, data=["pong", data], id=12),
        sio.Packet(sio.CONNECT, data={"sid": "s1"}),
        sio.Packet(sio.CONNECT_ERROR, data={"message": "Authentication failed"}),
        sio.Packet(sio.DISCONNECT),
    ):
        decoded = codec.decode_message(packet.encode())
        assert decoded is not None
        assert decoded.kind == str(packet.packet_type)
        assert decoded.data == packet.data


def test_the_handshake_and_engine_io_pings() -> None:
    connect = eio.Packet(encoded_packet=codec.encode_connect({"token": "t"}))
    assert sio.Packet(encoded_packet=connect.data).data == {"token": "t"}
    assert codec.encode_connect(None) == "40"
    assert codec.encode_pong("2") == "3" and codec.encode_pong("2probe") == "3probe"
    assert codec.encode_disconnect() == "41"


@pytest.mark.parametrize(
    "text", ["", "9[]", '2/admin,["x"]', "2[unterminated", '5-["bin",{"_placeholder":true}]', "2/nsp"]
)
def test_other_namespaces_binary_and_garbage_are_refused(text: str) -> None:
    assert codec.decode_message(text) is None
