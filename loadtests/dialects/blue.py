"""blue: the FastAPI backend with its native WebSocket (CONTRACT.md, "blue real-time")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loadtests.dialects.events import (
    Accepted,
    Chunk,
    End,
    Joined,
    Pong,
    RoomCreated,
    StreamEvent,
    StreamFailed,
)
from loadtests.dialects.judging import (
    Judgement,
    agent_list,
    agent_ref,
    chat_list,
    chat_ref,
    collection_list,
    collection_ref,
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
    Upload,
    WsText,
    agent_body,
)
from loadtests.recorder.outcomes import Outcome

# Routes blue refuses to Students by design (CONTRACT.md, research: collection.py, chat.py).
_NOT_FOR_STUDENTS = frozenset({"collection.delete", "collection.document_delete", "admin.memory_stats"})


def _frame(payload: dict[str, Any]) -> WsText:
    return WsText(json.dumps(payload, separators=(",", ":")))


class BlueDialect:
    color = "blue"
    realtime_kind = "ws"
    ready_event = None
    opening_required = True
    reopen_after_refresh = False  # the token is checked once, at the handshake

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

    default_token_ttl_s = 24 * 3600

    def mint_claims(self, *, username: str, user_id: str, role: str, now: float, ttl_s: float) -> dict[str, Any]:
        return {"sub": user_id, "username": username, "nameID": username, "role": role,
                "iat": int(now), "exp": int(now + ttl_s)}  # fmt: skip

    def auth_headers(self, session: AuthSession) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.access_token}"}

    def token_problem(self, session: AuthSession) -> str | None:
        missing = missing_claims(session.access_token, ("sub", "username", "nameID", "role"))
        return f"the access token has no {', '.join(missing)} claim" if missing else None

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

    def open_chat(self, chat_id: str, *, first: bool) -> Exchange | None:
        # join_room is answered (room_joined) only as a socket's first frame and ignored after it;
        # a socket already open moves to another chat with the next message, which names the chat.
        if not first:
            return None
        return Exchange(_frame({"type": "join_room", "chatId": chat_id}), until=Joined, name="chat.join")

    def ask(self, chat_id: str, text: str) -> Exchange:
        agent = self.options.agent_id
        return Exchange(_frame({"type": "message", "chatId": chat_id, "text": text, "agent_id": agent, "images": []}))

    def read_ask(self, reply: HttpReply) -> Judgement[None]:
        raise TypeError("blue asks over the WebSocket; there is no HTTP reply to read")

    def add_message(self, chat_id: str, text: str) -> None:
        return None  # messages are sent over the WebSocket

    # -- real time ----------------------------------------------------------------------------
    def realtime_endpoint(self, session: AuthSession) -> RealtimeEndpoint:
        return RealtimeEndpoint("ws", self.options.ws_path, query={"token": session.access_token})

    def opening(self, chat_id: str | None, name: str) -> Exchange | None:
        # A socket's first frame must open a chat, or the server closes it at the first ping (1007).
        return self.create_chat(name) if chat_id is None else self.open_chat(chat_id, first=True)

    def ping(self, token: str) -> Exchange:
        # blue answers the raw text frame `pong`: nothing to correlate beyond "the next pong".
        return Exchange(_frame({"type": "ping"}), until=Pong, name="chat.rtt")

    def pong_for(self, pong: Pong, pending: Sequence[str]) -> int | None:
        return 0 if pending else None  # a bare `pong`, in the order the pings were sent: the oldest

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
        if kind == "room_joined" and isinstance(data, dict):
            return Joined(str(data.get("chatId", "")))
        if kind == "error":
            return StreamFailed(str(data)[:200])
        return None  # tool_* frames and unknown types carry no timing point

    # -- fan-out ------------------------------------------------------------------------------
    def room_create(self, name: str) -> None:
        return None  # a blue chat belongs to one user: other users' sockets are refused (1008)

    def room_send(self, chat_id: str, text: str) -> None:
        # The server never relays a user's message: a chat's other sockets see only the streamed
        # answer (CONTRACT.md), so there is no fan-out of a message to time on blue.
        return None

    # -- chat housekeeping ---------------------------------------------------------------------
    def rename_chat(self, chat_id: str, name: str) -> HttpRequest:
        return HttpRequest("chat.rename", "POST", "/api/chat/update-name", json={"chat_id": chat_id, "name": name})

    def read_renamed(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200,), extract=chat_ref, what="chat id").drop_value()

    def pin_chat(self, chat_id: str, pinned: bool) -> HttpRequest:
        return HttpRequest("chat.pin", "POST", f"/api/chat/{chat_id}/pin", json={"isPinned": pinned})

    def clear_memory(self, chat_id: str) -> HttpRequest:
        return HttpRequest("chat.clear_memory", "POST", f"/api/chat/{chat_id}/clear-memory")

    def memory_stats(self, chat_id: str) -> None:
        return None  # blue's memory stats cover every chat, for admins: `admin_memory_stats`

    def admin_memory_stats(self) -> HttpRequest:
        return HttpRequest("admin.memory_stats", "GET", "/api/chat/memory/stats")

    def role_allows(self, name: str, role: str) -> bool:
        return role != "Students" or name not in _NOT_FOR_STUDENTS

    def read_json(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 201, 204), extract=json_document, what="JSON document").drop_value()

    # -- uploads and collections -----------------------------------------------------------------
    document_formats = ("txt", "csv", "pdf", "docx")

    @property
    def upload_limit_bytes(self) -> int:
        return self.options.upload_limit_bytes or 10 * MB  # 5 MB only in builds before July 2025

    @property
    def document_limit_bytes(self) -> int | None:
        return self.options.document_limit_bytes  # the real blue sets none (nginx allows 100 MB)

    def upload(self, upload: Upload) -> HttpRequest:
        return HttpRequest("upload.file", "POST", "/api/upload", upload=upload)

    def read_upload(self, reply: HttpReply, *, over_limit: bool) -> Judgement[str]:
        if over_limit:
            return judge_refusal(reply, refused=(400, 413))
        return judge(reply, ok=(200, 201), extract=lambda body: field_of(body, "url"), what="url")

    def list_collections(self) -> HttpRequest:
        return HttpRequest("collection.list", "GET", "/api/collections/")

    def public_collections(self) -> HttpRequest:
        return HttpRequest("collection.public", "GET", "/api/collections/public", authenticated=False)

    def read_collections(self, reply: HttpReply) -> Judgement[list[CollectionRef]]:
        return judge(reply, ok=(200,), extract=collection_list, what="collection list")

    def create_collection(self, name: str) -> HttpRequest:
        body = {"name": name, "permission": "PRIVATE"}
        return HttpRequest("collection.create", "POST", "/api/collections/", json=body)

    def read_created_collection(self, reply: HttpReply, name: str) -> Judgement[CollectionRef]:
        return judge(reply, ok=(200, 201), extract=collection_ref, what="collection id")

    def add_document(self, collection: CollectionRef, upload: Upload) -> HttpRequest:
        # Documents are addressed by collection name here, and processed within the request.
        form = {"modelId": "default", "collectionName": collection.name}
        return HttpRequest("collection.document", "POST", "/api/training/upload", upload=upload, form=form)

    def read_document(self, reply: HttpReply, *, over_limit: bool) -> Judgement[int]:
        if over_limit:
            return judge_refusal(reply, refused=(400, 413))
        return judge(reply, ok=(200, 201), extract=lambda body: field_of(body, "chunks"), what="chunks")

    def list_documents(self, collection: CollectionRef) -> HttpRequest:
        path = f"/api/collections/{collection.collection_id}/documents"
        return HttpRequest("collection.documents", "GET", path, params={"limit": "20", "offset": "0"})

    def read_documents(self, reply: HttpReply) -> Judgement[list[str]]:
        return judge(reply, ok=(200,), extract=lambda body: ids_in(body, "id"), what="document list")

    def delete_documents(self, collection: CollectionRef, ids: list[str]) -> HttpRequest:
        path = f"/api/collections/{collection.collection_id}/documents"
        return HttpRequest("collection.document_delete", "DELETE", path, json={"document_ids": ids})

    def search(self, collection: CollectionRef, query: str) -> None:
        return None  # blue has no search route: retrieval happens inside a chat turn

    def read_search(self, reply: HttpReply) -> Judgement[int]:
        raise TypeError("blue has no search route")

    def collection_stats(self, collection: CollectionRef) -> None:
        return None  # blue has no per-collection stats route

    def update_collection(self, collection: CollectionRef, permission: str) -> HttpRequest:
        path = f"/api/collections/{collection.collection_id}"
        return HttpRequest("collection.update", "PUT", path, json={"permission": permission})

    def delete_collection(self, collection: CollectionRef) -> HttpRequest:
        return HttpRequest("collection.delete", "DELETE", f"/api/collections/{collection.collection_id}")

    def read_collection_deleted(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 204), extract=lambda body: True, what="").drop_value()

    # -- agents ---------------------------------------------------------------------------------
    def list_agents(self) -> HttpRequest:
        return HttpRequest("agent.list", "GET", "/api/agents/")

    def read_agents(self, reply: HttpReply) -> Judgement[list[AgentRef]]:
        return judge(reply, ok=(200,), extract=agent_list, what="agent list")

    def agent_templates(self) -> HttpRequest:
        return HttpRequest("agent.templates", "GET", "/api/agents/templates")

    def read_templates(self, reply: HttpReply) -> Judgement[list[str]]:
        return judge(reply, ok=(200,), extract=lambda body: ids_in(body, "id"), what="template list")

    def create_agent(self, name: str) -> HttpRequest:
        return HttpRequest("agent.create", "POST", "/api/agents/", json=agent_body(name))

    def read_agent(self, reply: HttpReply) -> Judgement[AgentRef]:
        return judge(reply, ok=(200, 201), extract=agent_ref, what="agent id")

    def get_agent(self, agent_id: str) -> HttpRequest:
        return HttpRequest("agent.get", "GET", f"/api/agents/{agent_id}")

    def agent_from_template(self, template_id: str, name: str) -> HttpRequest:
        body = {"templateId": template_id, "name": name}
        return HttpRequest("agent.from_template", "POST", "/api/agents/from-template", json=body)

    def rate_agent(self, agent_id: str, rating: int) -> HttpRequest:
        return HttpRequest("agent.rate", "POST", f"/api/agents/{agent_id}/rate", params={"rating": str(rating)})

    def use_agent(self, agent_id: str) -> HttpRequest:
        return HttpRequest("agent.use", "POST", f"/api/agents/{agent_id}/use")

    def update_agent(self, agent_id: str, description: str) -> HttpRequest:
        return HttpRequest("agent.update", "PUT", f"/api/agents/{agent_id}", json={"description": description})

    def delete_agent(self, agent_id: str) -> HttpRequest:
        return HttpRequest("agent.delete", "DELETE", f"/api/agents/{agent_id}")

    def read_agent_deleted(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200, 204), extract=lambda body: True, what="").drop_value()

    def subscribe_agent_run(self, session_id: str) -> None:
        return None  # the answer streams on the chat socket itself

    def run_agent(self, *, agent_id: str, chat_id: str, session_id: str, user_id: str, text: str) -> Exchange:
        # blue runs agents only through chat: a message carrying the agent's id.
        frame = {"type": "message", "chatId": chat_id, "text": text, "agent_id": agent_id, "images": []}
        return Exchange(_frame(frame), name="agent.run")

    def read_agent_started(self, reply: HttpReply) -> Judgement[None]:
        raise TypeError("blue starts agent runs over the WebSocket")

    def agent_status(self, session_id: str) -> None:
        return None

    def cancel_agent_run(self, session_id: str) -> None:
        return None  # a blue run is a chat turn: nothing to cancel

    def read_agent_status(self, reply: HttpReply) -> Judgement[None]:
        raise TypeError("blue has no streaming-status route")

    # -- admin and stats ------------------------------------------------------------------------
    def admin_list(self) -> HttpRequest:
        return HttpRequest("admin.list", "GET", "/api/admin/all")

    def stats_total(self) -> HttpRequest:
        return HttpRequest("stats.total", "GET", "/api/stats/stats/total")

    def stats_daily(self) -> HttpRequest:
        return HttpRequest("stats.daily", "GET", "/api/stats/stats/daily")

    def stats_range(self, start_date: str, end_date: str) -> HttpRequest:
        params = {"start_date": start_date, "end_date": end_date}
        return HttpRequest("stats.range", "GET", "/api/stats/stats", params=params)

    def read_admin(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200,), extract=json_document, what="JSON document").drop_value()

    # -- health -------------------------------------------------------------------------------
    def health(self) -> HttpRequest:
        # blue has no health route; `GET /` answers {"message": ...}.
        return HttpRequest("health", "GET", "/", authenticated=False)

    def health_detailed(self) -> None:
        return None

    def read_health(self, reply: HttpReply) -> Judgement[None]:
        return judge(reply, ok=(200,), extract=lambda body: field_of(body, "message"), what="message").drop_value()
