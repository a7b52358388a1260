"""Fan-out rooms: who sits where, what each message carries, and who got it.

Rooms are formed per swarm class and Locust process, in spawn order: connections 0..k-1 are room
0, and so on; the first seat of each room is its sender. Keeping a room inside one process is what
lets the last receiver be known exactly (``swarm.fanout_last``).

A fan-out message carries its own send time (``encode_marker``): CLOCK_MONOTONIC nanoseconds, one
clock for every process of the machine, plus the wall clock for the sample's time stamp. A
receiver needs nothing but the message to time its delay, so every ``swarm.fanout`` sample is a
real measured delay; the book adds which receivers were expected and which one was last.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MARKER_PREFIX = "lbfo1"
MAX_IN_FLIGHT = 4096  # deliveries tracked at once per book; beyond, the oldest are expired


def now_ns() -> int:
    """CLOCK_MONOTONIC: system-wide on Linux, so a receiver in another process reads the same clock."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


@dataclass(frozen=True, slots=True)
class Marker:
    msg_id: str
    sent_ns: int  # CLOCK_MONOTONIC
    sent_wall_s: float


def encode_marker(marker: Marker) -> str:
    return f"{MARKER_PREFIX} {marker.msg_id} {marker.sent_ns} {marker.sent_wall_s:.6f}"


def decode_marker(text: str) -> Marker | None:
    parts = text.split(" ")
    if len(parts) != 4 or parts[0] != MARKER_PREFIX:
        return None
    try:
        return Marker(parts[1], int(parts[2]), float(parts[3]))
    except ValueError:
        return None


class Room:
    """One room: its chat id (``None`` until its sender created it, on colors that create rooms)
    and the members confirmed on that chat id."""

    __slots__ = ("chat_id", "members", "number")

    def __init__(self, number: int, chat_id: str | None) -> None:
        self.number = number
        self.chat_id = chat_id
        self.members: set[object] = set()


@dataclass(frozen=True, slots=True)
class Seat:
    room: Room
    sender: bool


class Delivery:
    __slots__ = ("last_ns", "marker", "pending", "receivers", "started")

    def __init__(self, marker: Marker, receivers: frozenset[object], started: float) -> None:
        self.marker = marker
        self.receivers = receivers  # the members confirmed when it was sent: the ones it must reach
        self.pending = set(receivers)
        self.last_ns = 0
        self.started = started  # monotonic seconds, for expiry

    @property
    def expected(self) -> int:
        return len(self.receivers)

    @property
    def received(self) -> int:
        return len(self.receivers) - len(self.pending)


@dataclass(frozen=True, slots=True)
class Completed:
    """A delivery every expected receiver got: the last one's arrival."""

    marker: Marker
    last_ns: int


@dataclass(frozen=True, slots=True)
class Expired:
    """A delivery some expected receivers never got within the timeout."""

    marker: Marker
    expected: int
    received: int


def _new_chat_id() -> str:
    return secrets.token_hex(12)  # 24 hex digits, the shape of a Mongo ObjectId


class RoomBook:
    """Rooms and deliveries of one swarm class in one process."""

    def __init__(
        self,
        *,
        room_size: int,
        max_rooms: int | None,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.room_size = room_size
        self.max_rooms = max_rooms
        self.timeout_s = timeout_s
        self._clock = clock
        self._rooms: list[Room] = []
        self._deliveries: dict[str, Delivery] = {}
        self._expired_ids: deque[str] = deque(maxlen=MAX_IN_FLIGHT)
        self._seq = 0
        self._prefix = f"{os.getpid():x}"

    @property
    def rooms(self) -> tuple[Room, ...]:
        return tuple(self._rooms)

    def seat(self, index: int) -> Seat | None:
        number, position = divmod(index, self.room_size)
        if self.max_rooms is not None and number >= self.max_rooms:
            return None
        while len(self._rooms) <= number:
            # Any chat id will do: green rooms need nothing to exist before the join.
            self._rooms.append(Room(len(self._rooms), _new_chat_id()))
        return Seat(self._rooms[number], sender=position == 0)

    # -- membership ---------------------------------------------------------------------------
    def joined(self, room: Room, member: object, chat_id: str) -> bool:
        if room.chat_id != chat_id:
            return False  # joined a chat the room has since replaced
        room.members.add(member)
        return True

    def left(self, room: Room, member: object) -> None:
        room.members.discard(member)

    # -- deliveries ---------------------------------------------------------------------------
    def start(self, room: Room, sender: object, sent_wall_s: float) -> Marker | None:
        """A new message from ``sender`` to the room's other confirmed members (``None``: nobody
        to send to yet)."""
        receivers = frozenset(room.members - {sender})
        if not receivers:
            return None
        self._seq += 1
        # the wall time travels as text with 6 decimals: round it so sender and receivers agree
        marker = Marker(f"{self._prefix}.{self._seq}", now_ns(), round(sent_wall_s, 6))
        if len(self._deliveries) >= MAX_IN_FLIGHT:
            oldest = next(iter(self._deliveries))
            self._expired_ids.append(oldest)
            del self._deliveries[oldest]
        self._deliveries[marker.msg_id] = Delivery(marker, receivers, self._clock())
        return marker

    def is_expired(self, msg_id: str) -> bool:
        return msg_id in self._expired_ids

    def cancel(self, msg_id: str) -> bool:
        """Forget a delivery the server refused to relay; ``True`` if it was in flight."""
        if self._deliveries.pop(msg_id, None) is None:
            return False
        self._expired_ids.append(msg_id)
        return True

    def received(self, msg_id: str, member: object, arrival_ns: int) -> Completed | None:
        """Count one receiver; the delivery is complete when the last expected one arrived. A
        member that joined after the send gets the message too, but is not waited for."""
        delivery = self._deliveries.get(msg_id)
        if delivery is None or member not in delivery.pending:
            return None
        delivery.pending.discard(member)
        delivery.last_ns = max(delivery.last_ns, arrival_ns)
        if delivery.pending:
            return None
        del self._deliveries[msg_id]
        return Completed(delivery.marker, delivery.last_ns)

    def expire(self) -> list[Expired]:
        """Deliveries older than the timeout that are still missing receivers."""
        cutoff = self._clock() - self.timeout_s
        expired = []
        for msg_id, delivery in list(self._deliveries.items()):
            if delivery.started > cutoff:
                break  # insertion order is send order
            del self._deliveries[msg_id]
            self._expired_ids.append(msg_id)
            expired.append(Expired(delivery.marker, delivery.expected, delivery.received))
        return expired
