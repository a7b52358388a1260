"""Exact statistics from merged HDR histograms: pure functions over sample frames.

Every function takes frames (``RunData.samples`` or a selection of it) and, for latencies, the
run's ``HistogramStore``; none reads files, prints or plots. Latency statistics use ``ok`` samples
only. Outcome families (DESIGN.md, "Metric vocabulary"): ``ok`` succeeded; ``error``,
``soft_failure``, ``rate_limited`` and ``timeout`` failed; ``refused`` was an expected refusal
(an upload over the size limit) and counts as neither.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import numpy as np
import pandas as pd

from analysis.hdr import Histogram, HistogramSet, HistogramStore
from analysis.windows import Window
from loadtests.recorder.outcomes import Outcome

OK = Outcome.OK.value
FAILURES = tuple(outcome.value for outcome in Outcome if outcome.is_failure)
NEITHER = (Outcome.REFUSED.value,)
SUCCESSES = (OK,)


def _glob_mask(column: pd.Series, pattern: str) -> pd.Series:
    if pattern == "*":
        return pd.Series(True, index=column.index)
    values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else column.unique()
    return column.isin([value for value in values if fnmatchcase(str(value), pattern)])


def select(
    samples: pd.DataFrame,
    *,
    target: str | None = None,
    name: str = "*",
    kind: str = "any",
    user_class: str = "*",
    outcome: str = "*",
    window: Window | None = None,
    since: float | None = None,
    until: float | None = None,
) -> pd.DataFrame:
    """Rows matching the globs (``target``, ``name``, ``user_class``, ``outcome``) and ``kind``,
    whose interval lies in ``window`` (or in ``[since, until)``)."""
    mask = pd.Series(True, index=samples.index)
    if target is not None:
        mask &= _glob_mask(samples["target"], target)
    if kind != "any":
        mask &= samples["kind"] == kind
    for column, pattern in (("name", name), ("user_class", user_class), ("outcome", outcome)):
        if pattern != "*":
            mask &= _glob_mask(samples[column], pattern)
    if window is None and (since is not None or until is not None):
        window = Window("custom", since, until)
    if window is not None:
        mask &= window.interval_mask(samples)
    return samples[mask]


def ok_histogram(rows: pd.DataFrame, histograms: HistogramStore) -> Histogram:
    """The merged histogram of the ``ok`` samples: the only ones that enter latency statistics."""
    ids = rows.loc[(rows["outcome"] == OK) & (rows["hist_id"] >= 0), "hist_id"].to_numpy()
    return Histogram.of(histograms, ids)


def percentile_ms(histogram: Histogram, percentile: float) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return histogram.get_value_at_percentile(percentile) / 1000.0


@dataclass(frozen=True)
class OutcomeCounts:
    ok: int
    failures: int
    neither: int  # refused: expected refusals
    by_outcome: dict[str, int] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        """Samples that count for error and success rates."""
        return self.ok + self.failures

    def error_rate(self) -> float | None:
        return None if not self.judged else 100.0 * self.failures / self.judged

    def success_rate(self) -> float | None:
        return None if not self.judged else 100.0 * self.ok / self.judged


def outcome_counts(rows: pd.DataFrame) -> OutcomeCounts:
    totals = rows.groupby("outcome", observed=True)["count"].sum()
    by_outcome = {str(outcome): int(count) for outcome, count in totals.items() if count}
    return OutcomeCounts(
        ok=by_outcome.get(OK, 0),
        failures=sum(count for outcome, count in by_outcome.items() if outcome in FAILURES),
        neither=sum(count for outcome, count in by_outcome.items() if outcome not in FAILURES and outcome != OK),
        by_outcome=by_outcome,
    )


def outcome_table(rows: pd.DataFrame, by: Sequence[str] = ("target", "kind", "name")) -> pd.DataFrame:
    """Sample counts per group and outcome: one column per outcome seen."""
    table = rows.pivot_table(index=list(by), columns="outcome", values="count", aggfunc="sum", observed=True)
    return table.fillna(0).astype(np.int64)


def span_s(samples: pd.DataFrame) -> float:
    """Seconds covered by the intervals of ``samples`` (first start to last end)."""
    if samples.empty:
        return 0.0
    return float(samples["t1"].max() - samples["t0"].min())


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


def _ms(values_us: np.ndarray) -> list[float | None]:
    """Microseconds to milliseconds; an empty group (-1 or nan) becomes ``None``."""
    return [None if math.isnan(value) or value < 0 else float(value) / 1000.0 for value in values_us.tolist()]


def grouped_latency(
    rows: pd.DataFrame, histograms: HistogramStore, by: Sequence[str]
) -> tuple[pd.DataFrame, HistogramSet]:
    """The ``ok`` histograms of ``rows`` merged per group of ``by``: the groups (one row each, in
    sorted order; text columns as ``str``; column ``group`` numbers them) and their ``HistogramSet``."""
    ok = rows[(rows["outcome"] == OK) & (rows["hist_id"] >= 0)]
    if ok.empty:
        empty = pd.DataFrame({column: pd.Series(dtype=object) for column in by}).assign(group=pd.Series(dtype=int))
        return empty, HistogramSet(0, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    grouped = ok.groupby(list(by), observed=True, sort=True)
    codes = grouped.ngroup().to_numpy()
    groups = grouped.size().reset_index()[list(by)]
    for column in by:
        if isinstance(groups[column].dtype, pd.CategoricalDtype):
            groups[column] = groups[column].astype(str)
    groups["group"] = np.arange(len(groups))
    return groups, HistogramSet.build(histograms, ok["hist_id"].to_numpy(), codes, len(groups))


def summarize(rows: pd.DataFrame, histograms: HistogramStore) -> list[MetricSummary]:
    """One summary per (target, kind, name), percentiles over ``ok`` samples only."""
    if rows.empty:
        return []
    by = ["target", "kind", "name"]
    counts = rows.groupby([*by, "outcome"], observed=True)["count"].sum()
    groups, merged = grouped_latency(rows, histograms, by)
    latency = {key: index for index, key in enumerate(groups[by].itertuples(index=False, name=None))}
    totals = merged.totals()
    p50, p95, p99 = (_ms(merged.percentile_us(p)) for p in (50, 95, 99))
    maxima, means = _ms(merged.max_us()), _ms(merged.mean_us())
    summaries = []
    outcomes_by_key: dict[tuple[str, str, str], dict[str, int]] = {}
    for (target, kind, name, outcome), count in counts.items():
        if count:
            outcomes_by_key.setdefault((str(target), str(kind), str(name)), {})[str(outcome)] = int(count)
    for key in sorted(outcomes_by_key):
        outcomes = outcomes_by_key[key]
        group = latency.get(key)
        has = group is not None and totals[group] > 0
        summaries.append(
            MetricSummary(
                target=key[0],
                kind=key[1],
                name=key[2],
                count=sum(outcomes.values()),
                ok=outcomes.get(OK, 0),
                outcomes=outcomes,
                p50_ms=p50[group] if has else None,
                p95_ms=p95[group] if has else None,
                p99_ms=p99[group] if has else None,
                max_ms=maxima[group] if has else None,
                mean_ms=means[group] if has else None,
            )
        )
    return summaries


def time_bins(rows: pd.DataFrame, *, origin: float, bin_s: float) -> np.ndarray:
    """The bin (``floor((t0 - origin) / bin_s)``) of each row's interval."""
    return np.floor((rows["t0"].to_numpy() - origin) / bin_s + 1e-9).astype(np.int64)


