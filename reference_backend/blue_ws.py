"""blue's native chat WebSocket (``/api/chat/ws`` and ``/ws``): JSON text frames, room protocol.

The real server runs the LLM in a Celery worker that publishes frames to Redis, and every API
worker relays them to each socket registered on the chat. Here the relay is in-process: a
``BlueHub`` maps chat ids to sockets and a background task plays the worker.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from reference_backend.auth import TokenError
from reference_backend.faults import CONNECT_REFUSED, refuse_connection
from reference_backend.settings import BUILTIN_AGENT_ID
from reference_backend.state import BackendState
from reference_backend.store import Agent, Chat, is_object_id

POLICY_VIOLATION = 1008
INVALID_PAYLOAD = 1007
TRY_AGAIN_LATER = 1013
_END = json.dumps({"type": "end"})


def _frame(kind: str, data: Any = None) -> str:
    return json.dumps({"type": kind} if data is None else {"type": kind, "data": data})


def _json_frame(text: str | None) -> dict[str, Any] | None:
    """A text frame as a JSON object, or ``None`` (binary, malformed, or not an object)."""
    if text is None:
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def _images(frame: dict[str, Any]) -> list[dict[str, Any]]:
    images = frame.get("images")
    return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []


class BlueConnection:
    __slots__ = ("_lock", "room", "user_id", "username", "websocket")

    def __init__(self, websocket: WebSocket, user_id: str, username: str) -> None:
        self.websocket = websocket
        self.user_id = user_id
        self.username = username
        self.room: str | None = None
        # The receive loop (pong, accepted) and stream tasks (chunks) write to the same socket.
        self._lock = asyncio.Lock()

    async def send_text(self, text: str) -> None:
        async with self._lock:
            await self.websocket.send_text(text)


class BlueHub:
    """Which sockets are registered on which chat. A socket is in one chat at a time."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[BlueConnection]] = {}

    def join(self, conn: BlueConnection, chat_id: str) -> None:
        if conn.room == chat_id:
            return
        self.leave(conn)
        self._rooms.setdefault(chat_id, set()).add(conn)
        conn.room = chat_id

    def leave(self, conn: BlueConnection) -> None:
        if conn.room is None:
            return
        members = self._rooms.get(conn.room)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._rooms[conn.room]
        conn.room = None

    async def publish(self, chat_id: str, text: str, *, skip: BlueConnection | None = None) -> None:
        for conn in list(self._rooms.get(chat_id, ())):
            if conn is skip:
                continue
            try:
                await conn.send_text(text)
            except Exception:  # a socket that went away mid-stream; the others still get the frame
                self.leave(conn)


