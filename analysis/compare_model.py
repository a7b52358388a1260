"""The result of comparing blue and green: one ``MetricComparison`` per metric (a verdict, why,
and every number that decided it), the ``Scorecard`` they roll into, and the ``Comparison`` that
holds them with the sides, the thresholds and the shared false-alarm budget (``Family``).

Frozen values, and ``ComparisonRefused``: the rules that fill them are ``compare_rules`` and
``compare_scorecard``; ``compare_json`` serialises them (``comparison.json``), ``compare_report``
renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from analysis.compare_equivalence import Equivalence
from analysis.compare_stats import Buckets, DistributionTest, ProportionTest, QuantileComparison, RankTest, Trend
from analysis.compare_thresholds import Thresholds
from loadtests.errors import ConfigError

__all__ = [
    "EXIT_CODES",
    "HTTP_AGGREGATE",
    "OVERALL",
    "Comparison",
    "ComparisonRefused",
    "Decision",
    "Family",
    "LatencyEvidence",
    "MetricComparison",
    "Mismatch",
    "QuantileJudgement",
    "ResourceEvidence",
    "Scorecard",
    "ShapeJudgement",
    "SideInfo",
    "SparseMetric",
    "Verdict",
]

Verdict = Literal["better", "same", "worse", "inconclusive"]
Decision = Literal["promote", "hold", "rollback"]
EXIT_CODES: dict[str, int] = {"promote": 0, "hold": 0, "rollback": 1}

HTTP_AGGREGATE = "http"  # the latency metric over every HTTP sample
OVERALL = "overall"  # the error-rate metric over every sample


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
    # `same` needs equivalence shown (compare_equivalence); set wherever it was tested
    equivalence: Equivalence | None = None

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
