"""Time windows of a run: the whole run, the steady state (after ``spawning_complete``) or a custom
``[since, until)``, in epoch seconds.

Samples are per interval, so a window keeps the intervals that lie inside it: an interval that
began before ``since`` belongs to the ramp-up and is left out (never split, never guessed).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from loadtests.slo_spec import WindowChoice, WindowSpec

_EPSILON_S = 1e-6  # interval bounds are rounded to the millisecond when written


@dataclass(frozen=True)
class Window:
    name: str  # "whole", "steady" or "custom"
    since: float | None  # epoch seconds; None: from the first sample
    until: float | None  # epoch seconds; None: to the last sample

    def interval_mask(self, frame: pd.DataFrame, start: str = "t0", end: str = "t1") -> pd.Series:
        """Rows whose interval ``[start, end)`` lies inside the window."""
        mask = pd.Series(True, index=frame.index)
        if self.since is not None:
            mask &= frame[start] >= self.since - _EPSILON_S
        if self.until is not None:
            mask &= frame[end] <= self.until + _EPSILON_S
        return mask

    def point_mask(self, frame: pd.DataFrame, column: str = "time") -> pd.Series:
        """Rows whose time stamp lies in ``[since, until)``."""
        mask = pd.Series(True, index=frame.index)
        if self.since is not None:
            mask &= frame[column] >= self.since - _EPSILON_S
        if self.until is not None:
            mask &= frame[column] < self.until
        return mask

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "since": self.since, "until": self.until}


WHOLE = Window("whole", None, None)


def resolve_window(
    choice: WindowChoice, *, started_at: float | None, steady_from: float | None, steady_until: float | None = None
) -> Window:
    """The epoch bounds of a window choice for a run that started at ``started_at``, reached
    steady state at ``steady_from`` and began to stop at ``steady_until`` (``None`` when unknown:
    then "steady" is open on that side)."""
    if choice == "whole":
        return WHOLE
    if choice == "steady":
        return Window("steady", steady_from, steady_until)
    assert isinstance(choice, WindowSpec)
    origin = steady_from if choice.relative_to == "steady" else started_at
    if origin is None:
        origin = started_at if started_at is not None else 0.0
    since = None if choice.since_s is None else origin + choice.since_s
    until = None if choice.until_s is None else origin + choice.until_s
    return Window("custom", since, until)
