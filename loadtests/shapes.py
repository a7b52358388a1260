"""Load shapes: how many users run at each moment (and, for a canary, on which color).

Each shape is a frozen parameter model with one method, ``at(t) -> Stage``: pure, so tests ask it
about any moment without waiting. ``shape_class`` wraps one in Locust's ``LoadTestShape`` (its
``tick`` reads Locust's run clock). Locust ignores ``--run-time`` when a shape runs, so in one
process the shape ends the run at the profile's ``duration_s``; in a distributed run it never does
(``ends_run=False``): the master's graceful end stops it, after the workers' last intervals.

- ``ramp``: up to ``users`` in ``up_s``, hold, then down to zero in ``down_s`` before the end;
- ``step``: ``step_users`` more every ``every_s`` until ``users``;
- ``spike``: ``base_users``, then ``users`` from ``at_s`` for ``hold_s``, then ``base_users`` again;
- ``canary``: ``users`` split between blue and green by stage (90/10 → 50/50 → 0/100). Locust keeps
  its users when the total stays the same, whatever the new classes, so a stage change empties the
  run for one tick and starts every user again on its new color (sessions re-established after a
  traffic switch: they log in and reconnect).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPAWN_RATE_FAST = 1_000.0  # users per second when a shape jumps (spike, canary switch)
SWITCH_S = 1.0  # a canary stage change: one of Locust's one-second ticks with no users


MAX_SHAPE_S = 7 * 24 * 3600.0  # every duration of a shape: the longest run (profiles.MAX_DURATION_S)
MAX_USERS = 1_000_000


class _Shape(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True)
class Stage:
    users: int
    spawn_rate: float
    index: int = 0  # canary: which split applies


class RampShape(_Shape):
    kind: Literal["ramp"]
    up_s: float = Field(gt=0, le=MAX_SHAPE_S)
    down_s: float = Field(default=0, ge=0, le=MAX_SHAPE_S)

    def at(self, t: float, *, users: int, spawn_rate: float, duration_s: float) -> Stage:
        if t < self.up_s:
            return Stage(max(1, round(users * t / self.up_s)), SPAWN_RATE_FAST)
        if self.down_s and t > duration_s - self.down_s:
            left = max(0.0, duration_s - t)
            return Stage(round(users * left / self.down_s), SPAWN_RATE_FAST)
        return Stage(users, SPAWN_RATE_FAST)


class StepShape(_Shape):
    kind: Literal["step"]
    step_users: int = Field(ge=1, le=MAX_USERS)
    every_s: float = Field(gt=0, le=MAX_SHAPE_S)

    def at(self, t: float, *, users: int, spawn_rate: float, duration_s: float) -> Stage:
        steps = int(t // self.every_s) + 1
        return Stage(min(users, steps * self.step_users), spawn_rate)


class SpikeShape(_Shape):
    kind: Literal["spike"]
    base_users: int = Field(ge=0, le=MAX_USERS)
    at_s: float = Field(ge=0, le=MAX_SHAPE_S)
    hold_s: float = Field(gt=0, le=MAX_SHAPE_S)

    def at(self, t: float, *, users: int, spawn_rate: float, duration_s: float) -> Stage:
        if self.at_s <= t < self.at_s + self.hold_s:
            return Stage(users, SPAWN_RATE_FAST)
        return Stage(self.base_users, spawn_rate)


class CanaryStage(_Shape):
    duration_s: float = Field(gt=0, le=MAX_SHAPE_S)
    blue: int = Field(ge=0, le=100)
    green: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _a_split(self) -> CanaryStage:
        if self.blue + self.green != 100:
            raise ValueError(f"blue + green must be 100 (percent of users), got {self.blue + self.green}")
        return self


class CanaryShape(_Shape):
    kind: Literal["canary"]
    stages: tuple[CanaryStage, ...] = Field(min_length=1)

    def stage_index(self, t: float) -> int:
        elapsed = 0.0
        for index, stage in enumerate(self.stages):
            elapsed += stage.duration_s
            if t < elapsed:
                return index
        return len(self.stages) - 1  # the last split holds until the run ends

    def at(self, t: float, *, users: int, spawn_rate: float, duration_s: float) -> Stage:
        index = self.stage_index(t)
        if index > 0 and t - sum(stage.duration_s for stage in self.stages[:index]) < SWITCH_S:
            return Stage(0, SPAWN_RATE_FAST, index)  # the switch: see the module docstring
        return Stage(users, spawn_rate if index == 0 else SPAWN_RATE_FAST, index)

    def share(self, index: int, color: str) -> int:
        return getattr(self.stages[index], color, 0)


Shape = Annotated[RampShape | StepShape | SpikeShape | CanaryShape, Field(discriminator="kind")]


def shape_class(  # type: ignore[no-untyped-def]
    shape: Shape, *, users: int, spawn_rate: float, duration_s: float, classes_by_stage=None, ends_run: bool = True
):
    """A Locust ``LoadTestShape`` for ``shape``; ``classes_by_stage`` (canary) lists the user
    classes of each stage, carrying that stage's split in their weights."""
    from locust import LoadTestShape

    class ProfileShape(LoadTestShape):
        def tick(self):  # type: ignore[no-untyped-def]
            t = self.get_run_time()
            if t >= duration_s + (0 if ends_run else 60):  # distributed: a safety net only
                return None
            stage = shape.at(t, users=users, spawn_rate=spawn_rate, duration_s=duration_s)
            if classes_by_stage is not None:
                return stage.users, stage.spawn_rate, classes_by_stage[stage.index]
            return stage.users, stage.spawn_rate

    ProfileShape.__name__ = f"{type(shape).__name__}Profile"
    return ProfileShape


def default_canary(duration_s: float) -> CanaryShape:
    """90/10, then 50/50, then 0/100 between blue and green, a third of the run each."""
    third = duration_s / 3
    return CanaryShape(
        kind="canary",
        stages=(
            CanaryStage(duration_s=third, blue=90, green=10),
            CanaryStage(duration_s=third, blue=50, green=50),
            CanaryStage(duration_s=third, blue=0, green=100),
        ),
    )
