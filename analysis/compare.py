"""Blue vs green: compare two sides (A, the baseline; B, the candidate) metric by metric, and roll
the verdicts into a scorecard (``promote`` / ``hold`` / ``rollback``).

A side is one target of one run. ``compare_paired(run)`` takes both colors of a ``--target both``
run (A = blue, B = green: the same time window, so machine noise hits both alike: the best
design); ``compare_runs(a, b)`` takes one target from each of two runs, after checking that the
runs are comparable (same profile and load, same suite versions) unless forced.

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

Scorecard: ``rollback`` (exit 1) when a critical metric is worse; ``hold`` (exit 0) when another
metric is worse, a critical one is inconclusive, or more than ``max_inconclusive_share`` of the
metrics are; ``promote`` (exit 0) otherwise.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.compare_stats import (
    Buckets,
    DistributionTest,
    ProportionTest,
    QuantileComparison,
    RankTest,
    Trend,
    block_trend,
    kolmogorov_smirnov,
    mann_whitney,
    quantile_comparison,
    slope_difference_p,
    two_proportions,
)
from analysis.compare_thresholds import JUDGED, LADDER, Thresholds
from analysis.fingerprint import load_fingerprint
from analysis.hdr import Histogram
from analysis.load import RunData, load_run
from analysis.stats import OK, grouped_latency, outcome_counts, resource_series
from analysis.windows import WHOLE, Window
from loadtests.errors import ConfigError, InvalidRunError
from loadtests.recorder.rundir import Manifest

SCHEMA_VERSION = 1
COMPARISON_JSON = "comparison.json"
COMPARISON_MD = "comparison.md"
COMPARISON_HTML = "comparison.html"

Verdict = Literal["better", "same", "worse", "inconclusive"]
Decision = Literal["promote", "hold", "rollback"]
EXIT_CODES: dict[str, int] = {"promote": 0, "hold": 0, "rollback": 1}

HTTP_AGGREGATE = "http"  # the latency metric over every HTTP sample
OVERALL = "overall"  # the error-rate metric over every sample

# Versions whose change changes what is measured: the suite and its clients.
CHECKED_VERSIONS = ("loadbench", "locust", "python-socketio", "websocket-client")


# -- the results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantileJudgement:
    """A percentile's comparison and what it contributed: ``worse``/``better``/``same``, or
    ``not judged`` (shown only: not in 50/95/99, or too few samples beyond it)."""

    comparison: QuantileComparison
    judged: bool
    threshold: float | None
    decision: str


@dataclass(frozen=True)
class ShapeJudgement:
    """The Kolmogorov-Smirnov test and the practical size of the gap it found: the percentile of
    A at the widest CDF gap, and B/A at that percentile."""

    test: DistributionTest
    percentile: float
    a_ms: float
    b_ms: float
    ratio: float
    threshold: float
    decision: str


@dataclass(frozen=True)
class LatencyEvidence:
    quantiles: list[QuantileJudgement]
    rank: RankTest
    shape: ShapeJudgement
    mean_a_ms: float
    mean_b_ms: float
    draws: int


@dataclass(frozen=True)
class ResourceEvidence:
    column: str  # rss_mb or cpu_pct
    statistic: str  # peak or slope
    a: float
    b: float
    ratio: float | None
    diff: float
    threshold_ratio: float | None
    threshold_diff: float
    p_value: float | None  # slopes only
    trend_a: Trend | None = None
    trend_b: Trend | None = None
    mean_a: float | None = None
    mean_b: float | None = None


@dataclass(frozen=True)
class MetricComparison:
    """One line of the scorecard: a verdict, why, and every number that decided it."""

    id: str  # "latency:chat.complete", "errors:overall", "memory:peak", …
    aspect: Literal["latency", "errors", "memory", "cpu"]
    name: str
    verdict: Verdict
    reason: str
    critical: bool
    n_a: int
    n_b: int
    unit: str
    a: float | None  # the headline number of each side (latency: p95; errors: %; resources: value)
    b: float | None
    window: str
    kinds: tuple[str, str] = ("", "")  # latency: the sample kinds on A and B (ws vs sio is fine)
    tests: int = 0  # tests this metric spends of the family's false-alarm budget
    latency: LatencyEvidence | None = None
    errors: ProportionTest | None = None
    resource: ResourceEvidence | None = None

    @property
    def ratio(self) -> float | None:
        if self.a is None or self.b is None or not self.a:
            return None
        return self.b / self.a


@dataclass(frozen=True)
class Scorecard:
    decision: Decision
    exit_code: int
    reasons: tuple[str, ...]
    counts: dict[str, int]
    critical_worse: tuple[str, ...]
    other_worse: tuple[str, ...]
    better: tuple[str, ...]
    inconclusive: tuple[str, ...]
    critical_inconclusive: tuple[str, ...]
    inconclusive_share: float
    missing_critical: tuple[str, ...]


@dataclass(frozen=True)
class SideInfo:
    label: str  # how the report names this side ("blue", "green (20261126T…)")
    color: str
    run_dir: str
    run_id: str
    profile: str
    status: str
    started_at: str
    window: dict[str, Any]


@dataclass(frozen=True)
class Mismatch:
    field: str
    a: Any
    b: Any

    def text(self) -> str:
        return f"{self.field} {self.a} ≠ {self.b}"


@dataclass(frozen=True)
class Family:
    """The shared false-alarm budget: ``decision_alpha`` = ``alpha`` / ``tests`` (Bonferroni)."""

    alpha: float
    correction: str
    tests: int
    decision_alpha: float
    decision_level: float
    draws: int


@dataclass(frozen=True)
class SparseMetric:
    name: str
    n_a: int
    n_b: int
    reason: str


@dataclass(frozen=True)
class Comparison:
    design: Literal["paired", "two-run"]
    a: SideInfo
    b: SideInfo
    thresholds: Thresholds
    family: Family
    metrics: list[MetricComparison]
    scorecard: Scorecard
    not_compared: list[SparseMetric]
    only_in_a: dict[str, int]
    only_in_b: dict[str, int]
    forced: bool
    mismatches: list[Mismatch]
    warnings: list[str]
    generated_at: str
    # For figures and notebooks; not serialised.
    buckets: dict[str, tuple[Buckets, Buckets]] = field(default_factory=dict, repr=False)
    resources: tuple[pd.DataFrame, pd.DataFrame] | None = field(default=None, repr=False)
    outcomes: pd.DataFrame | None = field(default=None, repr=False)

    def metric(self, metric_id: str) -> MetricComparison:
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(metric_id)

    @property
    def exit_code(self) -> int:
        return self.scorecard.exit_code


class ComparisonRefused(ConfigError):
    """The runs differ in what makes them comparable (exit 2 unless ``--force``)."""


# -- sides and comparability ----------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    run: RunData
    color: str
    label: str

    @property
    def steady(self) -> Window:
        return self.run.window("steady")


def comparability(a: Manifest, b: Manifest) -> tuple[list[Mismatch], list[str]]:
    """``(mismatches that refuse the comparison, differences worth a warning)``."""
    mismatches: list[Mismatch] = []
    warnings: list[str] = []
    profile_a, profile_b = a.profile or {}, b.profile or {}
    if a.profile_name != b.profile_name:
        mismatches.append(Mismatch("profile", a.profile_name, b.profile_name))
    for key in ("users", "duration_s", "spawn_rate"):
        if profile_a.get(key) != profile_b.get(key):
            mismatches.append(Mismatch(key, profile_a.get(key), profile_b.get(key)))
    targets_a, targets_b = max(len(a.targets), 1), max(len(b.targets), 1)
    if targets_a != targets_b:
        # Users are split between the driven targets: a paired run gives each color half the load.
        mismatches.append(
            Mismatch("targets driven", f"{a.target_mode} ({targets_a})", f"{b.target_mode} ({targets_b})")
        )
    if not mismatches and load_fingerprint(profile_a) != load_fingerprint(profile_b):
        mismatches.append(Mismatch("profile load hash", load_fingerprint(profile_a), load_fingerprint(profile_b)))
    for package in CHECKED_VERSIONS:
        version_a, version_b = a.versions.get(package), b.versions.get(package)
        if version_a != version_b:
            mismatches.append(Mismatch(f"{package} version", version_a, version_b))
    for manifest, side in ((a, "A"), (b, "B")):
        if manifest.status == "partial":
            warnings.append(f"run {side} is {manifest.status} (interrupted): it covers less time than planned")
    host_a = {k: a.host.get(k) for k in ("hostname", "cpus", "memory_gb")}
    host_b = {k: b.host.get(k) for k in ("hostname", "cpus", "memory_gb")}
    if host_a != host_b:
        warnings.append(f"different machines ({host_a} vs {host_b}): latencies are not like for like")
    if a.git_sha != b.git_sha:
        warnings.append(f"different suite commits ({a.git_sha or '?'} vs {b.git_sha or '?'})")
    if a.versions.get("python") != b.versions.get("python"):
        warnings.append(f"different Python versions ({a.versions.get('python')} vs {b.versions.get('python')})")
    return mismatches, warnings


def _check_valid(runs: Iterable[RunData], force: bool) -> list[str]:
    """An ``invalid`` run (saturated generator, …) cannot be judged: refused (exit 3) unless forced;
    when forced, returns the warnings to record."""
    warnings = []
    for run in runs:
        manifest = run.manifest
        if manifest.status != "invalid":
            continue
        text = f"{run.directory.path} is an invalid run ({manifest.invalid_reason or 'no reason recorded'})"
        if not force:
            raise InvalidRunError(f"{text}: its numbers cannot be trusted (--force to compare anyway)")
        warnings.append(f"forced past: {text}")
    return warnings


def _pick_color(run: RunData, wanted: str | None, preferred: str, role: str) -> str:
    colors = run.targets
    if wanted is not None:
        if wanted not in colors:
            raise ConfigError(f"{run.directory.path} has no target {wanted!r} (it has {', '.join(colors) or 'none'})")
        return wanted
    if preferred in colors:
        return preferred
    if len(colors) == 1:
        return colors[0]
    raise ConfigError(f"{run.directory.path} has targets {', '.join(colors)}: choose one with --color-{role}")


def _labels(run_a: RunData, color_a: str, run_b: RunData, color_b: str) -> tuple[str, str]:
    if color_a != color_b:
        return color_a, color_b
    name_a, name_b = run_a.directory.path.name, run_b.directory.path.name
    return f"{color_a} ({name_a})", f"{color_b} ({name_b})"


# -- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _LatencyInput:
    id: str
    name: str
    a: Buckets
    b: Buckets
    window: str
    kinds: tuple[str, str]
    critical: bool

    def judged(self, t: Thresholds) -> tuple[float, ...]:
        if min(self.a.n, self.b.n) < t.min_samples:
            return ()
        smallest = min(self.a.n, self.b.n)
        return tuple(p for p in JUDGED if smallest * (1 - p / 100) >= t.min_tail)


@dataclass(frozen=True)
class _ErrorInput:
    id: str
    name: str
    failures_a: int
    judged_a: int
    failures_b: int
    judged_b: int
    window: str
    critical: bool

    def testable(self, t: Thresholds) -> bool:
        enough = min(self.judged_a, self.judged_b) >= t.min_judged
        return enough and self.failures_a + self.failures_b > 0


def _rows(side: Side, window: Window) -> pd.DataFrame:
    samples = side.run.samples
    rows = samples[samples["target"] == side.color]
    return rows[window.interval_mask(rows)] if window is not WHOLE else rows


def _buckets_by_name(side: Side, rows: pd.DataFrame) -> dict[str, Buckets]:
    groups, merged = grouped_latency(rows, side.run.histograms, ["name"])
    return {
        str(name): Buckets.from_histogram(merged.group(int(group)))
        for name, group in zip(groups["name"], groups["group"], strict=True)
    }


def _http_buckets(side: Side, rows: pd.DataFrame) -> Buckets:
    ids = rows.loc[(rows["kind"] == "http") & (rows["outcome"] == OK) & (rows["hist_id"] >= 0), "hist_id"]
    return Buckets.from_histogram(Histogram.of(side.run.histograms, ids.to_numpy()))


def _kinds(rows: pd.DataFrame) -> dict[str, str]:
    table = rows.groupby("name", observed=True)["kind"].agg(lambda kinds: "/".join(sorted({str(k) for k in kinds})))
    return {str(name): str(kinds) for name, kinds in table.items()}


def _counts_by_name(rows: pd.DataFrame) -> dict[str, int]:
    totals = rows.groupby("name", observed=True)["count"].sum()
    return {str(name): int(count) for name, count in totals.items() if count}


@dataclass
class _Inputs:
    latency: list[_LatencyInput] = field(default_factory=list)
    errors: list[_ErrorInput] = field(default_factory=list)
    sparse: list[SparseMetric] = field(default_factory=list)
    only_in_a: dict[str, int] = field(default_factory=dict)
    only_in_b: dict[str, int] = field(default_factory=dict)
    outcomes: pd.DataFrame | None = None


def _gather(side_a: Side, side_b: Side, t: Thresholds) -> _Inputs:
    critical = set(t.critical)
    inputs = _Inputs()
    steady_a, steady_b = _rows(side_a, side_a.steady), _rows(side_b, side_b.steady)
    whole_a, whole_b = _rows(side_a, WHOLE), _rows(side_b, WHOLE)
    counts_a, counts_b = _counts_by_name(whole_a), _counts_by_name(whole_b)
    inputs.only_in_a = {name: count for name, count in sorted(counts_a.items()) if name not in counts_b}
    inputs.only_in_b = {name: count for name, count in sorted(counts_b.items()) if name not in counts_a}
    both = sorted(set(counts_a) & set(counts_b) - {HTTP_AGGREGATE, OVERALL})  # those ids are the aggregates
    steady_names_a, steady_names_b = _counts_by_name(steady_a), _counts_by_name(steady_b)
    # Metrics measured only while users ramp up (logins, connects) are compared over the whole run.
    in_steady = {name for name in both if name in steady_names_a and name in steady_names_b}
    buckets = {
        "steady": (_buckets_by_name(side_a, steady_a), _buckets_by_name(side_b, steady_b)),
        "whole": (
            _buckets_by_name(side_a, whole_a[whole_a["name"].isin([n for n in both if n not in in_steady])]),
            _buckets_by_name(side_b, whole_b[whole_b["name"].isin([n for n in both if n not in in_steady])]),
        ),
    }
    kinds_a, kinds_b = _kinds(whole_a), _kinds(whole_b)
    empty = Buckets(np.empty(0), np.empty(0, dtype=np.int64))
    outcome_frames = []
    for name in both:
        window = "steady" if name in in_steady else "whole"
        rows_a = _named(steady_a if window == "steady" else whole_a, name)
        rows_b = _named(steady_b if window == "steady" else whole_b, name)
        a = buckets[window][0].get(name, empty)
        b = buckets[window][1].get(name, empty)
        oc_a, oc_b = outcome_counts(rows_a), outcome_counts(rows_b)
        outcome_frames += [
            _outcome_frame(side_a.label, "A", name, oc_a.by_outcome),
            _outcome_frame(side_b.label, "B", name, oc_b.by_outcome),
        ]
        latency_id, error_id = f"latency:{name}", f"errors:{name}"
        if max(a.n, b.n) >= t.min_samples or latency_id in critical:
            inputs.latency.append(
                _LatencyInput(
                    latency_id,
                    name,
                    a,
                    b,
                    window,
                    (kinds_a.get(name, ""), kinds_b.get(name, "")),
                    latency_id in critical,
                )
            )
        else:
            inputs.sparse.append(SparseMetric(name, a.n, b.n, f"fewer than {t.min_samples} ok samples on both sides"))
        if max(oc_a.judged, oc_b.judged) >= t.min_judged or error_id in critical:
            inputs.errors.append(
                _ErrorInput(
                    error_id, name, oc_a.failures, oc_a.judged, oc_b.failures, oc_b.judged, window, error_id in critical
                )
            )
    http_a, http_b = _http_buckets(side_a, steady_a), _http_buckets(side_b, steady_b)
    http_id = f"latency:{HTTP_AGGREGATE}"
    if http_a.n or http_b.n or http_id in critical:
        inputs.latency.insert(
            0, _LatencyInput(http_id, HTTP_AGGREGATE, http_a, http_b, "steady", ("http", "http"), http_id in critical)
        )
    overall_a, overall_b = outcome_counts(steady_a), outcome_counts(steady_b)
    overall_id = f"errors:{OVERALL}"
    overall = _ErrorInput(
        overall_id, OVERALL, overall_a.failures, overall_a.judged, overall_b.failures, overall_b.judged, "steady",
        overall_id in critical,
    )  # fmt: skip
    inputs.errors.insert(0, overall)
    inputs.outcomes = pd.concat(outcome_frames, ignore_index=True) if outcome_frames else None
    return inputs


def _named(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    return rows[rows["name"] == name]


def _outcome_frame(label: str, side: str, name: str, by_outcome: Mapping[str, int]) -> pd.DataFrame:
    records = [
        {"side": side, "label": label, "name": name, "outcome": outcome, "count": count}
        for outcome, count in by_outcome.items()
    ]
    return pd.DataFrame(records, columns=["side", "label", "name", "outcome", "count"])


@dataclass(frozen=True)
class _ResourceSeries:
    whole: pd.DataFrame
    steady: pd.DataFrame


def _resources(side: Side) -> _ResourceSeries:
    series = resource_series(side.run.resources, role="target", color=side.color)
    return _ResourceSeries(series, series[side.steady.point_mask(series)])


# -- judging --------------------------------------------------------------------------------------
def _rng(t: Thresholds, metric_id: str) -> np.random.Generator:
    """One stream per metric: adding a metric never changes another's numbers."""
    return np.random.default_rng([t.seed, zlib.crc32(metric_id.encode())])


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _judge_latency(item: _LatencyInput, t: Thresholds, family: Family) -> MetricComparison:
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
        verdict = "same"
        p95 = next((q for q in comparisons if q.percentile == 95.0), None)
        reason = f"no judged percentile past its threshold at {level}" + (
            f" (p95 x{p95.ratio:.3f}, 95 % CI [{p95.ratio_ci[0]:.3f}, {p95.ratio_ci[1]:.3f}])" if p95 else ""
        )
        if ks.p_value < family.decision_alpha:
            reason += f"; the distributions differ (KS p={ks.p_value:.2g}) but by less than the practical thresholds"
    return MetricComparison(
        verdict=verdict,
        reason=reason,
        tests=len(judged) + 1,
        latency=evidence,
        **base,  # type: ignore[arg-type]
    )