def rates(
    rows: pd.DataFrame, *, origin: float, bin_s: float, by: Sequence[str] = ("target", "outcome")
) -> pd.DataFrame:
    """Samples per second over time: columns ``time_s`` (bin start, seconds from ``origin``),
    the ``by`` columns, ``count`` and ``per_s``."""
    if rows.empty:
        return pd.DataFrame(columns=["time_s", *by, "count", "per_s"])
    frame = rows[list(by)].astype(str).assign(bin=time_bins(rows, origin=origin, bin_s=bin_s), count=rows["count"])
    table = frame.groupby(["bin", *by], observed=True)["count"].sum().reset_index()
    table["time_s"] = table["bin"] * bin_s
    table["per_s"] = table["count"] / bin_s
    return table[["time_s", *by, "count", "per_s"]]


def latency_over_time(
    rows: pd.DataFrame,
    histograms: HistogramStore,
    *,
    origin: float,
    bin_s: float,
    by: Sequence[str] = ("target", "name"),
    percentiles: Sequence[float] = (50, 95, 99),
) -> pd.DataFrame:
    """Exact percentiles of ``ok`` latencies per time bin: columns ``time_s``, the ``by`` columns,
    ``count`` and ``p50_ms``… (one per requested percentile)."""
    columns = ["time_s", *by, "count", *(f"p{p:g}_ms" for p in percentiles)]
    ok = rows[(rows["outcome"] == OK) & (rows["hist_id"] >= 0)]
    if ok.empty:
        return pd.DataFrame(columns=columns)
    ok = ok.assign(bin=time_bins(ok, origin=origin, bin_s=bin_s))
    groups, merged = grouped_latency(ok, histograms, ["bin", *by])
    groups["time_s"] = groups["bin"].astype(np.int64) * bin_s
    groups["count"] = merged.totals()
    for p in percentiles:
        groups[f"p{p:g}_ms"] = _ms(merged.percentile_us(p))
    return groups[columns].sort_values(["time_s", *by]).reset_index(drop=True)


def latency_cdfs(
    rows: pd.DataFrame, histograms: HistogramStore, by: Sequence[str] = ("target", "name")
) -> dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]:
    """Per group: (latency ms at the top of each non-empty bucket, share of ``ok`` samples at or below)."""
    groups, merged = grouped_latency(rows, histograms, by)
    cdfs = {}
    for key, group in zip(groups[list(by)].itertuples(index=False, name=None), groups["group"], strict=True):
        values_us, shares = merged.cdf(int(group))
        cdfs[tuple(str(part) for part in key)] = (values_us / 1000.0, shares)
    return cdfs


def resource_series(resources: pd.DataFrame, *, role: str | None = "target", color: str | None = None) -> pd.DataFrame:
    """Resource samples of one role (and color), in time order."""
    mask = pd.Series(True, index=resources.index)
    if role is not None:
        mask &= resources["role"] == role
    if color is not None:
        mask &= resources["color"] == color
    return resources[mask].sort_values("time")


def slope_per_minute(times: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` over ``times`` (epoch s), per minute."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    t = t - t.mean()
    denominator = float((t * t).sum())
    return 0.0 if denominator == 0 else float((t * (v - v.mean())).sum() / denominator * 60.0)
