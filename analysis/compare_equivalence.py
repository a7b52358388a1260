"""Equivalence before ``same``: a metric is ``same`` only when its interval for the difference lies
inside the practical margin (two one-sided tests, TOST); otherwise the data has not shown that
the two sides match, the verdict is ``inconclusive``, and it says about how many samples a side
would show it.

Why TOST: "no significant difference" is what a short or noisy run gives whatever the truth
(``compare_validity``: a +10 % p95 regression of a wide-spread HTTP metric passed as `same` in
97 % of ci-length runs). Equivalence turns the question round: the run must show that B is within
the margin of A, with the same false-alarm budget as a regression claim. Each one-sided test at
level alpha is the (1 - 2 alpha) two-sided interval lying inside the margin; alpha is the family's decision
alpha (Bonferroni over the scorecard), so ``same`` costs the same evidence as ``worse``.

The margins (``Thresholds``):
- latency: p95 B/A within [1/``ratio_p95``, ``ratio_p95``] (±5 %), or B - A within
  ±``equivalence_ms`` (2 ms: a difference no user notices, for fast metrics where 5 % is noise);
- errors: B - A within ±``error_rate_pp`` percentage points;
- resource slopes: B - A within ±the slope threshold.

Samples needed: an interval narrows as 1/√n, so reaching the margin takes about
``n · (half-width / (margin - |centre|))²`` samples a side; none when the estimate itself lies
outside the margin (more data would not show equivalence, only, perhaps, a difference).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Equivalence", "difference_equivalence", "ratio_equivalence"]


@dataclass(frozen=True)
class Equivalence:
    """Whether the metric was shown within its margin; the interval and margin that decided it."""

    shown: bool
    statistic: str  # what the interval is of: "p95 B/A", "p95 B-A (ms)", "B-A (pp)", ...
    interval: tuple[float, float]
    margin: tuple[float, float]
    level: float  # of the two-sided interval: 1 - 2 alpha
    needed_per_side: int | None  # about this many samples a side would show it (None: shown, or out of reach)
    text: str


def _needed(n: int, low: float, high: float, margin: float) -> int | None:
    """Samples a side for an interval centred like [low, high] to fit in [-margin, margin]."""
    centre, half = (low + high) / 2, (high - low) / 2
    if not (math.isfinite(centre) and math.isfinite(half)) or abs(centre) >= margin or n <= 0:
        return None
    return max(n + 1, math.ceil(n * (half / (margin - abs(centre))) ** 2))


def _format(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.4g}"


def ratio_equivalence(
    *,
    percentile: float,
    ratio_interval: tuple[float, float],
    diff_interval: tuple[float, float],
    ratio_margin: float,
    ms_margin: float,
    level: float,
    n: int,
) -> Equivalence:
    """A latency percentile: shown when B/A lies within [1/``ratio_margin``, ``ratio_margin``] or
    B - A within ±``ms_margin`` (either is a difference too small to matter)."""
    low, high = ratio_interval
    d_low, d_high = diff_interval
    log_margin = math.log(ratio_margin)
    by_ratio = low > 0 and math.isfinite(high) and 1 / ratio_margin <= low and high <= ratio_margin
    by_ms = math.isfinite(d_low) and math.isfinite(d_high) and -ms_margin <= d_low and d_high <= ms_margin
    statistic = f"p{percentile:g} B/A"
    if by_ms and not by_ratio:
        statistic = f"p{percentile:g} B-A (ms)"
    ratio_text = f"B/A {level:.4g} interval [{_format(low)}, {_format(high)}]"
    diff_text = f"B-A [{_format(d_low)}, {_format(d_high)}] ms"
    if by_ratio or by_ms:
        within = f"±{100 * (ratio_margin - 1):.3g} % or ±{ms_margin:g} ms"
        text = f"p{percentile:g} shown within {within}: {ratio_text}, {diff_text}"
        return Equivalence(True, statistic, (low, high) if by_ratio else (d_low, d_high),
                           (1 / ratio_margin, ratio_margin) if by_ratio else (-ms_margin, ms_margin),
                           level, None, text)  # fmt: skip
    routes = []
    if low > 0 and math.isfinite(high):
        routes.append(_needed(n, math.log(low), math.log(high), log_margin))
    routes.append(_needed(n, d_low, d_high, ms_margin))
    reachable = [route for route in routes if route is not None]
    needed = min(reachable) if reachable else None
    more = (
        f"about {needed:,} samples a side would show it" if needed is not None
        else "the estimate itself lies outside the margin: more samples would not show it"
    )  # fmt: skip
    text = (
        f"p{percentile:g} not shown within ±{100 * (ratio_margin - 1):.3g} % or ±{ms_margin:g} ms "
        f"({ratio_text}, {diff_text}): {more}"
    )
    return Equivalence(False, statistic, (low, high), (1 / ratio_margin, ratio_margin), level, needed, text)


def _within(interval: tuple[float, float], margin: float) -> bool:
    low, high = interval
    return math.isfinite(low) and math.isfinite(high) and -margin <= low and high <= margin


def _searched(n: int, interval_at: Callable[[int], tuple[float, float]], margin: float) -> int | None:
    """The least sample size (per side, to a factor of 1.05) whose interval fits the margin."""
    high = n + 1
    while not _within(interval_at(high), margin):
        if high > 10**10:
            return None
        high *= 2
    low = max(n, high // 2)
    while high > low * 1.05:
        middle = (low + high) // 2
        low, high = (low, middle) if _within(interval_at(middle), margin) else (middle, high)
    return high


def difference_equivalence(
    *,
    statistic: str,
    interval: tuple[float, float],
    margin: float,
    unit: str,
    level: float,
    n: int,
    interval_at: Callable[[int], tuple[float, float]] | None = None,
) -> Equivalence:
    """A difference B - A (error rate in pp, a slope): shown when it lies within ±``margin``.
    ``interval_at(n)``: the interval with the same estimates from ``n`` samples a side, where the
    1/√n rule is wrong (a failure rate near 0 %: its interval narrows as 1/n)."""
    low, high = interval
    described = f"{statistic} {level:.4g} interval [{_format(low)}, {_format(high)}] {unit}"
    if _within(interval, margin):
        return Equivalence(True, statistic, interval, (-margin, margin), level, None,
                           f"shown within ±{margin:g} {unit}: {described}")  # fmt: skip
    centre = (low + high) / 2
    if interval_at is not None and math.isfinite(centre) and abs(centre) < margin and n > 0:
        needed = _searched(n, interval_at, margin)
    else:
        needed = _needed(n, low, high, margin)
    more = (
        f"about {needed:,} samples a side would show it" if needed is not None
        else "the estimate itself lies outside the margin: more samples would not show it"
    )  # fmt: skip
    return Equivalence(False, statistic, interval, (-margin, margin), level, needed,
                       f"not shown within ±{margin:g} {unit} ({described}): {more}")  # fmt: skip
