"""The decision rules: each metric's verdict from its inputs, and the shared false-alarm budget.

Decision rules (results/README.md, "comparison.json", has the same in prose):

  latency (per name on both sides, plus ``http``: every HTTP sample)
    inconclusive  fewer than ``min_samples`` ok samples on a side
    worse         a percentile path or the shape path fires in B's disfavour:
                  percentile  for p50/p95/p99 (judged where each side has ≥ ``min_tail`` samples
                              beyond it): the decision interval of B/A lies above 1, the point
                              ratio reaches ``ratio_pNN`` and B - A ≥ ``min_diff_ms``
                  shape       the Kolmogorov-Smirnov test rejects at the decision level, B is the
                              slower one at the widest CDF gap, and the percentile ratio there
                              reaches ``shape_ratio`` (≥ ``min_diff_ms``): catches a spread or
                              bimodality change that moves no headline percentile far
                              (kayenta#780: Mann-Whitney alone passes a variance increase)
    better        the same in A's disfavour (and nothing worse)
    Mann-Whitney U and its effect size are reported (Kayenta parity), not voted with.
  errors (per name, and ``overall``)
    inconclusive  fewer than ``min_judged`` ok + failed samples on a side
    worse         two-proportion test rejects at the decision level and B's rate is at least
                  ``error_rate_pp`` percentage points above A's (``refused`` counts as neither)
  memory / cpu (resources.csv, role target)
    peak          max RSS over the whole run; CPU: the p95 of per-second samples in steady state.
                  One number per side has no sampling distribution: judged by thresholds alone
                  (ratio ≥ ``*_peak_ratio`` and difference ≥ ``memory_peak_mb``/``cpu_peak_pct``)
    slope         least squares per minute in steady state; worse when the slopes differ at the
                  decision level (Welch's t-test between the slopes of ``slope_blocks`` consecutive
                  blocks of each side: batch means, honest for autocorrelated, curved series) and
                  B's exceeds A's by ``*_slope_*_per_min``

The decision level: every test on the scorecard shares one false-alarm budget ``alpha``
(Bonferroni over the tests that can reject: each judged percentile, each shape test, each error
test with failures, each slope), so an A/A comparison is flagged anywhere with probability at most
``alpha`` (for independent samples; resource peaks, judged by thresholds alone, are outside the
budget). Intervals shown to readers are at ``confidence`` (95 %); the decision intervals are
wider and are exposed too.

How the verdicts roll into promote / hold / rollback: ``compare_scorecard``.
"""

from __future__ import annotations

import math
import zlib
from typing import Literal

import numpy as np
import pandas as pd

from analysis.compare_equivalence import Equivalence, difference_equivalence, ratio_equivalence
from analysis.compare_inputs import ErrorInput, Inputs, LatencyInput, ResourceSeries
from analysis.compare_model import (
    Family,
    LatencyEvidence,
    MetricComparison,
    QuantileJudgement,
    ResourceEvidence,
    ShapeJudgement,
    Verdict,
)
from analysis.compare_stats import (
    Buckets,
    block_trend,
    difference_interval_pp,
    kolmogorov_smirnov,
    mann_whitney,
    quantile_comparison,
    slope_difference_interval,
    slope_difference_p,
    two_proportions,
)
from analysis.compare_thresholds import JUDGED, LADDER, Thresholds

__all__ = ["decision_family", "judge_errors", "judge_latency", "judge_peak", "judge_slope"]


