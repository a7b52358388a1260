"""The state one app runs on, built from settings, and its lifetime (background tasks, GC freezing).

Both colors build one ``BackendState`` and keep it on ``app.state.backend``; nothing lives in module
globals, so any number of apps can run in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from reference_backend.auth import RefreshTokens, TokenIssuer, UserPool
from reference_backend.llm import LlmSimulator
from reference_backend.metrics import Metrics
from reference_backend.settings import BackendSettings
from reference_backend.store import Store


@dataclass
class BackendState:
    settings: BackendSettings
    users: UserPool
    tokens: TokenIssuer
    refresh_tokens: RefreshTokens
    store: Store
    llm: LlmSimulator
    metrics: Metrics
    fault_rng: random.Random
    # The planted memory leak of ``faults.memory_growth_kb_per_request``: appended to, never freed.
    leak: list[bytes] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    started_at: float = field(default_factory=time.time)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background (a streamed answer), holding a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def cancel_tasks(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan: freeze the heap periodically, and stop every stream on shutdown."""
        freezer = None
        if self.settings.gc_freeze_interval_s > 0:
            freezer = asyncio.get_running_loop().create_task(_freeze_periodically(self.settings.gc_freeze_interval_s))
        try:
            yield
        finally:
            if freezer is not None:
                freezer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await freezer
            await self.cancel_tasks()


async def _freeze_periodically(interval_s: float) -> None:
    # With thousands of connections the heap holds millions of long-lived objects, and each full
    # collection walks them all: pauses of over a second that dominate tail latency. gc.freeze()
    # moves the survivors out of the collector's sight. Before it, only the young generations are
    # collected: a full gc.collect() here, even with the old heap frozen, took 0.43-0.58 s at
    # 10,000 Socket.IO connections (measured: the swarm's RTT p95 was 275 ms, the stand-in's GC,
    # not the protocol; the real green runs on Node). A cycle that reached the old generation
    # since the last freeze is frozen with it: young-first keeps that small (0-250 objects a call,
    # measured at 10,000 connections). Every 10 s, not 2: once 10,000 connections were held, each
    # young collection still took 60-160 ms of CPU with nothing to collect (the cost is not the
    # young generation's size), so every 2 s it cost 3.5 % of a core and a stall every 2 s; every
    # 10 s, 0.6 % (issue 15, the swarm profile against the embedded green).
    while True:
        await asyncio.sleep(interval_s)
        gc.collect(1)
        gc.freeze()


def build_state(settings: BackendSettings) -> BackendState:
    llm_rng = random.Random(settings.seed)
    # A separate stream for faults, so switching a fault on does not change the LLM's timings.
    fault_seed = settings.faults.seed if settings.faults.seed is not None else settings.seed
    fault_rng = random.Random(None if fault_seed is None else fault_seed + 1)
    return BackendState(
        settings=settings,
        users=UserPool(settings.users),
        tokens=TokenIssuer(settings.jwt_secret.get_secret_value(), settings.token_ttl_s),
        refresh_tokens=RefreshTokens(settings.refresh_token_ttl_s, settings.limits.max_refresh_tokens),
        store=Store(settings.limits),
        llm=LlmSimulator(settings.llm, settings.faults, llm_rng),
        metrics=Metrics(),
        fault_rng=fault_rng,
    )
