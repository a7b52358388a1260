"""What one swarm connection does, without the I/O: the part both engines share.

Life of a session: connect (``swarm.connect``, from the start of the TCP connect to ready: blue's
open socket, green's ``connected`` event); then hold it, pinging at a random pace
(``swarm.rtt``), optionally closing and reopening it (churn), optionally sitting in a fan-out room
(``swarm.fanout``, ``swarm.fanout_last``). A connection lost without being asked to is a drop
(``swarm.drop``: counted, no latency); the session then reconnects explicitly, with a bounded,
jittered back-off, and times the outage (``swarm.reconnect``: drop noticed → ready again).

``SessionCore`` holds that state and every decision that needs no waiting: what is due next,
what a received event means, pings, rooms, drops and back-off. Its two subclasses add the waiting:
``loadtests.swarm.session.SwarmSession`` (gevent: one Locust user's greenlet reads its
connection) and ``loadtests.swarm.aio_session.AioSwarmSession`` (asyncio: one task per connection
on the engine's loop, ``loadtests.swarm.engine``). A send never waits in either (it queues bytes).

Nothing here was measured if it has a number it did not measure: drops, timeouts and lost pings
are fired with ``response_time=None``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from loadtests.dialects.base import (
    AuthSession,
    Disconnected,
    Exchange,
    Joined,
    Kind,
    Outcome,
    Pong,
    RoomCreated,
    RoomMessage,
    StreamEvent,
    StreamFailed,
)
from loadtests.dialects.jwt_claims import unverified_claims
from loadtests.dialects.steps import Incoming, RealtimeEndpoint
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.rooms import Seat, decode_marker, encode_marker, now_ns
from loadtests.timing import Mark
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import ConnectFailed, FailureKind, TransportError

__all__ = [
    "CONNECT",
    "DROP",
    "FANOUT",
    "FANOUT_LAST",
    "JOIN_RETRY_S",
    "MAX_EVENTS_PER_PUMP",
    "MAX_WAIT_S",
    "PING_BACKLOG",
    "RECONNECT",
    "ROOM",
    "RTT",
    "GaugeLike",
    "OpenWait",
    "PumpWait",
    "SessionCore",
    "TimerLike",
    "failure_of",
]

CONNECT = "swarm.connect"
RTT = "swarm.rtt"
DROP = "swarm.drop"
RECONNECT = "swarm.reconnect"
ROOM = "swarm.room"
FANOUT = "swarm.fanout"
FANOUT_LAST = "swarm.fanout_last"

MAX_WAIT_S = 60.0  # a wait returns at least this often, whatever is scheduled
MAX_EVENTS_PER_PUMP = 10_000  # a wait handles at most this many messages before it returns
JOIN_RETRY_S = 0.5  # a member whose room has no chat yet (blue: its sender is creating it) looks again this soon
PING_BACKLOG = 8  # unanswered pings remembered per connection (late pongs are matched, not timed)


class TimerLike(Protocol):
    """What a session fires samples through: ``loadtests.timing.Timer``, or the engine's relay of
    it (``loadtests.swarm.engine``), which takes every time stamp where the session calls it."""

    def start(self) -> Mark: ...
    def record(
        self, name: str, kind: Kind, start: Mark, outcome: Outcome, *, reason: str = "", end_ns: int | None = None
    ) -> None: ...
    def count(
        self, name: str, kind: Kind, outcome: Outcome, *, reason: str = "", wall_s: float | None = None
    ) -> None: ...


class GaugeLike(Protocol):
    def opened(self) -> None: ...
    def closed(self) -> None: ...
    def dropped(self) -> None: ...
    def reconnected(self) -> None: ...
    def gave_up(self) -> None: ...
    def failed(self, kind: FailureKind) -> None: ...


class _Connection(Protocol):
    kind: Kind

    def send(self, message: Any) -> None: ...
    def close(self) -> None: ...


class _Ping:
    __slots__ = ("deadline", "mark", "stale", "token")

    def __init__(self, token: str, mark: Mark, deadline: float) -> None:
        self.token = token
        self.mark = mark
        self.deadline = deadline
        self.stale = False  # timed out (and recorded so); a late pong is matched but not timed


def failure_of(event: StreamEvent | None, waited_for: str) -> ConnectFailed:
    if event is None:
        return ConnectFailed("timeout", f"no {waited_for} before the deadline")
    if isinstance(event, Disconnected):
        return ConnectFailed("reset", f"closed before {waited_for}: {event.reason}")
    if isinstance(event, StreamFailed):
        return ConnectFailed("protocol", f"server error: {event.message}")
    return ConnectFailed("protocol", f"unexpected {type(event).__name__}")


@dataclass(frozen=True, slots=True)
class OpenWait:
    """An attempt waits for the connection to open."""

    endpoint: RealtimeEndpoint
    timeout_s: float


@dataclass(frozen=True, slots=True)
class PumpWait:
    """An attempt reads until ``deadline`` for the first event ``want`` accepts."""

    deadline: float
    want: Callable[[StreamEvent], bool]


class _Opening:
    """A socket's opening frame in flight (blue): what the session waits for, and for whom."""

    __slots__ = ("chat_id", "start", "step", "user_id")

    def __init__(self, step: Exchange, user_id: str, chat_id: str | None, start: Mark) -> None:
        self.step = step
        self.user_id = user_id
        self.chat_id = chat_id
        self.start = start


