"""Open-model load: the profile's ``arrivals:`` section and the arrival schedule it describes.

A closed model (users who think, then act) lets the server set the pace: when it slows, the users
wait and the load drops with it, so a slow server is measured under less load than a fast one
(coordinated omission). An open model sets the pace itself, like k6's ``constant-arrival-rate``
and ``ramping-arrival-rate`` executors: operations arrive at planned times whatever the server
does, each with its intended start; at most ``max_in_flight`` run at once per color, an arrival
that finds them all busy waits up to ``start_within_s`` and is otherwise *missed* (k6's
``dropped_iterations``), never sent late and quietly.

    arrivals:
      max_in_flight: 64          # per color, over all processes
      start_within_s: 1.0        # an arrival not started by then is missed
      pacing_error_ms: 50        # p99 of the generator's own lateness allowed (else the run is invalid)
      scenarios:
        history_read: {rate_per_s: 20}
        chat_turn: {rate_per_s: 2, green: {rate_per_s: 3}}      # per color, where the two differ
        agent_list: {stages: [{duration_s: 30, rate_per_s: 5}, {duration_s: 60, rate_per_s: 20}]}

A scenario runs ``rate_per_s`` arrivals a second, evenly spaced (both colors on the same schedule:
paired), or ramps linearly from ``start_rate_per_s`` through each stage's rate over its duration
and holds the last. Everything here is pure: the Locust side is ``loadtests.users.open_model``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SCENARIOS", "ArrivalSettings", "RateStage", "ScenarioRate", "ScenarioSettings", "arrival_times"]

MAX_RATE_PER_S = 10_000.0
MAX_DURATION_S = 7 * 24 * 3600.0

# What one arrival does (loadtests.users.open_model): the metric names it records.
SCENARIOS: dict[str, str] = {
    "chat_turn": "ask a question in the client's chat and stream the answer (chat.ask on green, "
    "chat.first_token, chat.complete)",
    "history_read": "read the chat list (chat.history)",
    "me": "read the logged-in user (auth.me)",
    "agent_list": "list the agents (agent.list)",
    "agent_run": "run the client's agent to completion (agent.run, agent.first_token)",
    "collection_list": "list the collections (collection.list)",
    "upload": "upload a 4 KB text file (upload.file)",
    "health": "the health route (health)",
}
Scenario = Literal["chat_turn", "history_read", "me", "agent_list", "agent_run", "collection_list", "upload", "health"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RateStage(_Strict):
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    rate_per_s: float = Field(ge=0, le=MAX_RATE_PER_S)


class ScenarioRate(_Strict):
    """Constant (``rate_per_s``) or ramping (``stages``, from ``start_rate_per_s``)."""

    rate_per_s: float | None = Field(default=None, ge=0, le=MAX_RATE_PER_S)
    start_rate_per_s: float = Field(default=0.0, ge=0, le=MAX_RATE_PER_S)
    stages: tuple[RateStage, ...] = Field(default=(), max_length=100)

    @model_validator(mode="after")
    def _one_kind(self) -> ScenarioRate:
        if (self.rate_per_s is None) == (not self.stages):
            raise ValueError("give either rate_per_s (constant) or stages (ramping)")
        return self

    def rate_at(self, t: float) -> float:
        """Arrivals per second ``t`` seconds into the run."""
        if self.rate_per_s is not None:
            return self.rate_per_s
        begin, rate = 0.0, self.start_rate_per_s
        for stage in self.stages:
            if t < begin + stage.duration_s:
                return rate + (stage.rate_per_s - rate) * (t - begin) / stage.duration_s
            begin, rate = begin + stage.duration_s, stage.rate_per_s
        return rate


class ScenarioSettings(ScenarioRate):
    """A scenario's rate, and per color where it differs (``blue: {...}``, ``green: {...}``)."""

    blue: ScenarioRate | None = None
    green: ScenarioRate | None = None

    def for_color(self, color: str) -> ScenarioRate:
        override = self.blue if color == "blue" else self.green if color == "green" else None
        if override is not None:
            return override
        return ScenarioRate(rate_per_s=self.rate_per_s, start_rate_per_s=self.start_rate_per_s, stages=self.stages)


class ArrivalSettings(_Strict):
    max_in_flight: int = Field(default=64, ge=1, le=100_000)
    start_within_s: float = Field(default=1.0, ge=0, le=3600)
    pacing_error_ms: float = Field(default=50.0, gt=0, le=60_000)
    scenarios: dict[Scenario, ScenarioSettings] = Field(min_length=1)


def arrival_times(rate: ScenarioRate, *, duration_s: float, share: float = 1.0, phase: float = 0.0) -> Iterator[float]:
    """The planned arrival times (seconds after the start, ascending, below ``duration_s``) of a
    process that carries ``share`` of the rate: the k-th arrival is where the cumulative count of
    arrivals, ∫ rate, reaches k + ``phase`` (in [0, 1): processes sharing a rate offset theirs)."""
    if not 0 < share <= 1 or not 0 <= phase < 1:
        raise ValueError("share in (0, 1], phase in [0, 1)")
    if rate.rate_per_s is not None:
        scaled = rate.rate_per_s * share
        if scaled <= 0:
            return
        k = 0
        while (t := (k + phase) / scaled) < duration_s:
            yield t
            k += 1
        return
    # Piecewise-linear rate: each segment's cumulative count is a quadratic in time.
    segments: list[tuple[float, float, float, float]] = []  # (begin, length, rate at begin, rate at end)
    begin, previous = 0.0, rate.start_rate_per_s
    for stage in rate.stages:
        segments.append((begin, stage.duration_s, previous * share, stage.rate_per_s * share))
        begin, previous = begin + stage.duration_s, stage.rate_per_s
    segments.append((begin, math.inf, previous * share, previous * share))
    target, done = phase, 0.0  # the next arrival's cumulative count; the count before this segment
    for start, length, r0, r1 in segments:
        if start >= duration_s:
            return
        slope = 0.0 if not math.isfinite(length) else (r1 - r0) / length
        span = length if math.isfinite(length) else math.inf
        total = (r0 + r1) / 2 * length if math.isfinite(length) else math.inf
        while target - done < total:
            need = target - done  # arrivals into this segment: r0 x + slope x² / 2 = need
            if abs(slope) < 1e-12:
                if r0 <= 0:
                    break
                x = need / r0
            else:
                x = (-r0 + math.sqrt(max(r0 * r0 + 2 * slope * need, 0.0))) / slope
            t = start + min(x, span)
            if t >= duration_s:
                return
            yield t
            target += 1
        done += total if math.isfinite(total) else 0.0
