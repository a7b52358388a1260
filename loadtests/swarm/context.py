"""``SwarmContext``: what the sessions of one swarm class share inside one Locust process.

Built once per class and process (``loadtests.users.swarm``), bound to the environment's request
hook, handed to every ``SwarmSession`` of the class. Kept apart from the session, which is what one
connection does: the context is the session's whole view of the run (dialect, settings, tokens,
gauge, rooms, clock and random source, the one timer).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loadtests.dialects.base import Dialect
from loadtests.swarm.gauge import ConnectionGauge
from loadtests.swarm.rooms import RoomBook
from loadtests.swarm.settings import SwarmSettings
from loadtests.swarm.tokens import TokenSource
from loadtests.timing import RequestHook, Timer

__all__ = ["SwarmContext"]


@dataclass
class SwarmContext:
    """What the sessions of one swarm class share inside one process: the dialect, settings,
    token source, gauge and rooms, and one timer (the same target and class for all)."""

    dialect: Dialect
    base_url: str
    target: str
    user_class: str
    settings: SwarmSettings
    gauge: ConnectionGauge
    rooms: RoomBook | None
    make_tokens: Callable[[Timer], TokenSource]
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    timer: Timer | None = None
    tokens: TokenSource | None = None
    # Where a socket must open a chat first (``Dialect.opening``: blue), the chat each account's
    # connections open with (user id -> chat id): created by the account's first connection in this
    # process, joined by the others.
    opening_chats: dict[str, str] = field(default_factory=dict)
    _next_index: int = 0

    def bind(self, hook: RequestHook) -> None:
        """Attach to an environment's request hook (once per environment)."""
        if self.timer is None or self.timer.hook is not hook:
            self.timer = Timer(hook, target=self.target, user_class=self.user_class)
            self.tokens = self.make_tokens(self.timer)

    def next_index(self) -> int:
        index, self._next_index = self._next_index, self._next_index + 1
        return index