def _rng(t: Thresholds, metric_id: str) -> np.random.Generator:
    """One stream per metric: adding a metric never changes another's numbers."""
    return np.random.default_rng([t.seed, zlib.crc32(metric_id.encode())])


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def judge_latency(item: LatencyInput, t: Thresholds, family: Family) -> MetricComparison:
    a, b = item.a, item.b
    base = {
        "id": item.id,
        "aspect": "latency",
        "name": item.name,
        "critical": item.critical,
        "n_a": a.n,
        "n_b": b.n,
        "unit": "ms",
        "a": a.percentile(95) if a.n else None,
        "b": b.percentile(95) if b.n else None,
        "window": item.window,
        "kinds": item.kinds,
    }
    if min(a.n, b.n) < t.min_samples:
        reason = f"too few ok samples ({a.n} vs {b.n}; min_samples {t.min_samples} per side)"
        return MetricComparison(verdict="inconclusive", reason=reason, **base)  # type: ignore[arg-type]
    rng = _rng(t, item.id)
    judged = item.judged(t)
    # The decision bounds need many replicates; percentiles only shown need the usual number.
    comparisons = sorted(
        [
            *quantile_comparison(
                a, b, JUDGED, draws=family.draws, rng=rng, confidence=t.confidence,
                decision_level=family.decision_level,
            ),
            *quantile_comparison(
                a, b, [p for p in LADDER if p not in JUDGED], draws=t.bootstrap, rng=rng, confidence=t.confidence,
                decision_level=family.decision_level,
            ),
        ],
        key=lambda q: q.percentile,
    )  # fmt: skip
    expanded_a, sub_a = a.expand(rng)
    expanded_b, sub_b = b.expand(rng)
    rank = mann_whitney(expanded_a, expanded_b, subsampled=sub_a or sub_b)
    ks = kolmogorov_smirnov(expanded_a, expanded_b)
    worse: list[str] = []
    better: list[str] = []
    quantiles = []
    equivalence: Equivalence | None = None
    level = f"{100 * family.decision_level:.4g} %"
    for q in comparisons:
        if q.percentile not in judged:
            quantiles.append(QuantileJudgement(q, False, None, "not judged"))
            continue
        threshold = t.ratio_for(q.percentile)
        low, high = q.decision_ci
        label = (
            f"p{q.percentile:g} {_fmt(q.a_ms)} → {_fmt(q.b_ms)} ms (x{q.ratio:.3f}, {level} CI [{low:.3f}, {high:.3f}])"
        )
        decision = "same"
        if low > 1 and q.ratio >= threshold and q.diff_ms >= t.min_diff_ms:
            decision = "worse"
            worse.append(f"{label} ≥ x{threshold:g}")
        elif high < 1 and q.ratio <= 1 / threshold and -q.diff_ms >= t.min_diff_ms:
            decision = "better"
            better.append(f"{label} ≤ x{1 / threshold:.3g}")
        quantiles.append(QuantileJudgement(q, True, threshold, decision))
    share = float(a.counts[a.values_ms <= ks.at_ms].sum()) / a.n
    gap_percentile = min(max(100 * share, 0.1), 99.9)
    gap_a, gap_b = a.percentile(gap_percentile), b.percentile(gap_percentile)
    gap_ratio = gap_b / gap_a if gap_a > 0 else math.nan
    shape_decision = "same"
    if ks.p_value < family.decision_alpha:
        described = (
            f"distribution: KS D={ks.statistic:.3f} p={ks.p_value:.2g}, widest gap at p{gap_percentile:.3g} "
            f"({_fmt(gap_a)} → {_fmt(gap_b)} ms, x{gap_ratio:.3f})"
        )
        if ks.b_slower and gap_ratio >= t.shape_ratio and gap_b - gap_a >= t.min_diff_ms:
            shape_decision = "worse"
            worse.append(f"{described} ≥ x{t.shape_ratio:g}")
        elif not ks.b_slower and gap_ratio <= 1 / t.shape_ratio and gap_a - gap_b >= t.min_diff_ms:
            shape_decision = "better"
            better.append(f"{described} ≤ x{1 / t.shape_ratio:.3g}")
    shape = ShapeJudgement(ks, gap_percentile, gap_a, gap_b, gap_ratio, t.shape_ratio, shape_decision)
    evidence = LatencyEvidence(quantiles, rank, shape, _mean(a), _mean(b), family.draws)
    if worse:
        verdict: Verdict = "worse"
        reason = "; ".join(worse) + (f" (faster elsewhere: {'; '.join(better)})" if better else "")
    elif better:
        verdict, reason = "better", "; ".join(better)
    else:
        p95 = next((q.comparison for q in quantiles if q.comparison.percentile == 95.0 and q.judged), None)
        if p95 is None:
            verdict = "inconclusive"
            reason = f"nothing worse or better, and p95 not judged (fewer than {t.min_tail} samples beyond it)"
        else:
            equivalence = ratio_equivalence(
                percentile=95.0, ratio_interval=p95.equivalence_ci, diff_interval=p95.equivalence_diff_ci,
                ratio_margin=t.ratio_for(95.0), ms_margin=t.equivalence_ms,
                level=1 - 2 * family.decision_alpha, n=min(a.n, b.n),
            )  # fmt: skip
            verdict = "same" if equivalence.shown else "inconclusive"
            reason = f"no judged percentile past its threshold at {level}; {equivalence.text}"
        if ks.p_value < family.decision_alpha:
            reason += f"; the distributions differ (KS p={ks.p_value:.2g}) but by less than the practical thresholds"
    return MetricComparison(
        verdict=verdict,
        reason=reason,
        tests=len(judged) + 1,
        latency=evidence,
        equivalence=equivalence,
        **base,  # type: ignore[arg-type]
    )


