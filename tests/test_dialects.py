"""Dialects on recorded payloads: no sockets, no clock (they are sans-IO)."""

from __future__ import annotations

import base64
import json

import pytest

from loadtests.dialects import dialect_for
from loadtests.dialects.base import (
    Accepted,
    Chunk,
    Connected,
    Credentials,
    End,
    HttpReply,
    HttpRequest,
    Joined,
    Outcome,
    Pong,
    RoomCreated,
    SioEvent,
    StreamFailed,
    WsText,
)
from loadtests.dialects.options import DialectOptions


def reply(status: int, body: object, raw: bytes | None = None) -> HttpReply:
    return HttpReply(status, raw if raw is not None else json.dumps(body).encode())


def jwt_with_exp(exp: int) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "x", "exp": exp}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig"


CREDS = Credentials("loadbench-user-0001", "pw")


def test_blue_login_request_and_success() -> None:
    blue = dialect_for("blue")
    request = blue.login(CREDS)
    assert (request.method, request.path, request.authenticated) == ("POST", "/api/auth/admin/login", False)
    token = jwt_with_exp(2_000_000_000)
    judged = blue.read_login(reply(200, {"token": token, "user": {"_id": "abc"}}))
    assert judged.ok and judged.value is not None
    assert judged.value.expires_at == 2_000_000_000 and judged.value.user_id == "abc"


def test_green_wrong_password_is_a_soft_failure_despite_201() -> None:
    green = dialect_for("green")
    judged = green.read_login(reply(201, {"error": "Invalid credentials"}))
    assert judged.outcome is Outcome.SOFT_FAILURE
    assert "Invalid credentials" in judged.reason


def test_green_login_needs_both_tokens() -> None:
    green = dialect_for("green")
    assert green.read_login(reply(201, {"accessToken": "a"})).outcome is Outcome.SOFT_FAILURE
    ok = green.read_login(reply(201, {"accessToken": jwt_with_exp(5), "refreshToken": "r", "user": {"id": "u1"}}))
    assert ok.ok and ok.value is not None and ok.value.refresh_token == "r" and ok.value.user_id == "u1"


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (429, {"statusCode": 429, "message": "Too Many Requests"}, Outcome.RATE_LIMITED),
        (500, {"statusCode": 500, "message": "boom"}, Outcome.ERROR),
        (401, {"detail": "Invalid token"}, Outcome.ERROR),
        (200, {"error": "Injected soft failure"}, Outcome.SOFT_FAILURE),
        (200, {"unexpected": True}, Outcome.SOFT_FAILURE),
    ],
)
def test_history_outcomes(status: int, body: object, outcome: Outcome) -> None:
    for color in ("blue", "green"):
        judged = dialect_for(color).read_chat_history(reply(status, body))
        assert judged.outcome is outcome, (color, judged)


def test_html_body_is_an_error_not_a_success() -> None:
    judged = dialect_for("green").read_chat_history(reply(200, None, raw=b"<html>proxy error</html>"))
    assert judged.outcome is Outcome.ERROR and "non-JSON" in judged.reason


def test_chat_lists_both_shapes() -> None:
    blue = dialect_for("blue").read_chat_history(reply(200, [{"_id": "c1", "name": "a"}, {"id": "c2"}]))
    green = dialect_for("green").read_chat_history(reply(200, {"data": [{"_id": "c3"}]}))
    assert [c.chat_id for c in blue.value or []] == ["c1", "c2"]
    assert [c.chat_id for c in green.value or []] == ["c3"]


def test_green_rest_base_is_an_option() -> None:
    green = dialect_for("green", DialectOptions(rest_base="/api/v1"))
    assert green.login(CREDS).path == "/api/v1/auth/login"
    assert green.ask("c1", "hi") == HttpRequest("chat.ask", "POST", "/api/v1/chats/c1/ask", json={"content": "hi"})
    assert green.health().path == "/health"  # outside the REST base


def test_green_ask_must_be_accepted() -> None:
    green = dialect_for("green")
    assert green.read_ask(reply(201, {"status": "accepted", "channel": "chat:c1"})).ok
    assert green.read_ask(reply(201, {"status": "queued"})).outcome is Outcome.SOFT_FAILURE


