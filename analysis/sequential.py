"""Anytime-valid comparison of blue and green: confidence sequences a gate may look at as often as it
likes, stopping as soon as every critical metric is decided.

The procedure, and why this one:

- **Confidence sequences, not a fixed-sample test looked at repeatedly.** A 95 % interval checked
  every ten seconds excludes the truth somewhere along the way far more often than 5 % of the time
  (with 60 looks, roughly a third of A/A runs would be flagged). A confidence sequence holds at
  every sample size at once: the chance that it *ever* excludes the truth is at most alpha, so the
  gate may stop at the first look where the answer is clear, and need not fix its number of looks
  or its duration in advance (Howard, Ramdas, McAuliffe & Sekhon 2021; Howard & Ramdas 2022 for
  quantiles). Group-sequential alpha spending (Pocock, O'Brien-Fleming) would need the look
  schedule fixed up front; a run whose looks slip (a slow machine) would break it.
- **Distribution-free.** The p-quantile's sequence comes from the count of samples below the true
  quantile, a sum of Bernoulli(p) draws whatever the latency distribution: its deviation from n·p
  is bounded by the *stitched* boundary of Howard et al. (2021, Theorem 1 with polynomial
  stitching) for a sub-gamma process with variance p(1 - p) per sample and Bernstein scale
  c = (upper bound of the centred draw) / 3. The bound is inverted into order statistics: an
  interval for the p95 read off the merged HDR histogram, no bootstrap. The same inversion, test by
  test over the unknown rate, gives an error rate's sequence.
- **A union bound for the rest.** Each critical metric gets alpha / (number of critical metrics);
  within a metric, each side's sequence gets half, each tail half of that. B/A of a percentile lies
  in [L_B / U_A, U_B / L_A], B - A in [L_B - U_A, U_B - L_A] whenever both sides' sequences hold.

What it assumes: samples independent within a side (true of a paired open-model run up to shared
hiccups of the machine, as for the fixed comparison), and a continuous latency distribution (HDR
buckets are reported by their highest value: a sequence's upper end is then conservative, its
lower end taken one bucket down).

The decisions, with the same practical margins as ``compare`` (``Thresholds``):

  worse        B/A's lower end above 1 (B - A's above 0 for errors), and the estimate past the
               practical threshold (p95 x1.05 and 1 ms; +0.1 pp)
  better       the same in A's disfavour
  equivalent   the whole interval inside the margin (p95 B/A within ±5 % or B - A within ±2 ms;
               errors within ±0.1 pp): TOST, anytime-valid
  undecided    otherwise; the samples a side that would decide it are estimated (intervals narrow
               as 1/√n, the boundary's log-log growth aside)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from analysis.compare_stats import Buckets

__all__ = [
    "Boundary",
    "MetricLook",
    "SequentialDecision",
    "judge_errors_look",
    "judge_latency_look",
    "proportion_sequence",
    "quantile_sequence",
]

SequentialDecision = Literal["worse", "better", "equivalent", "undecided"]


@dataclass(frozen=True)
class Boundary:
    """The polynomial-stitched boundary of Howard et al. (2021), Theorem 1 / eq. (10): for a
    sub-gamma process S_t with variance process V_t and scale c,

        P(exists t: S_t >= k1 sqrt(max(V_t, m) l(max(V_t, m))) + k2 c l(max(V_t, m))) <= alpha,
        l(v) = s log log(eta v / m) + log(zeta(s) / (alpha log(eta)^s)),
        k1 = (eta^(1/4) + eta^(-1/4)) / sqrt(2),  k2 = (sqrt(eta) + 1) / 2.

    ``m`` is where the boundary is tightest (the variance at the sample size a decision is
    expected near); it is valid for every t either way. ``eta`` = 2 and ``s`` = 1.4 are the
    paper's recommended defaults."""

    alpha: float  # one-sided crossing probability
    m: float
    eta: float = 2.0
    s: float = 1.4

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or self.m <= 0:
            raise ValueError("a boundary needs 0 < alpha < 1 and m > 0")

    def deviation(self, v: float, c: float) -> float:
        """The bound on S_t when V_t = ``v``."""
        v = max(v, self.m)
        ell = self.s * math.log(math.log(self.eta * v / self.m)) + math.log(
            float(special.zeta(self.s)) / (self.alpha * math.log(self.eta) ** self.s)
        )
        k1 = (self.eta**0.25 + self.eta**-0.25) / math.sqrt(2)
        k2 = (math.sqrt(self.eta) + 1) / 2
        return k1 * math.sqrt(v * ell) + k2 * c * ell


