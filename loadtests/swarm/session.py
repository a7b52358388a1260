"""What one swarm user does with its one connection, color-blind.

Life of a session: connect (``swarm.connect``, from the start of the TCP connect to ready: blue's
open socket, green's ``connected`` event); then hold it, pinging at a random pace
(``swarm.rtt``), optionally closing and reopening it (churn), optionally sitting in a fan-out room
(``swarm.fanout``, ``swarm.fanout_last``). A connection lost without being asked to is a drop
(``swarm.drop``: counted, no latency); the session then reconnects explicitly, with a bounded,
jittered back-off, and times the outage (``swarm.reconnect``: drop noticed → ready again).

How it runs inside Locust (``loadtests.users.swarm``): the user's ``wait_time`` is ``wait()``,
which blocks *reading the connection* until the next action is due, handling whatever arrives
(pongs, fan-out messages, a drop) the moment it arrives; the user's one task is ``act()``, which
does the actions that are due. Locust can stop a waiting user at once, and a drop is noticed
without polling. Every loop is bounded in time and count.

Nothing here was measured if it has a number it did not measure: drops, timeouts and lost pings
are fired with ``response_time=None``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import gevent

from loadtests.dialects.base import (
    AuthSession,
    Disconnected,
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
from loadtests.swarm.connection import SwarmConnection, new_connection
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.rooms import Seat, decode_marker, encode_marker, now_ns
from loadtests.timing import Mark, Timer
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import ConnectFailed, TransportError

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


class _Ping:
    __slots__ = ("deadline", "mark", "stale", "token")

    def __init__(self, token: str, mark: Mark, deadline: float) -> None:
        self.token = token
        self.mark = mark
        self.deadline = deadline
        self.stale = False  # timed out (and recorded so); a late pong is matched but not timed


def _failure_of(event: StreamEvent | None, waited_for: str) -> ConnectFailed:
    if event is None:
        return ConnectFailed("timeout", f"no {waited_for} before the deadline")
    if isinstance(event, Disconnected):
        return ConnectFailed("reset", f"closed before {waited_for}: {event.reason}")
    if isinstance(event, StreamFailed):
        return ConnectFailed("protocol", f"server error: {event.message}")
    return ConnectFailed("protocol", f"unexpected {type(event).__name__}")


class SwarmSession:
    __slots__ = (
        "attempt",
        "conn",
        "ctx",
        "dead",
        "drop_mark",
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
        "trouble_since",
    )

    def __init__(self, ctx: SwarmContext) -> None:
        self.ctx = ctx
        self.index = ctx.next_index()
        self.conn: SwarmConnection = new_connection(
            ctx.dialect.realtime_kind, ctx.base_url, connect_timeout_s=ctx.settings.connect_timeout_s
        )
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
    def _timer(self) -> Timer:
        assert self.ctx.timer is not None, "SwarmContext.bind() was not called"
        return self.ctx.timer

    @property
    def _kind(self) -> Kind:
        return self.conn.kind

    # -- the two entry points Locust drives ----------------------------------------------------
    def start(self) -> None:
        self._attempt()

    def wait(self) -> float:
        """Block until the next action is due, handling what arrives meanwhile (Locust's
        ``wait_time``: returns the seconds left to sleep, always 0)."""
        due = self._next_due()
        if self.ready:
            self._pump(due, None)
        else:
            remaining = due - self.ctx.clock()
            if remaining > 0:
                gevent.sleep(remaining)
        return 0.0

    def act(self) -> None:
        """Do what is due: reconnect, churn, join the room, fan out, ping."""
        if self.dead:
            return
        now = self.ctx.clock()
        if not self.ready:
            if now >= self.next_attempt_at:
                self._attempt()
            return
        self._expire_pings(now)
        if now >= self.next_churn_at:
            self._close()
            self._attempt()
            return
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

    def stop(self) -> None:
        if self.ready:
            self._close()
        else:
            self.conn.close()
        self.dead = True

    # -- scheduling ---------------------------------------------------------------------------
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

    # -- connecting ---------------------------------------------------------------------------
    def _attempt(self) -> None:
        ctx, timer, kind = self.ctx, self._timer, self._kind
        settings = ctx.settings
        if self.trouble_since is None:
            self.trouble_since = ctx.clock()
        assert ctx.tokens is not None
        token = ctx.tokens.token(self.index)
        if token is None:
            failure = ConnectFailed("auth", "no token: the account's login failed")
            timer.count(CONNECT, kind, failure.outcome, reason=failure.reason)
            self._failed(failure)
            return
        endpoint = ctx.dialect.realtime_endpoint(AuthSession(token))
        start = timer.start()
        deadline = ctx.clock() + settings.connect_timeout_s
        try:
            self.conn.open(endpoint, settings.connect_timeout_s)
        except ConnectFailed as failure:
            timer.record(CONNECT, kind, start, failure.outcome, reason=failure.reason)
            self._failed(failure)
            return
        ready_event = ctx.dialect.ready_event
        if ready_event is not None:
            event = self._pump(deadline, lambda e: isinstance(e, ready_event))
            if not isinstance(event, ready_event):
                failure = _failure_of(event, ready_event.__name__)
                self.conn.close()
                timer.record(CONNECT, kind, start, failure.outcome, reason=failure.reason)
                self._failed(failure)
                return
        end_ns = time.perf_counter_ns()  # blue: the socket is open (the contract's timing point)
        if ctx.dialect.opening_required:
            # ...but the attempt only succeeds once the socket has opened its chat: an attempt
            # whose first frame is refused is a failed connect, counted once, with the server's reason.
            failure = self._open(token, deadline)
            if failure is not None:
                self.conn.close()
                timer.record(CONNECT, kind, start, failure.outcome, reason=failure.reason)
                self._failed(failure)
                return
        timer.record(CONNECT, kind, start, Outcome.OK, end_ns=end_ns)
        self.ready = True
        ctx.gauge.opened()
        if self.drop_mark is not None:
            timer.record(RECONNECT, kind, self.drop_mark, Outcome.OK, end_ns=end_ns)
            ctx.gauge.reconnected()
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

    def _open(self, token: str, deadline: float) -> ConnectFailed | None:
        """Send the socket's opening frame, where the dialect requires one (blue): the account's
        chat is joined; its first connection in this process creates it. Timed as ``swarm.room``."""
        ctx, timer, kind = self.ctx, self._timer, self._kind
        user_id = str(unverified_claims(token).get("sub", ""))
        chat_id = ctx.opening_chats.get(user_id)
        step = ctx.dialect.opening(chat_id, f"swarm {user_id[:8]}")
        if step is None or step.until is None:
            return None  # nothing to open with on this color
        until = step.until
        start = timer.start()
        try:
            self.conn.send(step.send)
        except TransportError as error:
            return ConnectFailed("reset", f"first frame not sent: {error}")
        event = self._pump(max(deadline, ctx.clock() + ctx.settings.ping_timeout_s), lambda e: isinstance(e, until))
        if isinstance(event, Joined | RoomCreated) and (event.chat_id or chat_id):  # on a chat: joined or created
            timer.record(ROOM, kind, start, Outcome.OK)
            if isinstance(event, RoomCreated):
                ctx.opening_chats.setdefault(user_id, event.chat_id)
            return None
        failure = _failure_of(event, until.__name__)
        timer.record(ROOM, kind, start, failure.outcome, reason=f"first frame: {failure.detail}")
        if chat_id is not None and ctx.opening_chats.get(user_id) == chat_id:
            del ctx.opening_chats[user_id]  # the server no longer has it (a restart): create anew
        return failure

    def _failed(self, failure: ConnectFailed) -> None:
        ctx = self.ctx
        ctx.gauge.failed(failure.kind)
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
        self.ctx.gauge.gave_up()
        if self.drop_mark is not None:
            self._timer.count(RECONNECT, self._kind, Outcome.ERROR, reason=reason, wall_s=self.drop_mark.wall_s)
            self.drop_mark = None

    def _drop(self, reason: str) -> None:
        """The connection went away without being asked to."""
        ctx, timer = self.ctx, self._timer
        self.ready = False
        ctx.gauge.dropped()
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
        self.ctx.gauge.closed()
        self._forget_connection()

    def _forget_connection(self) -> None:
        self.conn.close()
        self.pings.clear()
        self.next_ping_at = self.next_churn_at = self.next_fanout_at = math.inf
        if self.seat is not None:
            if self.ctx.rooms is not None:
                self.ctx.rooms.left(self.seat.room, self)
            self.joined_chat = self.joining = None
            self.joining_deadline = math.inf

    # -- reading ------------------------------------------------------------------------------
    def _pump(self, deadline: float, want: Callable[[StreamEvent], bool] | None) -> StreamEvent | None:
        """Read until ``deadline``, handling what arrives; with ``want``, return the first event it
        accepts (or a server error). A lost connection returns ``Disconnected`` (and is a drop if
        the connection was ready)."""
        conn, dialect, clock = self.conn, self.ctx.dialect, self.ctx.clock
        for _ in range(MAX_EVENTS_PER_PUMP):
            remaining = deadline - clock()
            if remaining <= 0:
                return None
            item = conn.receive(remaining)
            if item is None:
                continue
            if isinstance(item, TransportClosed):
                reason = item.reason
                if self.ready:
                    self._drop(reason)
                else:
                    conn.close()
                return Disconnected(reason)
            event = dialect.decode(item)
            if event is None:
                continue
            if want is not None and (want(event) or isinstance(event, StreamFailed)):
                return event
            self._handle(event)
        return None

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
                self._timer.count(FANOUT_LAST, self._kind, Outcome.ERROR, reason=reason)

    def _send(self, message: Any) -> bool:
        try:
            self.conn.send(message)
        except TransportError as error:
            self._drop(str(error))
            return False
        return True

    # -- pings --------------------------------------------------------------------------------
    def _send_ping(self) -> None:
        self.ping_seq += 1
        token = f"{self.index}.{self.ping_seq}"
        step = self.ctx.dialect.ping(token)
        mark = self._timer.start()
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
            self._timer.record(RTT, self._kind, ping.mark, Outcome.OK, end_ns=end_ns)

    def _expire_pings(self, now: float) -> None:
        for ping in self.pings:
            if not ping.stale and ping.deadline <= now:
                ping.stale = True
                reason = f"no pong within {self.ctx.settings.ping_timeout_s:g} s"
                self._timer.count(RTT, self._kind, Outcome.TIMEOUT, reason=reason, wall_s=ping.mark.wall_s)

    # -- fan-out ------------------------------------------------------------------------------
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
        book, timer, kind = self.ctx.rooms, self._timer, self._kind
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
        timer, kind = self._timer, self._kind
        for expired in book.expire():
            missing = expired.expected - expired.received
            reason = f"{expired.received} of {expired.expected} receivers within {book.timeout_s:g} s"
            wall = expired.marker.sent_wall_s
            timer.count(FANOUT_LAST, kind, Outcome.TIMEOUT, reason=reason, wall_s=wall)
            for _ in range(missing):
                timer.count(FANOUT, kind, Outcome.TIMEOUT, reason=reason, wall_s=wall)
