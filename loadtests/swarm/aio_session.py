"""``AioSwarmSession``: one swarm connection as a task on the asyncio engine's loop.

What a session does, and why, is ``loadtests.swarm.core``; this is how it waits on asyncio: its
task reads the connection until the next action is due (``_pump``), does what is due, and
reconnects through the engine's connect gate (``loadtests.swarm.engine.ConnectGate``), which paces
handshakes to what the generator can take. Samples and gauge counts go through the engine's relay
to Locust's thread, with the time stamps taken here, where things happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from loadtests.dialects.base import StreamEvent
from loadtests.swarm.aio_connection import AioConnection, new_aio_connection
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.core import MAX_EVENTS_PER_PUMP, GaugeLike, SessionCore, TimerLike, failure_of
from loadtests.transport.errors import ConnectFailed

if TYPE_CHECKING:
    from loadtests.swarm.engine import SwarmEngine

__all__ = ["AioSwarmSession"]


class AioSwarmSession(SessionCore):
    __slots__ = ("engine", "task")
    conn: AioConnection

    def __init__(self, ctx: SwarmContext, engine: SwarmEngine, *, timer: TimerLike, gauge: GaugeLike) -> None:
        super().__init__(ctx, new_aio_connection(ctx.dialect.realtime_kind, ctx.base_url), timer=timer, gauge=gauge)
        self.engine = engine
        self.task: asyncio.Task[None] | None = None

    def _token(self) -> str | None:
        # Minted here, or a shared login's token that Locust's thread got (a login waits on HTTP).
        return self.engine.token(self.ctx, self.index)

    async def run(self) -> None:
        """Connect, then hold: bounded by the session's own deadlines and its user's stop (the
        engine cancels the task)."""
        await self._attempt()
        while not self.dead:
            due = self._next_due()
            if self.ready:
                await self._pump(due, None)
            else:
                await asyncio.sleep(max(due - self.ctx.clock(), 0.0))
            if self._act_due():
                await self._attempt()

    async def _attempt(self) -> None:
        async with self.engine.gate:
            await self._attempt_paced()

    async def _attempt_paced(self) -> None:
        begun = self._begin_attempt()
        if begun is None:
            return
        token, endpoint = begun
        settings, dialect = self.ctx.settings, self.ctx.dialect
        start = self.timer.start()
        deadline = self.ctx.clock() + settings.connect_timeout_s
        try:
            await self.conn.open(endpoint, settings.connect_timeout_s)
        except ConnectFailed as failure:
            self._connect_failed(start, failure)
            return
        ready_event = dialect.ready_event
        if ready_event is not None:
            event = await self._pump(deadline, lambda e: isinstance(e, ready_event))
            if not isinstance(event, ready_event):
                self._connect_failed(start, failure_of(event, ready_event.__name__), close=True)
                return
        end_ns = time.perf_counter_ns()  # blue: the socket is open (the contract's timing point)
        if dialect.opening_required:
            opening = self._begin_opening(token)
            if opening is not None and not isinstance(opening, ConnectFailed):
                until = opening.step.until
                event = await self._pump(self._opening_deadline(deadline), lambda e: isinstance(e, until))  # type: ignore[arg-type]
                opening = self._end_opening(opening, event)
            if isinstance(opening, ConnectFailed):
                self._connect_failed(start, opening, close=True)
                return
        self._connected(start, end_ns)

    async def _pump(self, deadline: float, want: Callable[[StreamEvent], bool] | None) -> StreamEvent | None:
        """As ``SwarmSession._pump``, awaited."""
        conn, clock = self.conn, self.ctx.clock
        for _ in range(MAX_EVENTS_PER_PUMP):
            remaining = deadline - clock()
            if remaining <= 0:
                return None
            item = await conn.receive(remaining)
            if item is None:
                continue
            done, event = self._take(item, want)
            if done:
                return event
        return None

    def finish(self) -> None:
        """Its user stopped: close on purpose (the engine calls it, paced, after cancelling the task)."""
        self._finish()