def quantile_sequence(buckets: Buckets, percentile: float, *, alpha: float, n0: int = 1000) -> tuple[float, float]:
    """An interval for the ``percentile`` of the distribution ``buckets`` were drawn from, valid at
    every sample size at once with probability >= 1 - ``alpha`` (two-sided). ``n0``: the sample
    size the boundary is tightest near. ``(0, inf)`` ends mean "no bound yet"."""
    n = buckets.n
    if n == 0:
        return (0.0, math.inf)
    p = percentile / 100
    variance = p * (1 - p)
    boundary = Boundary(alpha=alpha / 2, m=n0 * variance)
    below = boundary.deviation(n * variance, (1 - p) / 3)  # the count below the quantile, too high
    above = boundary.deviation(n * variance, p / 3)  # ... too low
    cumulative = np.cumsum(buckets.counts)
    # At least k_low samples lie at or below the true quantile: it is >= the k_low-th sample.
    k_low = math.ceil(n * p - above)
    # At most floor(n p + below) lie at or below it: the next order statistic is above it.
    k_high = math.floor(n * p + below) + 1
    if k_low <= 0:
        low = 0.0
    else:
        index = int(np.searchsorted(cumulative, k_low, side="left"))
        low = float(buckets.values_ms[index - 1]) if index > 0 else 0.0  # the bucket's lower edge, at most
    high = math.inf if k_high > n else float(buckets.values_ms[int(np.searchsorted(cumulative, k_high, side="left"))])
    return (low, high)


def proportion_sequence(failures: int, n: int, *, alpha: float, n0: int = 1000) -> tuple[float, float]:
    """An interval for a failure rate (a fraction), valid at every n at once with probability
    >= 1 - ``alpha``: the rates whose own time-uniform test the counts do not reject."""
    if n == 0:
        return (0.0, 1.0)
    rate = failures / n

    def consistent_above(pi: float) -> bool:  # failures not too many for rate pi
        variance = pi * (1 - pi)
        if variance == 0:
            return failures <= n * pi
        boundary = Boundary(alpha=alpha / 2, m=n0 * variance)
        return failures - n * pi <= boundary.deviation(n * variance, (1 - pi) / 3)

    def consistent_below(pi: float) -> bool:  # failures not too few for rate pi
        variance = pi * (1 - pi)
        if variance == 0:
            return failures >= n * pi
        boundary = Boundary(alpha=alpha / 2, m=n0 * variance)
        return n * pi - failures <= boundary.deviation(n * variance, pi / 3)

    def edge(consistent: Callable[[float], bool], inside: float, outside: float) -> float:
        """The last rate between ``inside`` (consistent) and ``outside`` (not) that is consistent."""
        for _ in range(60):
            middle = (inside + outside) / 2
            if consistent(middle):
                inside = middle
            else:
                outside = middle
            if abs(outside - inside) < 1e-9:
                break
        return inside

    low = 0.0 if consistent_above(0.0) else edge(consistent_above, rate, 0.0)
    high = 1.0 if consistent_below(1.0) else edge(consistent_below, rate, 1.0)
    return (low, high)


@dataclass(frozen=True)
class MetricLook:
    """One critical metric at one look: its decision, the anytime-valid interval that decided it,
    and (undecided) about how many samples a side would decide it."""

    id: str
    decision: SequentialDecision
    n_a: int
    n_b: int
    estimate: float  # B/A (latency) or B - A in pp (errors)
    interval: tuple[float, float]  # the same, anytime-valid at the metric's alpha
    diff_interval: tuple[float, float]  # latency: B - A in ms; errors: the same as interval
    margin: tuple[float, float]
    alpha: float
    needed_per_side: int | None
    reason: str


def _needed_for(n: int, low: float, high: float, room: float) -> int | None:
    """Samples a side for an interval [low, high] (log scale or differences) to shrink into a
    margin ``room`` either side of 0; None when its centre lies outside the margin."""
    centre, half = (low + high) / 2, (high - low) / 2
    if not (math.isfinite(centre) and math.isfinite(half)) or abs(centre) >= room or n <= 0:
        return None
    return max(n + 1, math.ceil(n * (half / (room - abs(centre))) ** 2))


