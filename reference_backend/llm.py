"""The simulated LLM: an answer streamed as text deltas on a configured timing.

Every random draw for an answer happens up front in ``plan()``, on the event loop, so one seeded
``random.Random`` per app gives a reproducible sequence of answers whatever the streams' interleaving.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

from reference_backend.settings import FaultSettings, LlmSettings

_VOCABULARY = (
    "the answer depends on context and the course material suggests several approaches students often "
    "compare results across sources before drawing conclusions about a topic consider the definition "
    "first then an example and finally the exceptions that matter learning improves with practice"
)
_WORDS: tuple[str, ...] = tuple(_VOCABULARY.split())


@dataclass(frozen=True, slots=True)
class AnswerPlan:
    """One answer: its chunks, the pauses before each, and whether the stream ends properly."""

    first_token_s: float
    gaps_s: tuple[float, ...]
    chunks: tuple[str, ...]
    send_end: bool

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class LlmSimulator:
    def __init__(self, llm: LlmSettings, faults: FaultSettings, rng: random.Random) -> None:
        self._llm = llm
        self._faults = faults
        self._rng = rng

    def plan(self) -> AnswerPlan:
        rng, llm = self._rng, self._llm
        first_ms = llm.first_token.sample(rng)
        if self._faults.stream_latency is not None:
            first_ms += self._faults.stream_latency.sample(rng)
        gaps = tuple(llm.token_gap.sample(rng) / 1000 for _ in range(llm.chunks - 1))
        chunks = []
        for index in range(llm.chunks):
            words = " ".join(rng.choice(_WORDS) for _ in range(llm.words_per_chunk))
            chunks.append(words if index == 0 else " " + words)
        drop = self._faults.drop_end_rate > 0 and rng.random() < self._faults.drop_end_rate
        return AnswerPlan(first_token_s=first_ms / 1000, gaps_s=gaps, chunks=tuple(chunks), send_end=not drop)

    async def deltas(self, plan: AnswerPlan) -> AsyncIterator[str]:
        await asyncio.sleep(plan.first_token_s)
        yield plan.chunks[0]
        for gap, chunk in zip(plan.gaps_s, plan.chunks[1:], strict=True):
            await asyncio.sleep(gap)
            yield chunk