def _mean(buckets: Buckets) -> float:
    return float((buckets.values_ms * buckets.counts).sum() / buckets.n) if buckets.n else math.nan


def judge_errors(item: ErrorInput, t: Thresholds, family: Family) -> MetricComparison:
    rate_a = 100 * item.failures_a / item.judged_a if item.judged_a else None
    rate_b = 100 * item.failures_b / item.judged_b if item.judged_b else None
    base = {
        "id": item.id,
        "aspect": "errors",
        "name": item.name,
        "critical": item.critical,
        "n_a": item.judged_a,
        "n_b": item.judged_b,
        "unit": "%",
        "a": rate_a,
        "b": rate_b,
        "window": item.window,
    }
    if min(item.judged_a, item.judged_b) < t.min_judged:
        reason = f"too few judged samples ({item.judged_a} vs {item.judged_b}; min_judged {t.min_judged} per side)"
        return MetricComparison(verdict="inconclusive", reason=reason, **base)  # type: ignore[arg-type]
    test = two_proportions(item.failures_a, item.judged_a, item.failures_b, item.judged_b, confidence=t.confidence)
    described = (
        f"{item.failures_a}/{item.judged_a} ({test.rate_a_pct:.3g} %) → {item.failures_b}/{item.judged_b} "
        f"({test.rate_b_pct:.3g} %), {test.diff_pp:+.3g} pp "
        f"(95 % CI [{test.diff_ci_pp[0]:+.3g}, {test.diff_ci_pp[1]:+.3g}]), "
        f"{test.method} p={test.p_value:.2g}"
    )
    verdict: Verdict
    equivalence = None
    if test.p_value < family.decision_alpha and test.diff_pp >= t.error_rate_pp:
        verdict, reason = "worse", f"{described} < {family.decision_alpha:.2g} and ≥ +{t.error_rate_pp:g} pp"
    elif test.p_value < family.decision_alpha and test.diff_pp <= -t.error_rate_pp:
        verdict, reason = "better", f"{described} < {family.decision_alpha:.2g} and ≤ -{t.error_rate_pp:g} pp"
    else:
        level = 1 - 2 * family.decision_alpha
        counts = (item.failures_a, item.judged_a, item.failures_b, item.judged_b)
        rates = (item.failures_a / item.judged_a, item.failures_b / item.judged_b)

        def interval_at(n: int) -> tuple[float, float]:  # the same rates, n judged a side
            return difference_interval_pp(round(rates[0] * n), n, round(rates[1] * n), n, level=level)

        equivalence = difference_equivalence(
            statistic="error rate B-A", interval=difference_interval_pp(*counts, level=level),
            margin=t.error_rate_pp, unit="pp", level=level, n=min(item.judged_a, item.judged_b),
            interval_at=interval_at,
        )  # fmt: skip
        verdict = "same" if equivalence.shown else "inconclusive"
        prefix = "no failures on either side" if test.method == "none" else (
            f"{described}: not past p < {family.decision_alpha:.2g} and ±{t.error_rate_pp:g} pp"
        )  # fmt: skip
        reason = f"{prefix}; {equivalence.text}"
    tests = 1 if item.testable(t) else 0
    return MetricComparison(
        verdict=verdict,
        reason=reason,
        tests=tests,
        errors=test,
        equivalence=equivalence,
        **base,  # type: ignore[arg-type]
    )


