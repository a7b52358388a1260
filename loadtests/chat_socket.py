"""``ChatSocket``: the real-time half of a ``PlatformClient``, color-blind.

One simulated user's real-time connection as the client drives it: opened with the user's token
(``chat.connect``, from the start of the TCP connect to ready: blue's open socket, green's
``connected`` event), put on a chat, sent to and read with a deadline. Every wait is bounded; a
lost connection is forgotten (the next call reopens it), never retried behind the caller's back.
The connection itself comes from a factory (``open_realtime``, or a test's fake); the dialect says
what to send and what came back.
"""

from __future__ import annotations

from collections.abc import Callable

from loadtests.dialects.base import (
    AuthSession,
    Dialect,
    Disconnected,
    Exchange,
    Judgement,
    Outcome,
    Pong,
    StreamEvent,
    StreamFailed,
)
from loadtests.timeouts import Timeouts
from loadtests.timing import Timer
from loadtests.transport.base import RealtimeConnection, RealtimeFactory, TransportClosed
from loadtests.transport.errors import TransportError

__all__ = ["ChatSocket", "judge_event"]


class ChatSocket:
    def __init__(
        self,
        *,
        dialect: Dialect,
        base_url: str,
        timer: Timer,
        timeouts: Timeouts,
        clock: Callable[[], float],
        session: Callable[[], AuthSession | None],
        factory: RealtimeFactory,
    ) -> None:
        self.dialect = dialect
        self.base_url = base_url
        self.timer = timer
        self.timeouts = timeouts
        self._clock = clock
        self._session = session  # the user's current tokens (the client's; refreshed there)
        self._factory = factory
        self.connection: RealtimeConnection | None = None
        self.joined_chat: str | None = None
        self.opened = False  # the socket has had its opening frame (blue: join_room / create_room)
        self._ping_seq = 0

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.is_open

    def connect(self) -> bool:
        """Open the real-time connection; ``chat.connect`` runs from the start of the TCP connect
        to ready (blue: socket open; green: the ``connected`` event)."""
        self.disconnect()
        session = self._session()
        if session is None:
            return False
        endpoint = self.dialect.realtime_endpoint(session)
        connection = self._factory(self.base_url, endpoint)
        start = self.timer.start()
        deadline = self._clock() + self.timeouts.connect_s
        try:
            connection.open(self.timeouts.connect_s)
        except TransportError as error:
            reason = str(error)
            if error.refused and (problem := self.dialect.token_problem(session)):
                reason = f"{reason}: {problem}"
            self.timer.record("chat.connect", endpoint.kind, start, error.outcome, reason=reason)
            return False
        self.connection = connection
        ready_event = self.dialect.ready_event
        if ready_event is not None:
            event = self.await_event(lambda e: isinstance(e, ready_event), deadline)
            outcome, reason = judge_event(event, ready_event)
            if outcome is not Outcome.OK:
                self.timer.record("chat.connect", endpoint.kind, start, outcome, reason=reason)
                self.disconnect()
                return False
        self.timer.record("chat.connect", endpoint.kind, start, Outcome.OK)
        return True

    def disconnect(self) -> None:
        connection, self.connection = self.connection, None
        self.joined_chat = None
        self.opened = False
        if connection is not None:
            connection.close()

    def on_chat(self, chat_id: str) -> None:
        """The socket is on ``chat_id``, its opening frame sent (blue: a chat created over it)."""
        self.joined_chat = chat_id
        self.opened = True

    def await_event(self, wanted: Callable[[StreamEvent], bool], deadline: float) -> StreamEvent | None:
        """The next decoded event that ``wanted`` accepts, or a ``StreamFailed``/``Disconnected``,
        or ``None`` when the deadline passes first."""
        connection = self.connection
        while connection is not None:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            item = connection.receive(remaining)
            if item is None:
                return None
            if isinstance(item, TransportClosed):
                self.connection = None
                self.joined_chat = None
                self.opened = False
                return Disconnected(item.reason)
            event = self.dialect.decode(item)
            if event is not None and (wanted(event) or isinstance(event, StreamFailed | Disconnected)):
                return event
        return Disconnected("not connected")

    def exchange(self, step: Exchange, wanted: Callable[[StreamEvent], bool] | None = None) -> Judgement[StreamEvent]:
        """Send one message; when the step waits for an answer, time it under ``step.name``."""
        kind = self.dialect.realtime_kind
        if self.connection is None and not self.connect():
            return Judgement(Outcome.ERROR, reason="no real-time connection")
        assert self.connection is not None
        start = self.timer.start()
        deadline = self._clock() + self.timeouts.exchange_s
        try:
            self.connection.send(step.send)
        except TransportError as error:
            self.disconnect()
            if step.until is not None:
                self.timer.record(step.name, kind, start, Outcome.ERROR, reason=str(error))
            return Judgement(Outcome.ERROR, reason=str(error))
        until = step.until
        if until is None:
            return Judgement(Outcome.OK)
        event = self.await_event(lambda e: isinstance(e, until) and (wanted is None or wanted(e)), deadline)
        outcome, reason = judge_event(event, until)
        self.timer.record(step.name, kind, start, outcome, reason=reason)
        return Judgement(outcome, event if outcome is Outcome.OK else None, reason)

    @property
    def can_ping(self) -> bool:
        """Connected, and (blue) past the opening frame: a ping as a first frame is refused."""
        return self.connected and (self.opened or not self.dialect.opening_required)

    def ping(self) -> Judgement[StreamEvent] | None:
        """``chat.rtt``: ping → pong, correlated by a sequence token where the protocol echoes it.
        ``None`` (nothing sent, nothing recorded) on a socket that may not take a ping yet."""
        if not self.can_ping:
            return None
        self._ping_seq += 1
        token = f"p{self._ping_seq}"
        return self.exchange(
            self.dialect.ping(token), lambda e: isinstance(e, Pong) and self.dialect.pong_for(e, (token,)) == 0
        )

    def open_chat(self, chat_id: str) -> Judgement[StreamEvent | None]:
        """Put the real-time connection on a chat (connecting first if needed)."""
        if self.joined_chat == chat_id and self.connected:
            return Judgement(Outcome.OK)
        if self.connection is None and not self.connect():
            return Judgement(Outcome.ERROR, reason="no real-time connection")
        step = self.dialect.open_chat(chat_id, first=not self.opened)
        judged: Judgement[StreamEvent | None] = Judgement(Outcome.OK) if step is None else self.exchange(step)
        if judged.ok:
            self.on_chat(chat_id)
        return judged


def judge_event(event: StreamEvent | None, wanted: type[StreamEvent]) -> tuple[Outcome, str]:
    """What waiting for ``wanted`` came to: ``ok``, a ``timeout`` (nothing in time), or an ``error``
    (the server's error event, or the connection lost)."""
    if event is None:
        return Outcome.TIMEOUT, f"no {wanted.__name__} before the deadline"
    if isinstance(event, StreamFailed):
        return Outcome.ERROR, f"server error: {event.message}"
    if isinstance(event, Disconnected):
        return Outcome.ERROR, f"connection lost: {event.reason}"
    return Outcome.OK, ""
