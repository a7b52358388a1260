"""green: the NestJS backend with Socket.IO (CONTRACT.md, "green real-time").

Every POST answers 201, including soft failures, so every reader here checks the body.
"""

from __future__ import annotations

from typing import Any

from loadtests.dialects.base import (
    AuthSession,
    ChatRef,
    Chunk,
    Connected,
    Credentials,
    Disconnected,
    End,
    Exchange,
    HttpReply,
    HttpRequest,
    Incoming,
    Joined,
    Judgement,
    Outcome,
    Pong,
    RealtimeEndpoint,
    RoomMessage,
    SioEvent,
    StreamEvent,
    StreamFailed,
    chat_list,
    chat_ref,
    field_of,
    judge,
)
from loadtests.dialects.jwt_claims import token_expiry
from loadtests.dialects.options import DialectOptions


class GreenDialect:
    color = "green"
    realtime_kind = "sio"
    ready_event = Connected

    def __init__(self, options: DialectOptions | None = None) -> None:
        self.options = options or DialectOptions()
        self._base = self.options.rest_base
        ev = self.options.event
        self._joined, self._pong, self._stream = ev("joined-room"), ev("pong"), ev("stream")
        self._message = ev("message")

    def _path(self, path: str) -> str:
        return f"{self._base}/{path}"

    # -- auth ---------------------------------------------------------------------------------
    def login(self, credentials: Credentials) -> HttpRequest:
        body = {"username": credentials.username, "password": credentials.password}
        return HttpRequest("auth.login", "POST", self._path("auth/login"), json=body, authenticated=False)

    def _read_tokens(self, reply: HttpReply, user_id: str = "") -> Judgement[AuthSession]:
        def session(body: Any) -> AuthSession | None:
            access, refresh = field_of(body, "accessToken"), field_of(body, "refreshToken")
            if not (isinstance(access, str) and isinstance(refresh, str)):
                return None
            uid = field_of(field_of(body, "user"), "_id", "id", "userId") or user_id
            return AuthSession(access, refresh, token_expiry(access), str(uid))

        return judge(reply, ok=(200, 201), extract=session, what="accessToken/refreshToken")

    def read_login(self, reply: HttpReply) -> Judgement[AuthSession]:
        return self._read_tokens(reply)

    def refresh(self, session: AuthSession) -> HttpRequest:
        body = {"refreshToken": session.refresh_token or ""}
        return HttpRequest("auth.refresh", "POST", self._path("auth/refresh"), json=body, authenticated=False)

    def read_refresh(self, reply: HttpReply, previous: AuthSession) -> Judgement[AuthSession]:
        return self._read_tokens(reply, previous.user_id)

    def me(self) -> HttpRequest:
        return HttpRequest("auth.me", "GET", self._path("auth/me"))

    def read_me(self, reply: HttpReply) -> Judgement[str]:
        return judge(reply, ok=(200,), extract=lambda body: field_of(body, "userId"), what="userId")

    def auth_headers(self, session: AuthSession) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.access_token}"}

    # -- chat ---------------------------------------------------------------------------------
    def chat_history(self) -> HttpRequest:
        return HttpRequest("chat.history", "GET", self._path("chats"))

    def read_chat_history(self, reply: HttpReply) -> Judgement[list[ChatRef]]:
        return judge(reply, ok=(200,), extract=chat_list, what="chat list")

    def get_chat(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.get", "GET", self._path(f"chats/{chat_id}"))

    def read_chat(self, reply: HttpReply) -> Judgement[ChatRef]:
        return judge(reply, ok=(200,), extract=chat_ref, what="chat _id")

    def create_chat(self, name: str) -> HttpRequest:
        return HttpRequest("chat.create", "POST", self._path("chats"), json={"name": name})

    def read_created_chat(self, result: HttpReply | StreamEvent) -> Judgement[ChatRef]:
        if not isinstance(result, HttpReply):
            return Judgement(Outcome.ERROR, reason="green creates chats over REST")
        return judge(result, ok=(200, 201), extract=chat_ref, what="chat _id")

    def delete_chat(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.delete", "DELETE", self._path(f"chats/{chat_id}"))

    def read_deleted(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 204), extract=lambda body: True, what="").drop_value()

    def open_chat(self, chat_id: str) -> Exchange:
        # The answer streams to room chat:<id>; joining it before asking is what the client must do.
        join = SioEvent(self.options.event("join-room"), {"chatId": chat_id})
        return Exchange(join, until=Joined, name="chat.join")

    def ask(self, chat_id: str, text: str) -> HttpRequest:
        return HttpRequest("chat.ask", "POST", self._path(f"chats/{chat_id}/ask"), json={"content": text})

    def read_ask(self, reply: HttpReply) -> Judgement[None]:
        def accepted(body: Any) -> bool | None:
            return True if field_of(body, "status") == "accepted" else None

        return judge(reply, ok=(200, 201), extract=accepted, what='status "accepted"').drop_value()

    # -- real time ----------------------------------------------------------------------------
    def realtime_endpoint(self, session: AuthSession) -> RealtimeEndpoint:
        return RealtimeEndpoint("sio", self.options.socketio_path, auth={"token": session.access_token})

    def ping(self, token: str) -> Exchange:
        return Exchange(SioEvent(self.options.event("ping"), token), until=Pong, name="chat.rtt")

    def decode(self, incoming: Incoming) -> StreamEvent | None:
        if not isinstance(incoming, SioEvent):
            return None
        event, data = incoming.event, incoming.data
        if event == self._stream and isinstance(data, dict):
            kind = data.get("type")
            if kind == "chunk":
                chunk = data.get("data")
                return Chunk(chunk if isinstance(chunk, str) else str(chunk))
            if kind == "end":
                return End()
            if kind == "error":
                detail = data.get("data")
                message = detail.get("message") if isinstance(detail, dict) else detail
                return StreamFailed(str(message)[:200])
            return None  # {type: "status"} carries no timing point
        if event == self._pong:
            text = data if isinstance(data, str) else ""
            return Pong(text.removeprefix("Pong: "))
        if event == self._joined and isinstance(data, dict):
            return Joined(str(data.get("chatId", "")))
        if event == self._message and isinstance(data, dict):
            return RoomMessage(str(data.get("content", "")), str(data.get("chatId", "")))
        if event == "connected":
            return Connected(str(data.get("userId", "")) if isinstance(data, dict) else "")
        if event == "error":
            message = data.get("message") if isinstance(data, dict) else data
            return StreamFailed(str(message)[:200])
        if event == "disconnect":
            return Disconnected(str(data or ""))
        return None

    # -- fan-out ------------------------------------------------------------------------------
    def room_create(self, name: str) -> None:
        # A green room is a chat id that sockets join; nothing has to exist before the join.
        return None

    def room_send(self, chat_id: str, text: str) -> Exchange:
        # The room (sender included) gets `message`; the sender also gets `message-sent`.
        return Exchange(SioEvent(self.options.event("send-message"), {"chatId": chat_id, "content": text}))

    # -- health -------------------------------------------------------------------------------
    def health(self) -> HttpRequest:
        return HttpRequest("health", "GET", "/health", authenticated=False)

    def read_health(self, reply: HttpReply) -> Judgement[None]:
        def healthy(body: Any) -> bool | None:
            return True if field_of(body, "status") == "ok" else None

        return judge(reply, ok=(200,), extract=healthy, what='status "ok"').drop_value()