class SessionCore:
    __slots__ = (
        "attempt",
        "conn",
        "ctx",
        "dead",
        "drop_mark",
        "gauge",
        "index",
        "joined_chat",
        "joining",
        "joining_deadline",
        "next_attempt_at",
        "next_churn_at",
        "next_fanout_at",
        "next_ping_at",
        "own_msg",
        "ping_seq",
        "pings",
        "ready",
        "seat",
        "timer",
        "trouble_since",
    )

    def __init__(self, ctx: SwarmContext, conn: _Connection, *, timer: TimerLike, gauge: GaugeLike) -> None:
        self.ctx = ctx
        self.index = ctx.next_index()
        self.conn = conn
        self.timer = timer
        self.gauge = gauge
        self.ready = False
        self.dead = False
        self.attempt = 0
        self.trouble_since: float | None = None  # monotonic: the drop or first failed attempt of this outage
        self.drop_mark: Mark | None = None  # when the current drop was noticed (for swarm.reconnect)
        self.next_attempt_at = 0.0
        self.next_ping_at = math.inf
        self.next_churn_at = math.inf
        self.next_fanout_at = math.inf
        self.pings: list[_Ping] = []
        self.ping_seq = 0
        self.seat: Seat | None = ctx.rooms.seat(self.index) if ctx.rooms is not None else None
        self.joined_chat: str | None = None
        self.joining: str | None = None
        self.joining_deadline = math.inf
        self.own_msg = ""  # sender: the last message it sent (its own echo is not a receipt)

    @property
    def _kind(self) -> Kind:
        return self.conn.kind

    # -- what is due ---------------------------------------------------------------------------
    def _next_due(self) -> float:
        now = self.ctx.clock()
        if self.dead:
            return now + MAX_WAIT_S
        if not self.ready:
            return min(self.next_attempt_at, now + MAX_WAIT_S)
        due = min(self.next_ping_at, self.next_churn_at, self.next_fanout_at, self.joining_deadline, now + MAX_WAIT_S)
        seat = self.seat
        if seat is not None and self.joining is None and seat.room.chat_id != self.joined_chat:
            due = min(due, now + JOIN_RETRY_S)  # the room has no chat yet, or a new one: look again soon
        for ping in self.pings:
            if not ping.stale:
                due = min(due, ping.deadline)
        return due

    def _act_due(self) -> bool:
        """Do what is due that needs no waiting (expire pings, churn's close, join the room, fan
        out, ping); True when a connect attempt is due (the subclass makes it)."""
        if self.dead:
            return False
        now = self.ctx.clock()
        if not self.ready:
            return now >= self.next_attempt_at
        self._expire_pings(now)
        if now >= self.next_churn_at:
            self._close()
            return True
        seat = self.seat
        if seat is not None:
            if seat.sender:
                self._expire_deliveries()
            self._maybe_join(now)
            if seat.sender and self.ready and now >= self.next_fanout_at:
                self._fan_out(now)
        if self.ready and now >= self.next_ping_at:
            low, high = self.ctx.settings.ping_interval_s
            self.next_ping_at = now + self.ctx.rng.uniform(low, high)
            self._send_ping()
        return False

    # -- connecting ----------------------------------------------------------------------------
    def _begin_attempt(self) -> tuple[str, RealtimeEndpoint] | None:
        """The token and endpoint of a connect attempt; None when there is no token (the attempt
        is then counted as failed)."""
        ctx = self.ctx
        if self.trouble_since is None:
            self.trouble_since = ctx.clock()
        token = self._token()
        if token is None:
            failure = ConnectFailed("auth", "no token: the account's login failed")
            self.timer.count(CONNECT, self._kind, failure.outcome, reason=failure.reason)
            self._failed(failure)
            return None
        return token, ctx.dialect.realtime_endpoint(AuthSession(token))

    def _attempt_steps(self) -> Generator[OpenWait | PumpWait, ConnectFailed | StreamEvent | None, None]:
        """One connect attempt, without the I/O: it yields what to wait for (``OpenWait``: open the
        connection, answered with the ``ConnectFailed`` or ``None``; ``PumpWait``: read until an
        event it wants, answered with that event or ``None``), and records the outcome. Each
        engine drives it with its own waiting (``SwarmSession._attempt``, ``AioSwarmSession._attempt``)."""
        begun = self._begin_attempt()
        if begun is None:
            return
        token, endpoint = begun
        settings, dialect = self.ctx.settings, self.ctx.dialect
        start = self.timer.start()
        deadline = self.ctx.clock() + settings.connect_timeout_s
        failure = yield OpenWait(endpoint, settings.connect_timeout_s)
        if isinstance(failure, ConnectFailed):
            self._connect_failed(start, failure)
            return
        ready_event = dialect.ready_event
        if ready_event is not None:
            event = yield PumpWait(deadline, lambda e: isinstance(e, ready_event))
            if not isinstance(event, ready_event):
                self._connect_failed(start, failure_of(event, ready_event.__name__), close=True)  # type: ignore[arg-type]
                return
        end_ns = time.perf_counter_ns()  # blue: the socket is open (the contract's timing point)
        if dialect.opening_required:
            # ...but the attempt only succeeds once the socket has opened its chat: an attempt
            # whose first frame is refused is a failed connect, counted once, with the server's reason.
            opening = self._begin_opening(token)
            if opening is not None and not isinstance(opening, ConnectFailed):
                until = opening.step.until
                event = yield PumpWait(self._opening_deadline(deadline), lambda e: isinstance(e, until))  # type: ignore[arg-type]
                opening = self._end_opening(opening, event)  # type: ignore[arg-type]
            if isinstance(opening, ConnectFailed):
                self._connect_failed(start, opening, close=True)
                return
        self._connected(start, end_ns)

    def _token(self) -> str | None:
        assert self.ctx.tokens is not None
        return self.ctx.tokens.token(self.index)

    def _connect_failed(self, start: Mark, failure: ConnectFailed, *, close: bool = False) -> None:
        if close:
            self.conn.close()
        self.timer.record(CONNECT, self._kind, start, failure.outcome, reason=failure.reason)
        self._failed(failure)

    def _connected(self, start: Mark, end_ns: int) -> None:
        ctx, settings = self.ctx, self.ctx.settings
        self.timer.record(CONNECT, self._kind, start, Outcome.OK, end_ns=end_ns)
        self.ready = True
        self.gauge.opened()
        if self.drop_mark is not None:
            self.timer.record(RECONNECT, self._kind, self.drop_mark, Outcome.OK, end_ns=end_ns)
            self.gauge.reconnected()
            self.drop_mark = None
        self.attempt = 0
        self.trouble_since = None
        now = ctx.clock()
        self.next_ping_at = now + ctx.rng.uniform(0, settings.ping_interval_s[1])  # staggered first ping
        rate = settings.churn_per_min / 60.0
        self.next_churn_at = now + ctx.rng.expovariate(rate) if rate > 0 else math.inf
        if self.seat is not None:
            if self.seat.sender and settings.fanout is not None:
                self.next_fanout_at = now + ctx.rng.uniform(0, settings.fanout.interval_s)
            self._enter_room()

    def _begin_opening(self, token: str) -> _Opening | ConnectFailed | None:
        """Send the socket's opening frame, where the dialect requires one (blue): the account's
        chat is joined; its first connection in this process creates it. Timed as ``swarm.room``.
        None: nothing to open with on this color."""
        ctx = self.ctx
        user_id = str(unverified_claims(token).get("sub", ""))
        chat_id = ctx.opening_chats.get(user_id)
        step = ctx.dialect.opening(chat_id, f"swarm {user_id[:8]}")
        if step is None or step.until is None:
            return None
        opening = _Opening(step, user_id, chat_id, self.timer.start())
        try:
            self.conn.send(step.send)
        except TransportError as error:
            return ConnectFailed("reset", f"first frame not sent: {error}")
        return opening

    def _opening_deadline(self, deadline: float) -> float:
        return max(deadline, self.ctx.clock() + self.ctx.settings.ping_timeout_s)

    def _end_opening(self, opening: _Opening, event: StreamEvent | None) -> ConnectFailed | None:
        ctx = self.ctx
        until = opening.step.until
        assert until is not None
        if isinstance(event, Joined | RoomCreated) and (event.chat_id or opening.chat_id):  # on a chat
            self.timer.record(ROOM, self._kind, opening.start, Outcome.OK)
            if isinstance(event, RoomCreated):
                ctx.opening_chats.setdefault(opening.user_id, event.chat_id)
            return None
        failure = failure_of(event, until.__name__)
        self.timer.record(ROOM, self._kind, opening.start, failure.outcome, reason=f"first frame: {failure.detail}")
        if opening.chat_id is not None and ctx.opening_chats.get(opening.user_id) == opening.chat_id:
            del ctx.opening_chats[opening.user_id]  # the server no longer has it (a restart): create anew
        return failure

    def _failed(self, failure: ConnectFailed) -> None:
        ctx = self.ctx
        self.gauge.failed(failure.kind)
        policy = ctx.settings.reconnect
        self.attempt += 1
        now = ctx.clock()
        since = self.trouble_since if self.trouble_since is not None else now
        if self.attempt >= max(policy.max_attempts, 1) or now - since >= policy.deadline_s:
            self._give_up(f"gave up after {self.attempt} attempt(s) in {now - since:.1f} s; last: {failure.reason}")
            return
        self.next_attempt_at = now + policy.delay(self.attempt - 1, ctx.rng.uniform(-1, 1))

    def _give_up(self, reason: str) -> None:
        self.dead = True
        self.gauge.gave_up()
        if self.drop_mark is not None:
            self.timer.count(RECONNECT, self._kind, Outcome.ERROR, reason=reason, wall_s=self.drop_mark.wall_s)
            self.drop_mark = None

    def _drop(self, reason: str) -> None:
        """The connection went away without being asked to."""
        ctx, timer = self.ctx, self.timer
        self.ready = False
        self.gauge.dropped()
        timer.count(DROP, self._kind, Outcome.ERROR, reason=reason)
        for ping in self.pings:
            if not ping.stale:
                timer.count(RTT, self._kind, Outcome.ERROR, reason="connection lost", wall_s=ping.mark.wall_s)
        self._forget_connection()
        self.drop_mark = timer.start()
        self.trouble_since = ctx.clock()
        self.attempt = 0
        policy = ctx.settings.reconnect
        if policy.max_attempts == 0:
            self._give_up("reconnect disabled (reconnect.max_attempts: 0)")
            return
        self.next_attempt_at = ctx.clock() + policy.delay(0, ctx.rng.uniform(-1, 1))

    def _close(self) -> None:
        """Close on purpose (churn, stop): not a drop."""
        self.ready = False
        self.gauge.closed()
        self._forget_connection()

    def _finish(self) -> None:
        """The session ends (its user stopped): close, and do nothing more."""
        if self.ready:
            self._close()
        else:
            self.conn.close()
        self.dead = True

    def _forget_connection(self) -> None:
        self.conn.close()
        self.pings.clear()
        self.next_ping_at = self.next_churn_at = self.next_fanout_at = math.inf
        if self.seat is not None:
            if self.ctx.rooms is not None:
                self.ctx.rooms.left(self.seat.room, self)
            self.joined_chat = self.joining = None
            self.joining_deadline = math.inf

    # -- reading -------------------------------------------------------------------------------
    def _take(
        self, item: Incoming | TransportClosed, want: Callable[[StreamEvent], bool] | None
    ) -> tuple[bool, StreamEvent | None]:
        """One received item: (the wait is over, its result). A lost connection ends the wait with
        ``Disconnected`` (and is a drop if the connection was ready); with ``want``, the first
        event it accepts (or a server error) ends it; anything else is handled here."""
        if isinstance(item, TransportClosed):
            reason = item.reason
            if self.ready:
                self._drop(reason)
            else:
                self.conn.close()
            return True, Disconnected(reason)
        event = self.ctx.dialect.decode(item)
        if event is None:
            return False, None
        if want is not None and (want(event) or isinstance(event, StreamFailed)):
            return True, event
        self._handle(event)
        return False, None

    def _handle(self, event: StreamEvent) -> None:
        if isinstance(event, Pong):
            self._on_pong(event)
        elif isinstance(event, RoomMessage):
            self._on_room_message(event)
        elif isinstance(event, Joined):
            self._confirm_join(event.chat_id)
        elif isinstance(event, StreamFailed) and self.seat is not None and self.seat.sender:
            # The server refused the sender's last message (green: `error`, or `exception` from a
            # guard once the handshake token has expired): it reaches nobody, and says why.
            book = self.ctx.rooms
            if book is not None and self.own_msg and book.cancel(self.own_msg):
                reason = f"the server refused to relay it: {event.message}"
                self.timer.count(FANOUT_LAST, self._kind, Outcome.ERROR, reason=reason)

    def _send(self, message: Any) -> bool:
        try:
            self.conn.send(message)
        except TransportError as error:
            self._drop(str(error))
            return False
        return True

    # -- pings ---------------------------------------------------------------------------------
    def _send_ping(self) -> None:
        self.ping_seq += 1
        token = f"{self.index}.{self.ping_seq}"
        step = self.ctx.dialect.ping(token)
        mark = self.timer.start()
        if not self._send(step.send):
            return
        self.pings.append(_Ping(token, mark, self.ctx.clock() + self.ctx.settings.ping_timeout_s))
        if len(self.pings) > PING_BACKLOG:
            del self.pings[0]

    def _on_pong(self, pong: Pong) -> None:
        end_ns = time.perf_counter_ns()
        pings = self.pings
        match = self.ctx.dialect.pong_for(pong, [ping.token for ping in pings])
        if match is None:
            return
        ping = pings.pop(match)
        if not ping.stale:
            self.timer.record(RTT, self._kind, ping.mark, Outcome.OK, end_ns=end_ns)

    def _expire_pings(self, now: float) -> None:
        for ping in self.pings:
            if not ping.stale and ping.deadline <= now:
                ping.stale = True
                reason = f"no pong within {self.ctx.settings.ping_timeout_s:g} s"
                self.timer.count(RTT, self._kind, Outcome.TIMEOUT, reason=reason, wall_s=ping.mark.wall_s)

    # -- fan-out -------------------------------------------------------------------------------
    def _enter_room(self) -> None:
        seat, book = self.seat, self.ctx.rooms
        if seat is None or book is None or not self.ready:
            return
        chat_id = seat.room.chat_id
        if chat_id is None or chat_id in (self.joined_chat, self.joining):
            return
        step = self.ctx.dialect.open_chat(chat_id, first=False)
        if step is None or not self._send(step.send):
            return
        self.joining = chat_id
        self.joining_deadline = self.ctx.clock() + self.ctx.settings.ping_timeout_s

    def _confirm_join(self, chat_id: str) -> None:
        if self.joining != chat_id or self.seat is None or self.ctx.rooms is None:
            return
        self.joining = None
        self.joining_deadline = math.inf
        if self.ctx.rooms.joined(self.seat.room, self, chat_id):
            self.joined_chat = chat_id

    def _maybe_join(self, now: float) -> None:
        if self.joining is not None and now >= self.joining_deadline:
            self.joining = None  # no acknowledgement came: try again
            self.joining_deadline = math.inf
        if self.joining is None and self.seat is not None and self.seat.room.chat_id != self.joined_chat:
            self._enter_room()  # first join, or the room's chat was replaced

    def _fan_out(self, now: float) -> None:
        ctx = self.ctx
        assert self.seat is not None and ctx.rooms is not None and ctx.settings.fanout is not None
        self.next_fanout_at = now + ctx.settings.fanout.interval_s
        room = self.seat.room
        if room.chat_id is None or self.joined_chat != room.chat_id:
            return
        marker = ctx.rooms.start(room, self, time.time())
        if marker is None:
            return  # nobody has joined yet
        step = ctx.dialect.room_send(room.chat_id, encode_marker(marker))
        if step is None:  # a color with no fan-out (rooms are not built for it)
            ctx.rooms.cancel(marker.msg_id)
            return
        self.own_msg = marker.msg_id
        self._send(step.send)

    def _on_room_message(self, event: RoomMessage) -> None:
        arrival_ns = now_ns()
        marker = decode_marker(event.text)
        if marker is None or marker.msg_id == self.own_msg:
            return
        book, timer, kind = self.ctx.rooms, self.timer, self._kind
        if book is not None and book.is_expired(marker.msg_id):
            return  # already counted as a receiver that missed the timeout
        timer.record(FANOUT, kind, Mark(marker.sent_wall_s, marker.sent_ns), Outcome.OK, end_ns=arrival_ns)
        done = book.received(marker.msg_id, self, arrival_ns) if book is not None else None
        if done is not None:
            start = Mark(done.marker.sent_wall_s, done.marker.sent_ns)
            timer.record(FANOUT_LAST, kind, start, Outcome.OK, end_ns=done.last_ns)

    def _expire_deliveries(self) -> None:
        book = self.ctx.rooms
        if book is None:
            return
        timer, kind = self.timer, self._kind
        for expired in book.expire():
            missing = expired.expected - expired.received
            reason = f"{expired.received} of {expired.expected} receivers within {book.timeout_s:g} s"
            wall = expired.marker.sent_wall_s
            timer.count(FANOUT_LAST, kind, Outcome.TIMEOUT, reason=reason, wall_s=wall)
            for _ in range(missing):
                timer.count(FANOUT, kind, Outcome.TIMEOUT, reason=reason, wall_s=wall)