def judge_latency_look(
    metric_id: str,
    a: Buckets,
    b: Buckets,
    *,
    alpha: float,
    percentile: float = 95.0,
    ratio_margin: float = 1.05,
    min_diff_ms: float = 1.0,
    equivalence_ms: float = 2.0,
    n0: int = 1000,
) -> MetricLook:
    """A latency percentile at one look (the rules: this module's docstring)."""
    low_a, high_a = quantile_sequence(a, percentile, alpha=alpha / 2, n0=n0)
    low_b, high_b = quantile_sequence(b, percentile, alpha=alpha / 2, n0=n0)
    est_a, est_b = a.percentile(percentile), b.percentile(percentile)
    estimate = est_b / est_a if est_a and est_a > 0 else math.nan
    ratio = (low_b / high_a if high_a > 0 else 0.0, high_b / low_a if low_a > 0 else math.inf)
    diff = (low_b - high_a, high_b - low_a)
    margin = (1 / ratio_margin, ratio_margin)
    label = f"p{percentile:g} x{estimate:.4g}, anytime interval [{ratio[0]:.4g}, {ratio[1]:.4g}]"
    needed = None
    if ratio[0] > 1 and estimate >= ratio_margin and est_b - est_a >= min_diff_ms:
        decision: SequentialDecision = "worse"
        reason = f"{label}: above 1, estimate ≥ x{ratio_margin:g}"
    elif ratio[1] < 1 and estimate <= 1 / ratio_margin and est_a - est_b >= min_diff_ms:
        decision, reason = "better", f"{label}: below 1, estimate ≤ x{1 / ratio_margin:.4g}"
    elif (margin[0] <= ratio[0] and ratio[1] <= margin[1]) or (
        -equivalence_ms <= diff[0] and diff[1] <= equivalence_ms
    ):
        decision = "equivalent"
        within = f"±{100 * (ratio_margin - 1):.3g} % or ±{equivalence_ms:g} ms"
        reason = f"{label}, B-A [{diff[0]:.3g}, {diff[1]:.3g}] ms: within {within}"
    else:
        decision = "undecided"
        routes = []
        if ratio[0] > 0 and math.isfinite(ratio[1]):
            routes.append(_needed_for(min(a.n, b.n), math.log(ratio[0]), math.log(ratio[1]), math.log(ratio_margin)))
            # ... or to show it worse: the lower end past 1 with the estimate where it is
            if estimate >= ratio_margin and math.log(estimate) > 0:
                half = (math.log(ratio[1]) - math.log(ratio[0])) / 2
                routes.append(max(min(a.n, b.n) + 1, math.ceil(min(a.n, b.n) * (half / math.log(estimate)) ** 2)))
        if math.isfinite(diff[0]) and math.isfinite(diff[1]):
            routes.append(_needed_for(min(a.n, b.n), diff[0], diff[1], equivalence_ms))
        reachable = [route for route in routes if route is not None]
        needed = min(reachable) if reachable else None
        reason = f"{label}, B-A [{diff[0]:.3g}, {diff[1]:.3g}] ms: neither worse, better nor within the margin"
    return MetricLook(metric_id, decision, a.n, b.n, estimate, ratio, diff, margin, alpha, needed, reason)


def judge_errors_look(
    metric_id: str,
    failures_a: int,
    judged_a: int,
    failures_b: int,
    judged_b: int,
    *,
    alpha: float,
    margin_pp: float = 0.1,
    n0: int = 1000,
) -> MetricLook:
    """An error rate at one look: B - A in percentage points."""
    low_a, high_a = proportion_sequence(failures_a, judged_a, alpha=alpha / 2, n0=n0)
    low_b, high_b = proportion_sequence(failures_b, judged_b, alpha=alpha / 2, n0=n0)
    rate_a = failures_a / judged_a if judged_a else math.nan
    rate_b = failures_b / judged_b if judged_b else math.nan
    estimate = 100 * (rate_b - rate_a)
    interval = (100 * (low_b - high_a), 100 * (high_b - low_a))
    label = f"{estimate:+.3g} pp, anytime interval [{interval[0]:+.3g}, {interval[1]:+.3g}] pp"
    needed = None
    if interval[0] > 0 and estimate >= margin_pp:
        decision: SequentialDecision = "worse"
        reason = f"{label}: above 0, estimate ≥ +{margin_pp:g} pp"
    elif interval[1] < 0 and estimate <= -margin_pp:
        decision, reason = "better", f"{label}: below 0, estimate ≤ -{margin_pp:g} pp"
    elif -margin_pp <= interval[0] and interval[1] <= margin_pp:
        decision, reason = "equivalent", f"{label}: within ±{margin_pp:g} pp"
    else:
        decision = "undecided"
        n = min(judged_a, judged_b)
        if n and abs(estimate) < margin_pp:
            # An interval near 0 % narrows as 1/n, not 1/√n: search the same rates at larger n.
            size = n + 1
            while size < 10**10:
                la, ha = proportion_sequence(round(rate_a * size), size, alpha=alpha / 2, n0=n0)
                lb, hb = proportion_sequence(round(rate_b * size), size, alpha=alpha / 2, n0=n0)
                if -margin_pp <= 100 * (lb - ha) and 100 * (hb - la) <= margin_pp:
                    needed = size
                    break
                size = math.ceil(size * 1.25)
        reason = f"{label}: neither worse, better nor within ±{margin_pp:g} pp"
    return MetricLook(metric_id, decision, judged_a, judged_b, estimate, interval, interval,
                      (-margin_pp, margin_pp), alpha, needed, reason)  # fmt: skip


def settled(looks: Sequence[MetricLook]) -> bool:
    """Every critical metric decided: the gate may stop."""
    return all(look.decision != "undecided" for look in looks)