def _mean(buckets: Buckets) -> float:
    return float((buckets.values_ms * buckets.counts).sum() / buckets.n) if buckets.n else math.nan


def _judge_errors(item: _ErrorInput, t: Thresholds, family: Family) -> MetricComparison:
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
    verdict: Verdict = "same"
    if test.p_value < family.decision_alpha and test.diff_pp >= t.error_rate_pp:
        verdict, reason = "worse", f"{described} < {family.decision_alpha:.2g} and ≥ +{t.error_rate_pp:g} pp"
    elif test.p_value < family.decision_alpha and test.diff_pp <= -t.error_rate_pp:
        verdict, reason = "better", f"{described} < {family.decision_alpha:.2g} and ≤ -{t.error_rate_pp:g} pp"
    elif test.method == "none":
        reason = "no failures on either side"
    else:
        reason = f"{described}: not past p < {family.decision_alpha:.2g} and ±{t.error_rate_pp:g} pp"
    tests = 1 if item.testable(t) else 0
    return MetricComparison(verdict=verdict, reason=reason, tests=tests, errors=test, **base)  # type: ignore[arg-type]


def _judge_peak(
    aspect: Literal["memory", "cpu"], a: _ResourceSeries, b: _ResourceSeries, t: Thresholds, critical: set[str]
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


def _slope_testable(a: _ResourceSeries, b: _ResourceSeries, column: str, t: Thresholds) -> bool:
    return min(a.steady[column].notna().sum(), b.steady[column].notna().sum()) >= _slope_minimum(t)


def _slope_minimum(t: Thresholds) -> int:
    return max(t.min_resource_samples, 3 * t.slope_blocks)  # three points per block


def _judge_slope(
    aspect: Literal["memory", "cpu"],
    a: _ResourceSeries,
    b: _ResourceSeries,
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
    verdict: Verdict = "same"
    if significant and diff >= threshold:
        verdict, reason = "worse", f"{described} < {family.decision_alpha:.2g} and ≥ +{threshold:g} {unit}"
    elif significant and diff <= -threshold:
        verdict, reason = "better", f"{described} < {family.decision_alpha:.2g} and ≤ -{threshold:g} {unit}"
    else:
        reason = f"{described}: not past p < {family.decision_alpha:.2g} and ±{threshold:g} {unit}"
    return MetricComparison(verdict=verdict, reason=reason, tests=1, resource=evidence, **base)  # type: ignore[arg-type]


def _family(inputs: _Inputs, resources: tuple[_ResourceSeries, _ResourceSeries], t: Thresholds) -> Family:
    tests = sum(len(item.judged(t)) + 1 for item in inputs.latency if min(item.a.n, item.b.n) >= t.min_samples)
    tests += sum(1 for item in inputs.errors if item.testable(t))
    tests += sum(1 for column in ("rss_mb", "cpu_pct") if _slope_testable(*resources, column, t))
    tests = max(tests, 1)
    decision_alpha = t.alpha / tests if t.correction == "bonferroni" else t.alpha
    # Enough replicates that each decision bound has at least ten beyond it.
    draws = int(min(t.max_bootstrap, max(t.bootstrap, math.ceil(20 / decision_alpha))))
    return Family(t.alpha, t.correction, tests, decision_alpha, 1 - decision_alpha, draws)


def scorecard(metrics: list[MetricComparison], t: Thresholds, *, one_sided: Iterable[str] = ()) -> Scorecard:
    """Roll the verdicts up (rules in the module docstring). ``one_sided``: metric ids measured on
    one side only; a critical one holds the promotion (the candidate lost, or gained, a workload)."""
    by_id = {metric.id: metric for metric in metrics}
    counts = {
        verdict: sum(1 for m in metrics if m.verdict == verdict)
        for verdict in ("better", "same", "worse", "inconclusive")
    }
    critical_worse = tuple(m.id for m in metrics if m.critical and m.verdict == "worse")
    other_worse = tuple(m.id for m in metrics if not m.critical and m.verdict == "worse")
    inconclusive = tuple(m.id for m in metrics if m.verdict == "inconclusive")
    critical_inconclusive = tuple(m.id for m in metrics if m.critical and m.verdict == "inconclusive")
    share = len(inconclusive) / len(metrics) if metrics else 1.0
    missing = tuple(metric_id for metric_id in t.critical if metric_id not in by_id and metric_id not in set(one_sided))
    reasons: list[str] = []
    if critical_worse:
        decision: Decision = "rollback"
        reasons.append(f"critical metric(s) worse: {', '.join(critical_worse)}")
        if other_worse:
            reasons.append(f"also worse: {', '.join(other_worse)}")
    else:
        if other_worse:
            reasons.append(f"worse: {', '.join(other_worse)}")
        if critical_inconclusive:
            reasons.append(f"critical metric(s) inconclusive: {', '.join(critical_inconclusive)}")
        lopsided = [metric_id for metric_id in t.critical if metric_id in set(one_sided)]
        if lopsided:
            reasons.append(f"critical metric(s) measured on one side only: {', '.join(lopsided)}")
        if share > t.max_inconclusive_share:
            reasons.append(
                f"{len(inconclusive)} of {len(metrics)} metrics inconclusive (> {t.max_inconclusive_share:.0%})"
            )
        decision = "hold" if reasons else "promote"
        if decision == "promote":
            reasons.append(
                f"no metric worse ({counts['better']} better, {counts['same']} same, "
                f"{counts['inconclusive']} inconclusive)"
            )
    return Scorecard(
        decision=decision,
        exit_code=EXIT_CODES[decision],
        reasons=tuple(reasons),
        counts=counts,
        critical_worse=critical_worse,
        other_worse=other_worse,
        better=tuple(m.id for m in metrics if m.verdict == "better"),
        inconclusive=inconclusive,
        critical_inconclusive=critical_inconclusive,
        inconclusive_share=share,
        missing_critical=missing,
    )


def _side_info(side: Side) -> SideInfo:
    manifest = side.run.manifest
    return SideInfo(
        label=side.label,
        color=side.color,
        run_dir=str(side.run.directory.path),
        run_id=manifest.run_id,
        profile=manifest.profile_name,
        status=manifest.status,
        started_at=manifest.started_at,
        window=side.steady.to_json(),
    )


def compare_sides(
    side_a: Side,
    side_b: Side,
    *,
    design: Literal["paired", "two-run"],
    thresholds: Thresholds | None = None,
    forced: bool = False,
    mismatches: list[Mismatch] | None = None,
    warnings: list[str] | None = None,
) -> Comparison:
    t = thresholds or Thresholds()
    critical = set(t.critical)
    inputs = _gather(side_a, side_b, t)
    resources = (_resources(side_a), _resources(side_b))
    family = _family(inputs, resources, t)
    metrics = [_judge_latency(item, t, family) for item in inputs.latency]
    metrics += [_judge_errors(item, t, family) for item in inputs.errors]
    measured = [len(series.whole) for series in resources]
    if any(measured):  # an external target without a sampler has no resources.csv rows: not measured
        for aspect in ("memory", "cpu"):
            metrics.append(_judge_peak(aspect, *resources, t, critical))  # type: ignore[arg-type]
            metrics.append(_judge_slope(aspect, *resources, t, family, critical))  # type: ignore[arg-type]
    notes = list(warnings or [])
    if design == "two-run":
        notes.append(
            "the sides ran at different times: machine noise is not shared, and the intervals assume "
            "independent samples; prefer a paired run (--target both) for a decision"
        )
    return Comparison(
        design=design,
        a=_side_info(side_a),
        b=_side_info(side_b),
        thresholds=t,
        family=family,
        metrics=metrics,
        scorecard=scorecard(
            metrics,
            t,
            one_sided=[
                f"{aspect}:{name}"
                for name in (*inputs.only_in_a, *inputs.only_in_b)
                for aspect in ("latency", "errors")
            ],
        ),
        not_compared=inputs.sparse,
        only_in_a=inputs.only_in_a,
        only_in_b=inputs.only_in_b,
        forced=forced,
        mismatches=list(mismatches or []),
        warnings=notes,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        buckets={item.id: (item.a, item.b) for item in inputs.latency},
        resources=(resources[0].whole, resources[1].whole),
        outcomes=inputs.outcomes,
    )


def compare_paired(
    run: RunData,
    *,
    thresholds: Thresholds | None = None,
    color_a: str | None = None,
    color_b: str | None = None,
    force: bool = False,
) -> Comparison:
    """Both colors of one run (``--target both``): A = blue, B = green unless told otherwise."""
    warnings = _check_valid([run], force)
    a = _pick_color(run, color_a, "blue", "a")
    b = _pick_color(run, color_b, "green", "b")
    if a == b:
        colors = ", ".join(run.targets)
        raise ConfigError(
            f"{run.directory.path} drove only {colors}: a paired comparison needs two targets "
            "(loadbench run --target both), or give two runs"
        )
    return compare_sides(
        Side(run, a, a),
        Side(run, b, b),
        design="paired",
        thresholds=thresholds,
        forced=bool(warnings),
        warnings=warnings,
    )


def compare_runs(
    run_a: RunData,
    run_b: RunData,
    *,
    thresholds: Thresholds | None = None,
    force: bool = False,
    color_a: str | None = None,
    color_b: str | None = None,
) -> Comparison:
    """One target of each run (A: blue if it has one, B: green if it has one). Refuses runs made
    with different profiles, loads or suite versions unless ``force`` (then recorded)."""
    mismatches, warnings = comparability(run_a.manifest, run_b.manifest)
    invalid = _check_valid([run_a, run_b], force)
    if mismatches and not force:
        raise ComparisonRefused(
            f"runs are not comparable: {'; '.join(m.text() for m in mismatches)} (--force to compare anyway)"
        )
    a = _pick_color(run_a, color_a, "blue", "a")
    b = _pick_color(run_b, color_b, "green", "b")
    label_a, label_b = _labels(run_a, a, run_b, b)
    if mismatches:
        warnings = [f"forced past: {'; '.join(m.text() for m in mismatches)}", *warnings]
    warnings = [*invalid, *warnings]
    return compare_sides(
        Side(run_a, a, label_a),
        Side(run_b, b, label_b),
        design="two-run",
        thresholds=thresholds,
        forced=force and bool(mismatches or invalid),
        mismatches=mismatches,
        warnings=warnings,
    )


def compare_paths(
    run_a: Path | str | None = None,
    run_b: Path | str | None = None,
    *,
    paired_run: Path | str | None = None,
    thresholds: Thresholds | None = None,
    force: bool = False,
    color_a: str | None = None,
    color_b: str | None = None,
) -> Comparison:
    """The notebook's and the CLI's entry point: a paired run, or two runs."""
    if paired_run is not None:
        run = load_run(paired_run)
        return compare_paired(run, thresholds=thresholds, color_a=color_a, color_b=color_b, force=force)
    if run_a is None or run_b is None:
        raise ConfigError("give a paired run, or two runs (A, the baseline, then B, the candidate)")
    if Path(run_a).resolve() == Path(run_b).resolve():
        raise ConfigError(f"{run_a} is compared with itself: give a paired run alone, or two different runs")
    return compare_runs(
        load_run(run_a), load_run(run_b), thresholds=thresholds, force=force, color_a=color_a, color_b=color_b
    )


# -- comparison.json --------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, tuples lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(comparison: Comparison) -> dict[str, Any]:
    """``comparison.json`` (schema version 1; results/README.md documents every field)."""
    from analysis.compare_report import conclusion

    data = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": comparison.generated_at,
        "design": comparison.design,
        "a": asdict(comparison.a),
        "b": asdict(comparison.b),
        "forced": comparison.forced,
        "mismatches": [asdict(m) for m in comparison.mismatches],
        "warnings": comparison.warnings,
        "thresholds": asdict(comparison.thresholds),
        "family": asdict(comparison.family),
        "scorecard": asdict(comparison.scorecard),
        "metrics": [asdict(metric) for metric in comparison.metrics],
        "not_compared": [asdict(item) for item in comparison.not_compared],
        "only_in_a": comparison.only_in_a,
        "only_in_b": comparison.only_in_b,
        "conclusion": conclusion(comparison),
    }
    return _clean(data)