def test_blue_frames_decode() -> None:
    blue = dialect_for("blue")
    assert blue.decode(WsText("pong")) == Pong()
    assert blue.decode(WsText('{"type":"chunk","data":"Hel"}')) == Chunk("Hel")
    assert blue.decode(WsText('{"type":"end"}')) == End()
    assert blue.decode(WsText('{"type":"accepted","data":{"chatId":"c1"}}')) == Accepted("c1")
    assert blue.decode(WsText('{"type":"room_created","data":{"chatId":"c9"}}')) == RoomCreated("c9")
    assert isinstance(blue.decode(WsText('{"type":"error","data":"LLM down"}')), StreamFailed)
    assert blue.decode(WsText('{"type":"tool_start","data":{}}')) is None
    assert blue.decode(WsText("not json")) is None


def test_blue_creates_chats_over_the_socket() -> None:
    blue = dialect_for("blue")
    step = blue.create_chat("x")
    assert step.until is RoomCreated and json.loads(step.send.text)["type"] == "create_room"
    assert blue.read_created_chat(RoomCreated("c1")).value.chat_id == "c1"  # type: ignore[union-attr]
    assert blue.read_created_chat(StreamFailed("no agent")).outcome is Outcome.ERROR


@pytest.mark.parametrize("style", ["kebab", "snake"])
def test_green_events_follow_the_style(style: str) -> None:
    green = dialect_for("green", DialectOptions(event_style=style))
    join = green.open_chat("c1", first=True)
    expected = "join-room" if style == "kebab" else "join_room"
    assert join.send == SioEvent(expected, {"chatId": "c1"}) and join.until is Joined
    joined = "joined-room" if style == "kebab" else "joined_room"
    assert green.decode(SioEvent(joined, {"chatId": "c1"})) == Joined("c1")
    assert green.decode(SioEvent("pong", "Pong: p7")) == Pong("p7")


def test_green_stream_events_decode() -> None:
    green = dialect_for("green")
    assert green.decode(SioEvent("stream", {"type": "status", "data": {}})) is None
    assert green.decode(SioEvent("stream", {"type": "chunk", "data": "Hi"})) == Chunk("Hi")
    assert green.decode(SioEvent("stream", {"type": "end"})) == End()
    failed = green.decode(SioEvent("stream", {"type": "error", "data": {"message": "bedrock"}}))
    assert failed == StreamFailed("bedrock")
    assert green.decode(SioEvent("connected", {"userId": "u"})) == Connected("u")


def test_pongs_are_matched_as_each_color_answers_them() -> None:
    # blue answers a bare `pong` frame, in the order the pings went; green echoes the ping's token
    blue, green = dialect_for("blue"), dialect_for("green")
    assert blue.pong_for(Pong(), ["1.1", "1.2"]) == 0 and blue.pong_for(Pong(), []) is None
    assert green.pong_for(Pong("1.2"), ["1.1", "1.2"]) == 1
    assert green.pong_for(Pong("9.9"), ["1.1", "1.2"]) is None  # a late pong of a forgotten ping
    assert green.pong_for(Pong(), ["1.1"]) == 0  # a server that echoes nothing: the oldest


def test_what_opens_a_socket() -> None:
    # blue: a socket's first frame must open a chat (join it, or create one); green needs none
    blue, green = dialect_for("blue"), dialect_for("green")
    join, create = blue.opening("c" * 24, "swarm u"), blue.opening(None, "swarm u")
    assert join is not None and join.until is Joined
    assert json.loads(join.send.text) == {"type": "join_room", "chatId": "c" * 24}  # type: ignore[union-attr]
    assert create is not None and create.until is RoomCreated
    assert json.loads(create.send.text)["type"] == "create_room"  # type: ignore[union-attr]
    assert blue.opening_required and not green.opening_required
    assert green.opening("c" * 24, "swarm u") is None


def test_endpoints_carry_tokens_where_each_protocol_expects_them() -> None:
    from loadtests.dialects.base import AuthSession

    session = AuthSession("tok")
    blue = dialect_for("blue", DialectOptions(ws_path="/ws")).realtime_endpoint(session)
    green = dialect_for("green").realtime_endpoint(session)
    assert (blue.kind, blue.path, dict(blue.query)) == ("ws", "/ws", {"token": "tok"})
    assert (green.kind, green.path, dict(green.auth or {})) == ("sio", "/socket.io", {"token": "tok"})
    assert "tok" not in repr(blue) and "tok" not in repr(green) and "tok" not in repr(session)


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        dialect_for("purple")
