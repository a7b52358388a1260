"""blue's native chat WebSocket (``/api/chat/ws`` and ``/ws``): JSON text frames, room protocol.

The real server runs the LLM in a Celery worker that publishes frames to Redis, and every API
worker relays them to each socket registered on the chat. Here the relay is in-process: a
``BlueHub`` maps chat ids to sockets and a background task plays the worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from reference_backend.auth import TokenError
from reference_backend.faults import CONNECT_REFUSED, refuse_connection
from reference_backend.settings import BUILTIN_AGENT_ID
from reference_backend.state import BackendState
from reference_backend.store import Agent, Chat, is_object_id, iso

POLICY_VIOLATION = 1008
INVALID_PAYLOAD = 1007
TRY_AGAIN_LATER = 1013
_END = json.dumps({"type": "end"})


def _frame(kind: str, data: Any = None) -> str:
    return json.dumps({"type": kind} if data is None else {"type": kind, "data": data})


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
        first = True
        while True:
            message = await conn.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                continue  # binary frames mean nothing in this protocol
            if raw == "ping":
                await conn.send_text("pong")
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                if first:
                    await conn.websocket.close(code=INVALID_PAYLOAD, reason="Invalid first frame")
                    return
                continue
            first = False
            if not await self._dispatch(conn, frame):
                return

    async def _dispatch(self, conn: BlueConnection, frame: dict[str, Any]) -> bool:
        """Handle one frame; ``False`` when the socket was closed."""
        kind = frame.get("type")
        if kind == "ping":
            await conn.send_text("pong")
        elif kind == "create_room":
            await self._create_room(conn, frame)
        elif kind == "join_room":
            chat_id = frame.get("chatId")
            if not is_object_id(chat_id):
                await conn.websocket.close(code=INVALID_PAYLOAD, reason="Invalid chatId")
                return False
            self.hub.join(conn, chat_id)
        elif kind == "message" or (kind is None and ("message" in frame or "text" in frame)):
            return await self._message(conn, frame)
        return True

    def _agent(self, frame: dict[str, Any], fallback: str | None) -> tuple[str, Agent | None]:
        agent_id = frame.get("agent_id") or frame.get("agentId") or fallback or BUILTIN_AGENT_ID
        agent = self.state.store.get_agent(agent_id) if isinstance(agent_id, str) else None
        return str(agent_id), agent

    async def _create_room(self, conn: BlueConnection, frame: dict[str, Any]) -> Chat | None:
        agent_id, agent = self._agent(frame, None)
        if agent is None:
            await conn.send_text(_frame("error", f"Failed to load agent: {agent_id} not found"))
            return None
        name = frame.get("name")
        chat = self.state.store.create_chat(
            conn.user_id, name if isinstance(name, str) and name else "New Chat", agent.id
        )
        self.hub.join(conn, chat.id)
        await conn.send_text(_frame("room_created", {"chatId": chat.id}))
        return chat

    async def _message(self, conn: BlueConnection, frame: dict[str, Any]) -> bool:
        store = self.state.store
        text = frame.get("text", frame.get("message"))
        chat_id = frame.get("chatId") or frame.get("session_id") or conn.room
        if chat_id is None:
            # The legacy first-message protocol: a message without a chat creates one.
            chat = await self._create_room(conn, frame)
            if chat is None:
                return True
        elif not is_object_id(chat_id):
            await conn.websocket.close(code=INVALID_PAYLOAD, reason="Invalid chatId")
            return False
        else:
            found = store.get_chat(chat_id)
            if found is None or found.user_id != conn.user_id:
                await conn.send_text(_frame("error", "Chat not found"))
                return True
            chat = found
        if not isinstance(text, str) or not text.strip():
            await conn.send_text(_frame("error", "Message text is required"))
            return True
        agent_id, agent = self._agent(frame, chat.agent_id)
        if agent is None:
            await conn.send_text(_frame("error", f"Failed to load agent: {agent_id} not found"))
            return True
        images = frame.get("images")
        valid_images = [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []
        self.hub.join(conn, chat.id)
        store.add_message(chat, "user", text, valid_images)
        # The chat's other sockets (the user's other tabs) see the message at once, as green's room
        # `message` event does; the connection swarm times this relay as its fan-out latency.
        relay = {"chatId": chat.id, "userId": conn.user_id, "text": text, "timestamp": iso(time.time())}
        await self.hub.publish(chat.id, _frame("user_message", relay), skip=conn)
        await conn.send_text(_frame("accepted", {"chatId": chat.id}))
        self.state.spawn(self._answer(chat))
        return True

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
