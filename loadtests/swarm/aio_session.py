"""``AioSwarmSession``: one swarm connection as a task on the asyncio engine's loop.

What a session does, and why, is ``loadtests.swarm.core``; this is how it waits on asyncio: its
task reads the connection until the next action is due (``_pump``), does what is due, and
reconnects through the engine's connect gate (``loadtests.swarm.engine.ConnectGate``), which paces
handshakes to what the generator can take. Samples and gauge counts go through the engine's relay
to Locust's thread, with the time stamps taken here, where things happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from loadtests.dialects.base import StreamEvent
from loadtests.swarm.aio_connection import AioConnection, new_aio_connection
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.core import MAX_EVENTS_PER_PUMP, GaugeLike, OpenWait, SessionCore, TimerLike
from loadtests.transport.errors import ConnectFailed

if TYPE_CHECKING:
    from loadtests.swarm.engine import SwarmEngine

__all__ = ["AioSwarmSession"]


class AioSwarmSession(SessionCore):
    __slots__ = ("engine", "task")
    conn: AioConnection

    def __init__(self, ctx: SwarmContext, engine: SwarmEngine, *, timer: TimerLike, gauge: GaugeLike) -> None:
        super().__init__(ctx, new_aio_connection(ctx.dialect.realtime_kind, ctx.base_url), timer=timer, gauge=gauge)
        sources = ctx.settings.sources
        if sources:  # the process's connections take the source addresses in turn
            self.conn.source_address = sources[self.index % len(sources)]
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
        """Drive ``SessionCore._attempt_steps`` with awaited waits."""
        steps = self._attempt_steps()
        answer: ConnectFailed | StreamEvent | None = None
        try:
            while True:
                wait = steps.send(answer)
                if isinstance(wait, OpenWait):
                    try:
                        await self.conn.open(wait.endpoint, wait.timeout_s)
                        answer = None
                    except ConnectFailed as failure:
                        answer = failure
                else:
                    answer = await self._pump(wait.deadline, wait.want)
        except StopIteration:
            pass

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