class BlueChatSocket:
    """The WebSocket endpoint's logic, one instance per app; ``handle`` is the endpoint."""

    def __init__(self, state: BackendState) -> None:
        self.state = state
        self.hub = BlueHub()
        self.missing = frozenset(state.settings.faults.deviations.missing_events)

    async def handle(self, websocket: WebSocket) -> None:
        # The token is checked before accept, as the real server does. Closing before accept makes
        # the ASGI server refuse the handshake (HTTP 403): a client sees the refusal, not code 1008.
        token = websocket.query_params.get("token")
        if not token:
            await websocket.close(code=POLICY_VIOLATION, reason="No token provided")
            return
        try:
            claims = self.state.tokens.verify(token)
        except TokenError as exc:
            await websocket.close(code=POLICY_VIOLATION, reason=f"Token error: {exc}")
            return
        if refuse_connection(self.state.settings.faults, self.state.fault_rng):
            self.state.metrics.injected_faults.labels("connect_refused").inc()
            await websocket.close(code=TRY_AGAIN_LATER, reason=CONNECT_REFUSED)
            return
        await websocket.accept()
        conn = BlueConnection(websocket, claims["sub"], str(claims.get("username", "")))
        gauge = self.state.metrics.realtime_connections
        gauge.inc()
        try:
            await self._serve(conn)
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.leave(conn)
            gauge.dec()

    async def _serve(self, conn: BlueConnection) -> None:
        first = await conn.websocket.receive()
        if first["type"] == "websocket.disconnect":
            return
        if not await self._open(conn, _json_frame(first.get("text"))):
            return
        while True:
            message = await conn.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = _json_frame(message.get("text"))
            if frame is None:
                continue  # malformed JSON and binary frames are ignored after the first frame
            kind = frame.get("type", "message")
            if kind in self.missing:
                continue
            if kind == "ping":
                await conn.send_text("pong")
            elif kind == "create_room":
                await self._create_room(conn, frame, close_on_error=False)
            elif kind == "message":
                await self._message(conn, frame)
            # Anything else (a later join_room included) is ignored, as the real loop does.

    async def _open(self, conn: BlueConnection, frame: dict[str, Any] | None) -> bool:
        """The first frame decides the flow: join_room, create_room, or a message with text.
        Anything else closes the socket with 1007; ``False`` when the socket was closed."""
        kind = frame.get("type") if frame is not None else None
        if kind in self.missing:
            kind = None  # a planted missing frame type: this server does not know it
        if kind == "join_room":
            return await self._join_first(conn, frame.get("chatId"))  # type: ignore[union-attr]
        if kind == "create_room":
            return await self._create_room(conn, frame, close_on_error=True) is not None  # type: ignore[arg-type]
        text = (frame.get("message") or frame.get("text")) if frame is not None else None
        if frame is None or not isinstance(text, str) or not text:
            await conn.websocket.close(code=INVALID_PAYLOAD, reason="Invalid initial message")
            return False
        chat_id = frame.get("session_id") or frame.get("chatId")
        if not is_object_id(chat_id):
            await conn.websocket.close(code=INVALID_PAYLOAD, reason="Missing session_id for initial message")
            return False
        # The legacy first-message flow: the message is stored and acknowledged, but no agent is
        # loaded, so the real worker never produces an answer (no chunk, no end).
        self.hub.join(conn, chat_id)
        chat = self.state.store.get_chat(chat_id)
        if chat is not None and chat.user_id == conn.user_id:
            self.state.store.add_message(chat, "user", text, _images(frame))
        await conn.send_text(_frame("accepted", {"chatId": chat_id}))
        return True

    async def _join_first(self, conn: BlueConnection, chat_id: object) -> bool:
        if not is_object_id(chat_id):
            await conn.websocket.close(code=INVALID_PAYLOAD, reason="Invalid chatId for join_room")
            return False
        assert isinstance(chat_id, str)
        chat = self.state.store.get_chat(chat_id)
        if chat is None:
            await conn.send_text(_frame("error", "Chat not found"))
            await conn.websocket.close(code=INVALID_PAYLOAD, reason="Chat not found")
            return False
        if chat.user_id != conn.user_id:
            await conn.send_text(_frame("error", "Not authorized to access this chat"))
            await conn.websocket.close(code=POLICY_VIOLATION, reason="Not authorized")
            return False
        self.hub.join(conn, chat.id)
        await conn.send_text(_frame("room_joined", {"chatId": chat.id}))
        return True

    def _agent(self, frame: dict[str, Any], fallback: str | None) -> tuple[str, Agent | None]:
        agent_id = frame.get("agent_id") or frame.get("agentId") or fallback or BUILTIN_AGENT_ID
        agent = self.state.store.get_agent(agent_id) if isinstance(agent_id, str) else None
        return str(agent_id), agent

    async def _create_room(self, conn: BlueConnection, frame: dict[str, Any], *, close_on_error: bool) -> Chat | None:
        agent_id, agent = self._agent(frame, None)
        if agent is None:
            await conn.send_text(_frame("error", f"Failed to load agent: {agent_id} not found"))
            if close_on_error:
                await conn.websocket.close()
            return None
        name = frame.get("name")
        chat = self.state.store.create_chat(
            conn.user_id, name if isinstance(name, str) and name else "New Chat", agent.id
        )
        await conn.send_text(_frame("room_created", {"chatId": chat.id}))
        self.hub.join(conn, chat.id)
        return chat

    async def _message(self, conn: BlueConnection, frame: dict[str, Any]) -> None:
        store = self.state.store
        text = frame.get("text") or frame.get("message")
        if not isinstance(text, str) or not text:
            return  # nothing to answer
        chat_id = frame.get("chatId") or frame.get("session_id") or conn.room
        if not is_object_id(chat_id):
            await conn.send_text(_frame("error", "Invalid or missing chatId"))
            return
        chat = store.get_chat(chat_id)  # type: ignore[arg-type]
        if chat is None:
            await conn.send_text(_frame("error", "Chat not found"))
            return
        if chat.user_id != conn.user_id:
            await conn.send_text(_frame("error", "Not authorized to access this chat"))
            return
        _, agent = self._agent(frame, chat.agent_id)
        if agent is None:
            await conn.send_text(_frame("error", "Agent not found"))
            return
        self.hub.join(conn, chat.id)  # a message to another chat moves the socket there
        store.add_message(chat, "user", text, _images(frame))
        await conn.send_text(_frame("accepted", {"chatId": chat.id}))
        self.state.spawn(self._answer(chat))

    async def _answer(self, chat: Chat) -> None:
        """Play the Celery worker: stream the answer to every socket on the chat, save it, end."""
        state = self.state
        plan = state.llm.plan()
        state.metrics.active_streams.inc()
        try:
            async for delta in state.llm.deltas(plan):
                await self.hub.publish(chat.id, _frame("chunk", delta))
            if plan.send_end:
                state.store.add_message(chat, "assistant", plan.text)
                await self.hub.publish(chat.id, _END)
        finally:
            state.metrics.active_streams.dec()
