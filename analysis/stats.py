"""Exact statistics from merged HDR histograms: pure functions over sample frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import pandas as pd
from hdrh.histogram import HdrHistogram

from loadtests.dialects.base import Outcome
from loadtests.recorder.histogram import merge

FAILURES = tuple(outcome.value for outcome in Outcome if outcome.is_failure)
SUCCESSES = (Outcome.OK.value, Outcome.REFUSED.value)


def select(
    samples: pd.DataFrame,
    *,
    target: str | None = None,
    name: str = "*",
    kind: str = "any",
    since: float | None = None,
    until: float | None = None,
) -> pd.DataFrame:
    """Rows of one target whose name matches the glob ``name``, within [since, until)."""
    mask = pd.Series(True, index=samples.index)
    if target is not None:
        mask &= samples["target"] == target
    if kind != "any":
        mask &= samples["kind"] == kind
    if name != "*":
        names = samples["name"].unique()
        matching = [n for n in names if fnmatchcase(n, name)]
        mask &= samples["name"].isin(matching)
    if since is not None:
        mask &= samples["t0"] >= since - 1e-6
    if until is not None:
        mask &= samples["t1"] <= until + 1e-6
    return samples[mask]


def ok_histogram(rows: pd.DataFrame) -> HdrHistogram:
    """The merged histogram of the ``ok`` samples: the only ones that enter latency statistics."""
    ok = rows[(rows["outcome"] == Outcome.OK.value) & rows["hist"].notna()]
    return merge(list(ok["hist"]))


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return histogram.get_value_at_percentile(percentile) / 1000.0


@dataclass(frozen=True)
class MetricSummary:
    target: str
    kind: str
    name: str
    count: int
    ok: int
    outcomes: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None

    @property
    def failures(self) -> int:
        return sum(count for outcome, count in self.outcomes.items() if outcome in FAILURES)


def summarize(samples: pd.DataFrame) -> list[MetricSummary]:
    """One summary per (target, kind, name), percentiles over ``ok`` samples only."""
    summaries = []
    if samples.empty:
        return summaries
    for (target, kind, name), rows in samples.groupby(["target", "kind", "name"], sort=True):
        outcomes = rows.groupby("outcome")["count"].sum().to_dict()
        hist = ok_histogram(rows)
        has = hist.get_total_count() > 0
        summaries.append(
            MetricSummary(
                target=str(target),
                kind=str(kind),
                name=str(name),
                count=int(rows["count"].sum()),
                ok=int(outcomes.get(Outcome.OK.value, 0)),
                outcomes={str(k): int(v) for k, v in outcomes.items()},
                p50_ms=percentile_ms(hist, 50),
                p95_ms=percentile_ms(hist, 95),
                p99_ms=percentile_ms(hist, 99),
                max_ms=hist.get_max_value() / 1000.0 if has else None,
                mean_ms=hist.get_mean_value() / 1000.0 if has else None,
            )
        )
    return summaries
