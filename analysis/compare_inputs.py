"""What a comparison judges, gathered from the two sides: per metric name the ok latencies of each
side (HDR buckets), the failures and judged samples, the window they come from, and the resource
series. Names measured only while users ramp up (logins, connects) are taken over the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.compare_comparability import Side
from analysis.compare_model import HTTP_AGGREGATE, OVERALL, SparseMetric
from analysis.compare_stats import Buckets
from analysis.compare_thresholds import JUDGED, Thresholds
from analysis.hdr import Histogram
from analysis.stats import OK, grouped_latency, outcome_counts, resource_series
from analysis.windows import WHOLE, Window

__all__ = ["ErrorInput", "Inputs", "LatencyInput", "ResourceSeries", "gather", "resources_of"]


@dataclass(frozen=True)
class LatencyInput:
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
class ErrorInput:
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
class Inputs:
    latency: list[LatencyInput] = field(default_factory=list)
    errors: list[ErrorInput] = field(default_factory=list)
    sparse: list[SparseMetric] = field(default_factory=list)
    only_in_a: dict[str, int] = field(default_factory=dict)
    only_in_b: dict[str, int] = field(default_factory=dict)
    outcomes: pd.DataFrame | None = None


def gather(side_a: Side, side_b: Side, t: Thresholds) -> Inputs:
    critical = set(t.critical)
    inputs = Inputs()
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
                LatencyInput(
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
                ErrorInput(
                    error_id, name, oc_a.failures, oc_a.judged, oc_b.failures, oc_b.judged, window, error_id in critical
                )
            )
    http_a, http_b = _http_buckets(side_a, steady_a), _http_buckets(side_b, steady_b)
    http_id = f"latency:{HTTP_AGGREGATE}"
    if http_a.n or http_b.n or http_id in critical:
        inputs.latency.insert(
            0, LatencyInput(http_id, HTTP_AGGREGATE, http_a, http_b, "steady", ("http", "http"), http_id in critical)
        )
    overall_a, overall_b = outcome_counts(steady_a), outcome_counts(steady_b)
    overall_id = f"errors:{OVERALL}"
    overall = ErrorInput(
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
class ResourceSeries:
    whole: pd.DataFrame
    steady: pd.DataFrame


def resources_of(side: Side) -> ResourceSeries:
    series = resource_series(side.run.resources, role="target", color=side.color)
    return ResourceSeries(series, series[side.steady.point_mask(series)])
