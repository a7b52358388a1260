"""green: the NestJS backend with Socket.IO (CONTRACT.md, "green real-time").

Every POST answers 201, including soft failures, so every reader here checks the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadtests.dialects.events import (
    Chunk,
    Connected,
    Disconnected,
    End,
    Joined,
    Pong,
    Refused,
    RoomMessage,
    StreamEvent,
    StreamFailed,
    StreamSubscribed,
)
from loadtests.dialects.judging import (
    Judgement,
    agent_list,
    agent_ref,
    chat_list,
    chat_ref,
    collection_list,
    collection_ref,
    count_of,
    field_of,
    ids_in,
    json_document,
    judge,
    judge_refusal,
)
from loadtests.dialects.jwt_claims import missing_claims, token_expiry
from loadtests.dialects.options import DialectOptions
from loadtests.dialects.steps import (
    MB,
    AgentRef,
    AuthSession,
    ChatRef,
    CollectionRef,
    Credentials,
    Exchange,
    HttpReply,
    HttpRequest,
    Incoming,
    RealtimeEndpoint,
    SioEvent,
    Upload,
    agent_body,
)
from loadtests.recorder.outcomes import Outcome


class GreenDialect:
    color = "green"
    realtime_kind = "sio"
    ready_event = Connected
    opening_required = False
    reopen_after_refresh = True  # JwtWsGuard verifies the handshake token on every guarded event

    def __init__(self, options: DialectOptions | None = None) -> None:
        self.options = options or DialectOptions()
        self._base = self.options.rest_base
        ev = self.options.event
        self._joined, self._pong, self._stream = ev("joined-room"), ev("pong"), ev("stream")
        self._subscribed = ev("stream-subscribed")
        # Agent runs: the specific events only (the server also sends each as a generic `stream-event`).
        self._agent_events = {
            ev("stream-start"): "start",
            ev("stream-chunk"): "chunk",
            ev("stream-complete"): "complete",
            ev("stream-error"): "error",
        }
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

    default_token_ttl_s = 15 * 60

    def mint_claims(self, *, username: str, user_id: str, role: str, now: float, ttl_s: float) -> dict[str, Any]:
        return {"sub": user_id, "username": username, "roles": [role], "iat": int(now), "exp": int(now + ttl_s)}

    def auth_headers(self, session: AuthSession) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.access_token}"}

    def token_problem(self, session: AuthSession) -> str | None:
        # The Socket.IO handshake looks the user up by `username`; role guards read `roles`. The
        # real green's auth.refresh issues access tokens with `sub` alone (CONTRACT.md).
        missing = missing_claims(session.access_token, ("sub", "username", "roles"))
        if not missing:
            return None
        names = " and ".join(f"`{name}`" for name in missing)
        return f"the access token carries no {names} claim (green's auth.refresh issues tokens with `sub` only)"

    # -- chat ---------------------------------------------------------------------------------
    def chat_history(self) -> HttpRequest:
        return HttpRequest("chat.history", "GET", self._path("chats"))

    def read_chat_history(self, reply: HttpReply) -> Judgement[list[ChatRef]]:
        return judge(reply, ok=(200,), extract=chat_list, what="chat list")

    def get_chat(self, chat_id: str) -> None:
        return None  # green has no GET chats/{id}: a client that needs one chat reads the list

    def read_chat(self, reply: HttpReply) -> Judgement[ChatRef]:
        raise TypeError("green has no route that reads one chat")

    def create_chat(self, name: str) -> HttpRequest:
        return HttpRequest("chat.create", "POST", self._path("chats"), json={"name": name})

    def read_created_chat(self, result: HttpReply | StreamEvent) -> Judgement[ChatRef]:
        if not isinstance(result, HttpReply):
            return Judgement(Outcome.ERROR, reason="green creates chats over REST")
        return judge(result, ok=(200, 201), extract=chat_ref, what="chat _id")

    def delete_chat(self, chat_id: str) -> None:
        return None  # green has no DELETE chats/{id}

    def read_deleted(self, reply: HttpReply) -> Judgement[None]:
        raise TypeError("green has no route that deletes a chat")

    def open_chat(self, chat_id: str, *, first: bool) -> Exchange:
        # The answer streams to room chat:<id>; joining it before asking is what the client must do.
        join = SioEvent(self.options.event("join-room"), {"chatId": chat_id})
        return Exchange(join, until=Joined, name="chat.join")

    def ask(self, chat_id: str, text: str) -> HttpRequest:
        return HttpRequest("chat.ask", "POST", self._path(f"chats/{chat_id}/ask"), json={"content": text})

    def add_message(self, chat_id: str, text: str) -> HttpRequest:
        return HttpRequest("chat.message", "POST", self._path(f"chats/{chat_id}/messages"), json={"content": text})

    def read_ask(self, reply: HttpReply) -> Judgement[None]:
        def accepted(body: Any) -> bool | None:
            return True if field_of(body, "status") == "accepted" else None

        return judge(reply, ok=(200, 201), extract=accepted, what='status "accepted"').drop_value()

    # -- real time ----------------------------------------------------------------------------
    def realtime_endpoint(self, session: AuthSession) -> RealtimeEndpoint:
        return RealtimeEndpoint("sio", self.options.socketio_path, auth={"token": session.access_token})

    def opening(self, chat_id: str | None, name: str) -> None:
        return None  # any event may come first; the handshake itself says the socket is ready

    def ping(self, token: str) -> Exchange:
        return Exchange(SioEvent(self.options.event("ping"), token), until=Pong, name="chat.rtt")

    def pong_for(self, pong: Pong, pending: Sequence[str]) -> int | None:
        # green echoes the ping's token; a pong without one (a server that echoes nothing) answers the oldest
        if not pong.token:
            return 0 if pending else None
        try:
            return pending.index(pong.token)
        except ValueError:
            return None  # a late pong of a ping no longer remembered

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
        if event in self._agent_events:
            kind, data = self._agent_events[event], data.get("data") if isinstance(data, dict) else None
            if kind == "chunk":
                chunk = field_of(data, "chunk")
                return Chunk(chunk if isinstance(chunk, str) else "")
            if kind == "complete":
                return End()
            if kind == "error":
                return StreamFailed(str(field_of(data, "error") or "agent run failed")[:200])
            return None  # stream-start
        if event == self._subscribed and isinstance(data, dict):
            return StreamSubscribed(str(data.get("sessionId", "")))
        if event == self._pong:
            text = data if isinstance(data, str) else ""
            return Pong(text.removeprefix("Pong: "))
        if event == self._joined and isinstance(data, dict):
            return Joined(str(data.get("chatId", "")))
        if event == self._message and isinstance(data, dict):
            return RoomMessage(str(data.get("content", "")), str(data.get("chatId", "")))
        if event == "connected":
            return Connected(str(data.get("userId", "")) if isinstance(data, dict) else "")
        if event == "exception":
            # Nest's refusal of a guarded handler: {status: "error", message, cause?: {pattern, data}}
            message = data.get("message") if isinstance(data, dict) else data
            cause = data.get("cause") if isinstance(data, dict) else None
            pattern = cause.get("pattern") if isinstance(cause, dict) else None
            return Refused(str(message or "refused")[:200], str(pattern or "")[:100])
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

    # -- chat housekeeping ---------------------------------------------------------------------
    def rename_chat(self, chat_id: str, name: str) -> None:
        return None  # green has no rename route

    def read_renamed(self, reply: HttpReply) -> Judgement[None]:
        raise TypeError("green has no rename route")

    def pin_chat(self, chat_id: str, pinned: bool) -> None:
        return None  # green has no pin route

    def clear_memory(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.clear_memory", "DELETE", self._path(f"chats/{chat_id}/clear-memory"))

    def memory_stats(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.memory_stats", "GET", self._path(f"chats/{chat_id}/memory/stats"))

    def admin_memory_stats(self) -> None:
        return None  # green's memory stats are per chat

    def role_allows(self, name: str, role: str) -> bool:
        return True  # green's chat, collection and document routes check no role

    def read_json(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 201, 204), extract=json_document, what="JSON document").drop_value()

    # -- uploads and collections -----------------------------------------------------------------
    document_formats = ("txt", "md", "csv", "json", "pdf")

    @property
    def upload_limit_bytes(self) -> int:
        return self.options.upload_limit_bytes or 10 * MB

    @property
    def document_limit_bytes(self) -> int:
        return self.options.document_limit_bytes or 10 * MB

    def upload(self, upload: Upload) -> HttpRequest:
        return HttpRequest("upload.file", "POST", self._path("upload"), upload=upload)

    def read_upload(self, reply: HttpReply, *, over_limit: bool) -> Judgement[str]:
        if over_limit:
            return judge_refusal(reply, refused=(413, 400))
        return judge(reply, ok=(200, 201), extract=lambda body: field_of(body, "url"), what="url")

    def list_collections(self) -> HttpRequest:
        return HttpRequest("collection.list", "GET", self._path("collections"))

    def public_collections(self) -> HttpRequest:
        return HttpRequest("collection.public", "GET", self._path("collections/public"), authenticated=False)

    def read_collections(self, reply: HttpReply) -> Judgement[list[CollectionRef]]:
        return judge(reply, ok=(200,), extract=collection_list, what="collection list")

    def create_collection(self, name: str) -> HttpRequest:
        body = {"name": name, "permission": "PRIVATE"}
        return HttpRequest("collection.create", "POST", self._path("collections"), json=body)

    def read_created_collection(self, reply: HttpReply, name: str) -> Judgement[CollectionRef]:
        return judge(reply, ok=(200, 201), extract=collection_ref, what="collection _id")

    def add_document(self, collection: CollectionRef, upload: Upload) -> HttpRequest:
        path = self._path(f"collections/{collection.collection_id}/documents")
        return HttpRequest("collection.document", "POST", path, upload=upload)

    def read_document(self, reply: HttpReply, *, over_limit: bool) -> Judgement[int]:
        if over_limit:
            return judge_refusal(reply, refused=(413, 400))

        def processed(body: Any) -> int | None:
            # 201 even when processing failed: the body's status decides.
            data = field_of(body, "data")
            status = field_of(data, "status")
            if status == "failed":
                return -1
            return field_of(data, "totalChunks") if status == "completed" else None

        judged = judge(reply, ok=(200, 201), extract=processed, what='data.status "completed"')
        if judged.value == -1:
            message = field_of(field_of(reply.json(), "data"), "message") or "processing failed"
            return Judgement(Outcome.SOFT_FAILURE, reason=f"HTTP {reply.status} but status failed: {message}")
        return judged

    def list_documents(self, collection: CollectionRef) -> HttpRequest:
        path = self._path(f"collections/{collection.collection_id}/documents")
        return HttpRequest("collection.documents", "GET", path, params={"limit": "20"})

    def read_documents(self, reply: HttpReply) -> Judgement[list[str]]:
        def document_ids(body: Any) -> list[str] | None:
            return ids_in(field_of(body, "data") if isinstance(body, dict) else None, "documentId")

        return judge(reply, ok=(200,), extract=document_ids, what="data list")

    def delete_documents(self, collection: CollectionRef, ids: list[str]) -> HttpRequest:
        # One document per call: DELETE collections/{id}/documents/{documentId}.
        path = self._path(f"collections/{collection.collection_id}/documents/{ids[0]}")
        return HttpRequest("collection.document_delete", "DELETE", path)

    def collection_stats(self, collection: CollectionRef) -> HttpRequest:
        return HttpRequest("collection.stats", "GET", self._path(f"collections/{collection.collection_id}/stats"))

    def update_collection(self, collection: CollectionRef, permission: str) -> HttpRequest:
        path = self._path(f"collections/{collection.collection_id}")
        return HttpRequest("collection.update", "PUT", path, json={"permission": permission})

    def delete_collection(self, collection: CollectionRef) -> HttpRequest:
        return HttpRequest("collection.delete", "DELETE", self._path(f"collections/{collection.collection_id}"))

    def read_collection_deleted(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 204), extract=lambda body: True, what="").drop_value()

    def search(self, collection: CollectionRef, query: str) -> HttpRequest:
        path = self._path(f"collections/{collection.collection_id}/search")
        return HttpRequest("collection.search", "GET", path, params={"q": query, "limit": "10"})

    def read_search(self, reply: HttpReply) -> Judgement[int]:
        return judge(reply, ok=(200,), extract=lambda body: count_of(body, "data", "chunks"), what="data.chunks")

    # -- agents ---------------------------------------------------------------------------------
    def list_agents(self) -> HttpRequest:
        return HttpRequest("agent.list", "GET", self._path("agents"))

    def read_agents(self, reply: HttpReply) -> Judgement[list[AgentRef]]:
        return judge(reply, ok=(200,), extract=agent_list, what="agent list")

    def agent_templates(self) -> None:
        return None  # green has no templates route

    def read_templates(self, reply: HttpReply) -> Judgement[list[str]]:
        raise TypeError("green has no templates route")

    def get_agent(self, agent_id: str) -> HttpRequest:
        return HttpRequest("agent.get", "GET", self._path(f"agents/{agent_id}"))

    def agent_from_template(self, template_id: str, name: str) -> None:
        return None  # green has no templates

    def rate_agent(self, agent_id: str, rating: int) -> None:
        return None  # green agents have no rating

    def use_agent(self, agent_id: str) -> None:
        return None  # green counts no agent use

    def create_agent(self, name: str) -> HttpRequest:
        return HttpRequest("agent.create", "POST", self._path("agents"), json=agent_body(name))

    def read_agent(self, reply: HttpReply) -> Judgement[AgentRef]:
        return judge(reply, ok=(200, 201), extract=agent_ref, what="agent _id")

    def update_agent(self, agent_id: str, description: str) -> HttpRequest:
        return HttpRequest("agent.update", "PUT", self._path(f"agents/{agent_id}"), json={"description": description})

    def delete_agent(self, agent_id: str) -> HttpRequest:
        return HttpRequest("agent.delete", "DELETE", self._path(f"agents/{agent_id}"))

    def read_agent_deleted(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 204), extract=lambda body: True, what="").drop_value()

    def subscribe_agent_run(self, session_id: str) -> Exchange:
        event = SioEvent(self.options.event("subscribe-stream"), {"sessionId": session_id})
        return Exchange(event, until=StreamSubscribed, name="agent.subscribe")

    def run_agent(self, *, agent_id: str, chat_id: str, session_id: str, user_id: str, text: str) -> HttpRequest:
        body = {"agentId": agent_id, "sessionId": session_id, "userId": user_id, "message": text}
        return HttpRequest("agent.execute", "POST", self._path("agents/execute-streaming"), json=body)

    def read_agent_started(self, reply: HttpReply) -> Judgement[None]:
        def streaming(body: Any) -> bool | None:
            return True if field_of(body, "status") == "streaming" else None

        return judge(reply, ok=(200, 201), extract=streaming, what='status "streaming"').drop_value()

    def agent_status(self, session_id: str) -> HttpRequest:
        return HttpRequest("agent.status", "GET", self._path(f"agents/streaming-status/{session_id}"))

    def cancel_agent_run(self, session_id: str) -> HttpRequest:
        return HttpRequest("agent.cancel", "POST", self._path(f"agents/cancel-streaming/{session_id}"))

    def read_agent_status(self, reply: HttpReply) -> Judgement[None]:
        def known(body: Any) -> bool | None:
            return True if isinstance(body, dict) and "isActive" in body else None

        return judge(reply, ok=(200,), extract=known, what="isActive").drop_value()

    # -- admin and stats ------------------------------------------------------------------------
    def admin_list(self) -> HttpRequest:
        return HttpRequest("admin.list", "GET", self._path("admins/all"))

    def stats_total(self) -> HttpRequest:
        return HttpRequest("stats.total", "GET", self._path("stats/total"))

    def stats_daily(self) -> HttpRequest:
        return HttpRequest("stats.daily", "GET", self._path("stats/daily"))

    def stats_range(self, start_date: str, end_date: str) -> HttpRequest:
        params = {"start_date": start_date, "end_date": end_date}
        return HttpRequest("stats.range", "GET", self._path("stats"), params=params)

    def read_admin(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200,), extract=json_document, what="JSON document").drop_value()

    # -- health -------------------------------------------------------------------------------
    def health(self) -> HttpRequest:
        return HttpRequest("health", "GET", "/health", authenticated=False)

    def health_detailed(self) -> HttpRequest:
        return HttpRequest("health.detailed", "GET", "/health/detailed", authenticated=False)

    def read_health(self, reply: HttpReply) -> Judgement[None]:
        def healthy(body: Any) -> bool | None:
            return True if field_of(body, "status") == "ok" else None

        return judge(reply, ok=(200,), extract=healthy, what='status "ok"').drop_value()