def judge_peak(
    aspect: Literal["memory", "cpu"], a: ResourceSeries, b: ResourceSeries, t: Thresholds, critical: set[str]
) -> MetricComparison:
    column = "rss_mb" if aspect == "memory" else "cpu_pct"
    # Memory: the true peak, ramp-up included (as the SLO). CPU: one busy second is not a peak
    # worth deciding on; the p95 of the steady state's per-second samples is.
    if aspect == "memory":
        values_a, values_b = a.whole[column].dropna(), b.whole[column].dropna()
    else:
        values_a, values_b = a.steady[column].dropna(), b.steady[column].dropna()
    metric_id = f"{aspect}:peak"
    unit = "MB" if aspect == "memory" else "%"
    ratio_threshold = t.memory_peak_ratio if aspect == "memory" else t.cpu_peak_ratio
    diff_threshold = t.memory_peak_mb if aspect == "memory" else t.cpu_peak_pct

    def peak(values: pd.Series) -> float:
        if not len(values):
            return math.nan
        return float(values.max()) if aspect == "memory" else float(np.percentile(values, 95))

    peak_a, peak_b = peak(values_a), peak(values_b)
    base = {
        "id": metric_id,
        "aspect": aspect,
        "name": "peak",
        "critical": metric_id in critical,
        "n_a": len(values_a),
        "n_b": len(values_b),
        "unit": unit,
        "a": peak_a if len(values_a) else None,
        "b": peak_b if len(values_b) else None,
        "window": "whole" if aspect == "memory" else "steady",
    }
    if min(len(values_a), len(values_b)) < t.min_resource_samples:
        reason = f"too few resource samples ({len(values_a)} vs {len(values_b)}; min {t.min_resource_samples})"
        return MetricComparison(verdict="inconclusive", reason=reason, **base)  # type: ignore[arg-type]
    ratio = peak_b / peak_a if peak_a > 0 else math.inf
    diff = peak_b - peak_a
    evidence = ResourceEvidence(
        column, "peak", peak_a, peak_b, ratio, diff, ratio_threshold, diff_threshold, None,
        mean_a=float(values_a.mean()), mean_b=float(values_b.mean()),
    )  # fmt: skip
    described = f"{_fmt(peak_a, 4)} → {_fmt(peak_b, 4)} {unit} (x{ratio:.3f}, {diff:+.3g} {unit}; thresholds only)"
    verdict: Verdict = "same"
    if ratio >= ratio_threshold and diff >= diff_threshold:
        verdict, reason = "worse", f"{described} ≥ x{ratio_threshold:g} and ≥ +{diff_threshold:g} {unit}"
    elif ratio <= 1 / ratio_threshold and -diff >= diff_threshold:
        verdict, reason = "better", f"{described} ≤ x{1 / ratio_threshold:.3g} and ≤ -{diff_threshold:g} {unit}"
    else:
        reason = f"{described}: within x{ratio_threshold:g} or {diff_threshold:g} {unit}"
    return MetricComparison(verdict=verdict, reason=reason, resource=evidence, **base)  # type: ignore[arg-type]


def _slope_testable(a: ResourceSeries, b: ResourceSeries, column: str, t: Thresholds) -> bool:
    return min(a.steady[column].notna().sum(), b.steady[column].notna().sum()) >= _slope_minimum(t)


def _slope_minimum(t: Thresholds) -> int:
    return max(t.min_resource_samples, 3 * t.slope_blocks)  # three points per block


