"""blue: the FastAPI backend with its native WebSocket (CONTRACT.md, "blue real-time")."""

from __future__ import annotations

import json
from typing import Any

from loadtests.dialects.base import (
    Accepted,
    AuthSession,
    ChatRef,
    Chunk,
    Credentials,
    End,
    Exchange,
    HttpReply,
    HttpRequest,
    Incoming,
    Judgement,
    Outcome,
    Pong,
    RealtimeEndpoint,
    RoomCreated,
    RoomMessage,
    StreamEvent,
    StreamFailed,
    WsText,
    chat_list,
    chat_ref,
    field_of,
    judge,
)
from loadtests.dialects.jwt_claims import token_expiry
from loadtests.dialects.options import DialectOptions


def _frame(payload: dict[str, Any]) -> WsText:
    return WsText(json.dumps(payload, separators=(",", ":")))


class BlueDialect:
    color = "blue"
    realtime_kind = "ws"
    ready_event = None

    def __init__(self, options: DialectOptions | None = None) -> None:
        self.options = options or DialectOptions()

    # -- auth ---------------------------------------------------------------------------------
    def login(self, credentials: Credentials) -> HttpRequest:
        body = {"username": credentials.username, "password": credentials.password}
        return HttpRequest("auth.login", "POST", "/api/auth/admin/login", json=body, authenticated=False)

    def read_login(self, reply: HttpReply) -> Judgement[AuthSession]:
        def session(body: Any) -> AuthSession | None:
            token = field_of(body, "token")
            user_id = field_of(field_of(body, "user"), "_id", "id") or ""
            return AuthSession(token, None, token_expiry(token), str(user_id)) if isinstance(token, str) else None

        return judge(reply, ok=(200,), extract=session, what="token")

    def refresh(self, session: AuthSession) -> HttpRequest:
        return HttpRequest("auth.refresh", "POST", "/api/auth/refresh")

    def read_refresh(self, reply: HttpReply, previous: AuthSession) -> Judgement[AuthSession]:
        def session(body: Any) -> AuthSession | None:
            token = field_of(body, "token")
            return AuthSession(token, None, token_expiry(token), previous.user_id) if isinstance(token, str) else None

        return judge(reply, ok=(200,), extract=session, what="token")

    def me(self) -> HttpRequest:
        return HttpRequest("auth.me", "GET", "/api/auth/me")

    def read_me(self, reply: HttpReply) -> Judgement[str]:
        return judge(reply, ok=(200,), extract=lambda body: field_of(body, "_id", "id"), what="user id")

    def auth_headers(self, session: AuthSession) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.access_token}"}

    # -- chat ---------------------------------------------------------------------------------
    def chat_history(self) -> HttpRequest:
        return HttpRequest("chat.history", "GET", "/api/chat/history")

    def read_chat_history(self, reply: HttpReply) -> Judgement[list[ChatRef]]:
        return judge(reply, ok=(200,), extract=chat_list, what="chat list")

    def get_chat(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.get", "GET", f"/api/chat/history/{chat_id}")

    def read_chat(self, reply: HttpReply) -> Judgement[ChatRef]:
        return judge(reply, ok=(200,), extract=chat_ref, what="chat id")

    def create_chat(self, name: str) -> Exchange:
        # blue has no REST route that creates a chat: the WebSocket does.
        frame = _frame({"type": "create_room", "name": name, "agent_id": self.options.agent_id})
        return Exchange(frame, until=RoomCreated, name="chat.create")

    def read_created_chat(self, result: HttpReply | StreamEvent) -> Judgement[ChatRef]:
        if isinstance(result, RoomCreated) and result.chat_id:
            return Judgement(Outcome.OK, ChatRef(result.chat_id))
        if isinstance(result, StreamFailed):
            return Judgement(Outcome.ERROR, reason=f"error frame: {result.message}")
        return Judgement(Outcome.ERROR, reason=f"unexpected answer to create_room: {type(result).__name__}")

    def delete_chat(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.delete", "DELETE", f"/api/chat/{chat_id}")

    def read_deleted(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 204), extract=lambda body: True, what="").drop_value()

    def open_chat(self, chat_id: str) -> Exchange:
        # The real frontend sends join_room when it opens a chat; the server sends no ack.
        return Exchange(_frame({"type": "join_room", "chatId": chat_id}), name="chat.join")

    def ask(self, chat_id: str, text: str) -> Exchange:
        agent = self.options.agent_id
        return Exchange(_frame({"type": "message", "chatId": chat_id, "text": text, "agent_id": agent, "images": []}))

    def read_ask(self, reply: HttpReply) -> Judgement[None]:
        raise TypeError("blue asks over the WebSocket; there is no HTTP reply to read")

    # -- real time ----------------------------------------------------------------------------
    def realtime_endpoint(self, session: AuthSession) -> RealtimeEndpoint:
        return RealtimeEndpoint("ws", self.options.ws_path, query={"token": session.access_token})

    def ping(self, token: str) -> Exchange:
        # blue answers the raw text frame `pong`: nothing to correlate beyond "the next pong".
        return Exchange(_frame({"type": "ping"}), until=Pong, name="chat.rtt")

    def decode(self, incoming: Incoming) -> StreamEvent | None:
        if not isinstance(incoming, WsText):
            return None
        if incoming.text == "pong":
            return Pong()
        try:
            frame = json.loads(incoming.text)
        except ValueError:
            return None
        if not isinstance(frame, dict):
            return None
        kind, data = frame.get("type"), frame.get("data")
        if kind == "chunk":
            return Chunk(data if isinstance(data, str) else json.dumps(data))
        if kind == "end":
            return End()
        if kind == "accepted":
            return Accepted(str(data.get("chatId", "")) if isinstance(data, dict) else "")
        if kind == "room_created" and isinstance(data, dict):
            return RoomCreated(str(data.get("chatId", "")))
        if kind == "error":
            return StreamFailed(str(data)[:200])
        if kind == "user_message" and isinstance(data, dict):
            return RoomMessage(str(data.get("text", "")), str(data.get("chatId", "")))
        return None  # tool_* frames and unknown types carry no timing point

    # -- fan-out ------------------------------------------------------------------------------
    def room_create(self, name: str) -> Exchange:
        # A blue chat belongs to its creator and only the owner may post to it; create_room also
        # registers the creating socket on the chat.
        frame = _frame({"type": "create_room", "name": name, "agent_id": self.options.agent_id})
        return Exchange(frame, until=RoomCreated, name="swarm.room")

    def room_send(self, chat_id: str, text: str) -> Exchange:
        # The chat's other sockets get the text as a `user_message` frame (then the answer streams).
        return self.ask(chat_id, text)

    # -- health -------------------------------------------------------------------------------
    def health(self) -> HttpRequest:
        # blue has no health route; `GET /` answers {"message": ...}.
        return HttpRequest("health", "GET", "/", authenticated=False)

    def read_health(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200,), extract=lambda body: field_of(body, "message"), what="message").drop_value()
