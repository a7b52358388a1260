"""green's Socket.IO gateway (default namespace, path ``/socket.io/``) and its two answer streams:
the chat relay (event ``stream`` to room ``chat:<id>``) and agent execution (``stream-*`` events to
room ``stream:<sessionId>``).

Event names are written kebab-case here; with ``event_style="snake"`` every name, in both
directions, has its hyphens replaced by underscores (``join_room``, ``joined_room``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import socketio

from reference_backend.auth import TokenError
from reference_backend.faults import CONNECT_REFUSED, refuse_connection
from reference_backend.settings import EventStyle
from reference_backend.state import BackendState
from reference_backend.store import Agent, Chat, is_object_id, iso, new_id

AUTH_FAILED = "Authentication failed"
FORBIDDEN = "Forbidden resource"
Handler = Callable[[str, Any], Awaitable[None]]
MAX_MESSAGE_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class SocketUser:
    user_id: str
    username: str


@dataclass(slots=True)
class AgentStream:
    """One agent execution, held in memory while it streams (as the real orchestrator does)."""

    execution_id: str
    session_id: str
    agent_id: str
    user_id: str
    message: str
    started: float
    accumulated: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "agentId": self.agent_id,
            "userId": self.user_id,
            "startTime": iso(self.started),
            "accumulatedResponse": self.accumulated,
            "toolsUsed": [],
            "tokenUsage": {"input": len(self.message.split()), "output": len(self.accumulated.split())},
        }


def _field(data: Any, name: str) -> Any:
    return data.get(name) if isinstance(data, dict) else None


class GreenGateway:
    def __init__(self, state: BackendState, sio: socketio.AsyncServer, event_style: EventStyle) -> None:
        self.state = state
        self.sio = sio
        self._snake = event_style == "snake"
        self.users: dict[str, SocketUser] = {}
        self.handshake_tokens: dict[str, str] = {}
        self.streams: dict[str, AgentStream] = {}
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        # Every handler but ping sits behind JwtWsGuard in the real gateway: the handshake token is
        # verified again and its user looked up on each event.
        handlers = {
            "ping": self._ping,
            "join-room": self._guarded("join-room", self._join_room),
            "leave-room": self._guarded("leave-room", self._leave_room),
            "send-message": self._guarded("send-message", self._send_message),
            "typing-start": self._guarded("typing-start", self._typing_start),
            "typing-stop": self._guarded("typing-stop", self._typing_stop),
            "subscribe-stream": self._guarded("subscribe-stream", self._subscribe_stream),
            "unsubscribe-stream": self._guarded("unsubscribe-stream", self._unsubscribe_stream),
        }
        missing = set(state.settings.faults.deviations.missing_events)
        for event, handler in handlers.items():
            if event not in missing and self.name(event) not in missing:  # a planted missing event
                sio.on(self.name(event), self._without_ack(handler))

    def _without_ack(self, handler: Handler) -> Callable[[str, Any], Awaitable[Any]]:
        """Nest acknowledges nothing its handlers return as ``{event, data}`` or leave undefined,
        and these handlers all do one or the other; python-socketio would acknowledge a call()
        with an empty ACK unless told the event was not handled."""

        async def no_ack(sid: str, data: Any = None) -> Any:
            await handler(sid, data)
            return self.sio.not_handled

        return no_ack

    def _guarded(self, event: str, handler: Handler) -> Handler:
        async def guarded(sid: str, data: Any = None) -> None:
            if not self._guard_passes(sid):
                # Nest's WsExceptionsHandler: the refusal comes back as an `exception` event.
                refusal = {
                    "status": "error",
                    "message": FORBIDDEN,
                    "cause": {"pattern": self.name(event), "data": data},
                }
                await self.sio.emit("exception", refusal, to=sid)
                return
            await handler(sid, data)

        return guarded

    def _guard_passes(self, sid: str) -> bool:
        token = self.handshake_tokens.get(sid)
        if token is None:
            return False
        try:
            claims = self.state.tokens.verify(token)
        except TokenError:
            return False
        return self.state.users.resolve(claims["sub"], claims.get("username")) is not None

    def name(self, event: str) -> str:
        return event.replace("-", "_") if self._snake else event

    async def emit(self, event: str, data: Any, *, to: str, skip_sid: str | None = None) -> None:
        await self.sio.emit(self.name(event), data, to=to, skip_sid=skip_sid)

    async def _error(self, sid: str, message: str) -> None:
        await self.emit("error", {"message": message}, to=sid)

    # -- connection ---------------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = _field(auth, "token")
        if not isinstance(token, str) or not token:
            token = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
        if not token:
            raise socketio.exceptions.ConnectionRefusedError(AUTH_FAILED)
        try:
            claims = self.state.tokens.verify(token)
        except TokenError as exc:
            raise socketio.exceptions.ConnectionRefusedError(AUTH_FAILED) from exc
        # The real handshake loads the user by the token's username; it must exist.
        user = self.state.users.resolve(claims["sub"], claims.get("username"))
        if user is None:
            raise socketio.exceptions.ConnectionRefusedError(AUTH_FAILED)
        if refuse_connection(self.state.settings.faults, self.state.fault_rng):
            self.state.metrics.injected_faults.labels("connect_refused").inc()
            raise socketio.exceptions.ConnectionRefusedError(CONNECT_REFUSED)
        self.users[sid] = SocketUser(user.id, user.username)
        self.handshake_tokens[sid] = token
        await self.sio.enter_room(sid, f"user:{user.id}")
        self.state.metrics.realtime_connections.inc()
        # Events emitted inside the connect handler would precede the CONNECT packet and be dropped
        # by the client; python-socketio queues CONNECT right after this handler returns, before
        # the task below first runs.
        self.state.spawn(
            self.emit(
                "connected",
                {"status": "connected", "userId": user.id, "username": user.username, "message": "Connected"},
                to=sid,
            )
        )

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        self.handshake_tokens.pop(sid, None)
        if self.users.pop(sid, None) is not None:
            self.state.metrics.realtime_connections.dec()

    # -- events -------------------------------------------------------------------------------

    async def _ping(self, sid: str, data: Any = None) -> None:
        # The real handler returns {event: "pong", data}: Nest emits it as an event, never as an ack.
        await self.emit("pong", f"Pong: {data}", to=sid)

    async def _room_event(self, sid: str, data: Any) -> tuple[SocketUser, str] | None:
        user = self.users.get(sid)
        chat_id = data if isinstance(data, str) else _field(data, "chatId")
        if user is None:
            return None
        if not is_object_id(chat_id):
            await self._error(sid, "Invalid chat ID")
            return None
        return user, chat_id

    async def _join_room(self, sid: str, data: Any = None) -> None:
        found = await self._room_event(sid, data)
        if found is None:
            return
        user, chat_id = found
        room = f"chat:{chat_id}"
        await self.sio.enter_room(sid, room)
        await self.emit("joined-room", {"chatId": chat_id, "message": f"Joined chat {chat_id}"}, to=sid)
        joined = {"userId": user.user_id, "username": user.username, "chatId": chat_id, "timestamp": iso(time.time())}
        await self.emit("user-joined", joined, to=room, skip_sid=sid)

    async def _leave_room(self, sid: str, data: Any = None) -> None:
        found = await self._room_event(sid, data)
        if found is None:
            return
        user, chat_id = found
        room = f"chat:{chat_id}"
        await self.sio.leave_room(sid, room)
        await self.emit("left-room", {"chatId": chat_id, "message": f"Left chat {chat_id}"}, to=sid)
        left = {"userId": user.user_id, "username": user.username, "chatId": chat_id, "timestamp": iso(time.time())}
        await self.emit("user-left", left, to=room)

    async def _send_message(self, sid: str, data: Any = None) -> None:
        found = await self._room_event(sid, data)
        if found is None:
            return
        user, chat_id = found
        content = _field(data, "content")
        if not isinstance(content, str) or not 1 <= len(content) <= MAX_MESSAGE_CHARS:
            await self._error(sid, "Message content must be 1 to 10000 characters")
            return
        kind = _field(data, "type")
        now = iso(time.time())
        message_id = f"msg_{int(time.time() * 1000)}_{new_id()[:9]}"
        message = {
            "id": message_id,
            "chatId": chat_id,
            "userId": user.user_id,
            "username": user.username,
            "content": content,
            "timestamp": now,
            "type": kind if kind in ("user", "system") else "user",
        }
        await self.emit("message", message, to=f"chat:{chat_id}")
        await self.emit("message-sent", {"messageId": message_id, "chatId": chat_id, "timestamp": now}, to=sid)

    async def _typing(self, sid: str, data: Any, typing: bool) -> None:
        found = await self._room_event(sid, data)
        if found is None:
            return
        user, chat_id = found
        body = {"userId": user.user_id, "username": user.username, "chatId": chat_id, "isTyping": typing}
        await self.emit("user-typing", body, to=f"chat:{chat_id}", skip_sid=sid)

    async def _typing_start(self, sid: str, data: Any = None) -> None:
        await self._typing(sid, data, True)

    async def _typing_stop(self, sid: str, data: Any = None) -> None:
        await self._typing(sid, data, False)

    async def _subscribe_stream(self, sid: str, data: Any = None) -> None:
        session_id = data if isinstance(data, str) else _field(data, "sessionId")
        if not is_object_id(session_id):
            await self._error(sid, "Invalid session ID")
            return
        await self.sio.enter_room(sid, f"stream:{session_id}")
        body = {
            "sessionId": session_id,
            "executionId": _field(data, "executionId"),
            "message": f"Subscribed to stream {session_id}",
        }
        await self.emit("stream-subscribed", body, to=sid)

    async def _unsubscribe_stream(self, sid: str, data: Any = None) -> None:
        session_id = data if isinstance(data, str) else _field(data, "sessionId")
        if not isinstance(session_id, str):
            await self._error(sid, "Invalid session ID")
            return
        await self.sio.leave_room(sid, f"stream:{session_id}")
        body = {"sessionId": session_id, "message": f"Unsubscribed from stream {session_id}"}
        await self.emit("stream-unsubscribed", body, to=sid)

    # -- chat relay ---------------------------------------------------------------------------

    def start_chat_answer(self, chat: Chat) -> None:
        self.state.spawn(self._chat_answer(chat))

    async def _chat_answer(self, chat: Chat) -> None:
        state, room = self.state, f"chat:{chat.id}"
        plan = state.llm.plan()
        state.metrics.active_streams.inc()
        try:
            status = {"status": "generating", "message": "Generating response..."}
            await self.sio.emit("stream", {"type": "status", "data": status}, to=room)
            async for delta in state.llm.deltas(plan):
                await self.sio.emit("stream", {"type": "chunk", "data": delta}, to=room)
            if plan.send_end:
                state.store.add_message(chat, "assistant", plan.text)
                await self.sio.emit("stream", {"type": "end"}, to=room)
        finally:
            state.metrics.active_streams.dec()

    # -- agent execution ----------------------------------------------------------------------

    async def start_agent_stream(
        self, agent: Agent | None, agent_id: str, session_id: str, user_id: str, message: str
    ) -> dict[str, Any]:
        previous = self.streams.get(session_id)
        if previous is not None:
            await self._stop(previous)
        stream = AgentStream(
            execution_id=new_id(),
            session_id=session_id,
            agent_id=agent_id,
            user_id=user_id,
            message=message,
            started=time.time(),
        )
        if agent is None:
            await self._stream_event(
                stream, "stream-error", {"error": f"Agent {agent_id} not found", "code": "STARTUP_ERROR"}
            )
            return {"executionId": stream.execution_id, "sessionId": session_id, "status": "error"}
        self.streams[session_id] = stream
        stream.task = self.state.spawn(self._agent_answer(stream))
        return {"executionId": stream.execution_id, "sessionId": session_id, "status": "streaming"}

    def streaming_status(self, session_id: str) -> dict[str, Any]:
        stream = self.streams.get(session_id)
        return {"isActive": stream is not None, "session": None if stream is None else stream.to_json()}

    async def cancel(self, session_id: str) -> bool:
        stream = self.streams.get(session_id)
        if stream is None:
            return False
        await self._stop(stream)
        await self._stream_event(stream, "stream-error", {"error": "Execution cancelled", "code": "CANCELLED"})
        return True

    async def _stop(self, stream: AgentStream) -> None:
        if self.streams.get(stream.session_id) is stream:
            del self.streams[stream.session_id]
        if stream.task is not None:
            stream.task.cancel()
            await asyncio.gather(stream.task, return_exceptions=True)

    async def _stream_event(self, stream: AgentStream, event: str, data: dict[str, Any]) -> None:
        # The real orchestrator emits every event twice: as the generic ``stream-event`` and under
        # its own name. Clients listen to either; the doubled traffic is part of the real load.
        envelope = {
            "sessionId": stream.session_id,
            "executionId": stream.execution_id,
            "timestamp": iso(time.time()),
            "type": event.replace("-", "_"),
            "data": data,
        }
        room = f"stream:{stream.session_id}"
        await self.emit("stream-event", envelope, to=room)
        await self.emit(event, envelope, to=room)

    async def _agent_answer(self, stream: AgentStream) -> None:
        state = self.state
        plan = state.llm.plan()
        state.metrics.active_streams.inc()
        try:
            start = {"agentId": stream.agent_id, "userId": stream.user_id, "message": stream.message}
            await self._stream_event(stream, "stream-start", start)
            async for delta in state.llm.deltas(plan):
                stream.accumulated += delta
                await self._stream_event(stream, "stream-chunk", {"chunk": delta, "accumulated": stream.accumulated})
            if plan.send_end:
                complete = {
                    "finalResponse": stream.accumulated,
                    "toolsUsed": [],
                    "tokenUsage": stream.to_json()["tokenUsage"],
                    "executionTime": round((time.time() - stream.started) * 1000),
                }
                await self._stream_event(stream, "stream-complete", complete)
        finally:
            state.metrics.active_streams.dec()
            if self.streams.get(stream.session_id) is stream:
                del self.streams[stream.session_id]