def judge_slope(
    aspect: Literal["memory", "cpu"],
    a: ResourceSeries,
    b: ResourceSeries,
    t: Thresholds,
    family: Family,
    critical: set[str],
) -> MetricComparison:
    column = "rss_mb" if aspect == "memory" else "cpu_pct"
    unit = "MB/min" if aspect == "memory" else "%/min"
    threshold = t.memory_slope_mb_per_min if aspect == "memory" else t.cpu_slope_pct_per_min
    metric_id = f"{aspect}:slope"
    data_a, data_b = a.steady.dropna(subset=[column]), b.steady.dropna(subset=[column])
    trend_a = block_trend(data_a["time"].to_numpy(), data_a[column].to_numpy(), t.slope_blocks)
    trend_b = block_trend(data_b["time"].to_numpy(), data_b[column].to_numpy(), t.slope_blocks)
    base = {
        "id": metric_id,
        "aspect": aspect,
        "name": "slope",
        "critical": metric_id in critical,
        "n_a": trend_a.n,
        "n_b": trend_b.n,
        "unit": unit,
        "a": trend_a.slope_per_min if math.isfinite(trend_a.slope_per_min) else None,
        "b": trend_b.slope_per_min if math.isfinite(trend_b.slope_per_min) else None,
        "window": "steady",
    }
    if not _slope_testable(a, b, column, t) or not (
        math.isfinite(trend_a.slope_per_min) and math.isfinite(trend_b.slope_per_min)
    ):
        reason = f"too few resource samples ({trend_a.n} vs {trend_b.n}; min {_slope_minimum(t)})"
        return MetricComparison(verdict="inconclusive", reason=reason, **base)  # type: ignore[arg-type]
    diff = trend_b.slope_per_min - trend_a.slope_per_min
    p_value = slope_difference_p(trend_a, trend_b)
    evidence = ResourceEvidence(
        column, "slope", trend_a.slope_per_min, trend_b.slope_per_min, None, diff, None, threshold, p_value,
        trend_a=trend_a, trend_b=trend_b,
    )  # fmt: skip
    described = (
        f"{trend_a.slope_per_min:+.3g} → {trend_b.slope_per_min:+.3g} {unit} ({diff:+.3g}; block slopes "
        f"±{trend_a.stderr_per_min:.2g}/±{trend_b.stderr_per_min:.2g}, Welch p={_fmt(p_value, 2)})"
    )
    significant = math.isfinite(p_value) and p_value < family.decision_alpha
    verdict: Verdict
    equivalence = None
    if significant and diff >= threshold:
        verdict, reason = "worse", f"{described} < {family.decision_alpha:.2g} and ≥ +{threshold:g} {unit}"
    elif significant and diff <= -threshold:
        verdict, reason = "better", f"{described} < {family.decision_alpha:.2g} and ≤ -{threshold:g} {unit}"
    else:
        level = 1 - 2 * family.decision_alpha
        equivalence = difference_equivalence(
            statistic="slope B-A", interval=slope_difference_interval(trend_a, trend_b, level=level),
            margin=threshold, unit=unit, level=level, n=min(trend_a.n, trend_b.n),
        )  # fmt: skip
        verdict = "same" if equivalence.shown else "inconclusive"
        reason = f"{described}: not past p < {family.decision_alpha:.2g} and ±{threshold:g} {unit}; {equivalence.text}"
    return MetricComparison(
        verdict=verdict,
        reason=reason,
        tests=1,
        resource=evidence,
        equivalence=equivalence,
        **base,  # type: ignore[arg-type]
    )


def decision_family(inputs: Inputs, resources: tuple[ResourceSeries, ResourceSeries], t: Thresholds) -> Family:
    tests = sum(len(item.judged(t)) + 1 for item in inputs.latency if min(item.a.n, item.b.n) >= t.min_samples)
    tests += sum(1 for item in inputs.errors if item.testable(t))
    tests += sum(1 for column in ("rss_mb", "cpu_pct") if _slope_testable(*resources, column, t))
    tests = max(tests, 1)
    decision_alpha = t.alpha / tests if t.correction == "bonferroni" else t.alpha
    # Enough replicates that each decision bound has at least ten beyond it.
    draws = int(min(t.max_bootstrap, max(t.bootstrap, math.ceil(20 / decision_alpha))))
    return Family(t.alpha, t.correction, tests, decision_alpha, 1 - decision_alpha, draws)
