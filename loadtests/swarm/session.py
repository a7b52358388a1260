"""``SwarmSession``: one swarm connection read by its Locust user's greenlet (the gevent engine).

The user's ``wait_time`` is ``wait()``, which blocks *reading the connection* until the next
action is due, handling whatever arrives (pongs, fan-out messages, a drop) the moment it arrives;
the user's one task is ``act()``, which does the actions that are due. Locust can stop a waiting
user at once, and a drop is noticed without polling. Every loop is bounded in time and count.

What a session does, and why, is ``loadtests.swarm.core``; this is only how it waits under gevent.
The asyncio engine (``loadtests.swarm.aio_session``) is the default since it costs the generator
a third of the memory and CPU per connection (``benchmarks/swarm_hold.py``); this one is kept as
``swarm.engine: gevent`` (every connection is an ordinary Locust user greenlet, no second thread).
"""

from __future__ import annotations

from collections.abc import Callable

import gevent

from loadtests.dialects.base import StreamEvent
from loadtests.swarm.connection import SwarmConnection, new_connection
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.core import (
    CONNECT,
    DROP,
    FANOUT,
    FANOUT_LAST,
    MAX_EVENTS_PER_PUMP,
    RECONNECT,
    ROOM,
    RTT,
    OpenWait,
    SessionCore,
)
from loadtests.transport.errors import ConnectFailed

# The metric names, where they were first defined (tests and the summary import them from here).
__all__ = ["CONNECT", "DROP", "FANOUT", "FANOUT_LAST", "RECONNECT", "ROOM", "RTT", "SwarmSession"]


class SwarmSession(SessionCore):
    __slots__ = ()
    conn: SwarmConnection

    def __init__(self, ctx: SwarmContext) -> None:
        assert ctx.timer is not None, "SwarmContext.bind() was not called"
        conn = new_connection(ctx.dialect.realtime_kind, ctx.base_url, connect_timeout_s=ctx.settings.connect_timeout_s)
        super().__init__(ctx, conn, timer=ctx.timer, gauge=ctx.gauge)

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
        if self._act_due():
            self._attempt()

    def stop(self) -> None:
        self._finish()

    # -- waiting -------------------------------------------------------------------------------
    def _attempt(self) -> None:
        """Drive ``SessionCore._attempt_steps`` with blocking waits."""
        steps = self._attempt_steps()
        answer: ConnectFailed | StreamEvent | None = None
        try:
            while True:
                wait = steps.send(answer)
                if isinstance(wait, OpenWait):
                    try:
                        self.conn.open(wait.endpoint, wait.timeout_s)
                        answer = None
                    except ConnectFailed as failure:
                        answer = failure
                else:
                    answer = self._pump(wait.deadline, wait.want)
        except StopIteration:
            pass

    def _pump(self, deadline: float, want: Callable[[StreamEvent], bool] | None) -> StreamEvent | None:
        """Read until ``deadline``, handling what arrives; with ``want``, return the first event it
        accepts (``SessionCore._take``)."""
        conn, clock = self.conn, self.ctx.clock
        for _ in range(MAX_EVENTS_PER_PUMP):
            remaining = deadline - clock()
            if remaining <= 0:
                return None
            item = conn.receive(remaining)
            if item is None:
                continue
            done, event = self._take(item, want)
            if done:
                return event
        return None
