"""The statistics behind ``analysis.compare``: pure functions over merged HDR histograms, counts
and resource series. No decisions here (``compare`` applies the thresholds), no I/O.

Latency data arrive as merged histograms, not raw samples: ``Buckets`` holds each non-empty
bucket's value (the highest value it stands for, the number ``hdrh`` reports) and its count. That
resolution (3 significant digits, 0.1 %) is far below any difference worth deciding on.

  bootstrap_percentiles  multinomial resampling of the buckets (two stages, exact; see there)
  quantile_comparison    ratio and difference of a percentile, B/A, with bootstrap CIs
  mann_whitney           rank test + common-language effect size (Kayenta parity)
  kolmogorov_smirnov     distribution test: catches spread and shape changes the rank test
                         misses (kayenta#780: a variance increase with the same median passes MW)
  two_proportions        error rates: z test, or Fisher's exact test when counts are small
  block_trend            least-squares slope per minute, its uncertainty by batch means
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from analysis.hdr import Histogram, layout

# Above this many samples a side is subsampled (without replacement, proportionally to the bucket
# counts) before the rank and distribution tests: their p-values are already ~0 for any real
# difference at that size, and the expanded arrays would cost memory for nothing.
MAX_TEST_SAMPLES = 200_000
_HYPERGEOMETRIC_LIMIT = 10**9  # numpy's multivariate_hypergeometric refuses larger totals


@dataclass(frozen=True)
class Buckets:
    """One merged latency histogram: ascending bucket values (ms) and their counts (> 0)."""

    values_ms: np.ndarray  # float64, ascending
    counts: np.ndarray  # int64, > 0

    @classmethod
    def from_histogram(cls, histogram: Histogram) -> Buckets:
        merged = histogram.merged
        keep = merged.counts > 0
        index = merged.keys[keep] % layout().counts_len
        return cls(layout().highest_equivalent(index).astype(np.float64) / 1000.0, merged.counts[keep].astype(np.int64))

    @classmethod
    def from_values(cls, values_ms: Sequence[float] | np.ndarray) -> Buckets:
        """Raw values as buckets of their own (tests and benchmarks; real data come bucketed)."""
        values, counts = np.unique(np.asarray(values_ms, dtype=np.float64), return_counts=True)
        return cls(values, counts.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def percentile(self, percentile: float) -> float:
        """The ``hdrh`` rule: the first bucket whose running count reaches the rank."""
        if not self.n:
            return math.nan
        position = int(np.searchsorted(np.cumsum(self.counts), hdr_rank(percentile, self.n), side="left"))
        return float(self.values_ms[min(position, len(self.values_ms) - 1)])

    def expand(self, rng: np.random.Generator, limit: int = MAX_TEST_SAMPLES) -> tuple[np.ndarray, bool]:
        """The samples as an array (bucket values repeated by count); above ``limit`` a proportional
        subsample of ``limit`` (multivariate hypergeometric: sampling without replacement).
        Returns ``(values, subsampled)``."""
        counts = self.counts
        subsampled = self.n > limit
        if subsampled and self.n < _HYPERGEOMETRIC_LIMIT:
            counts = rng.multivariate_hypergeometric(counts, limit)
        elif subsampled:  # numpy draws without replacement only below 1e9: with replacement, as near alike
            counts = rng.multinomial(limit, counts / counts.sum())
        return np.repeat(self.values_ms, counts), subsampled


def hdr_rank(percentile: float, total: int) -> int:
    """The rank ``hdrh`` looks for: ``int(p * total / 100 + 0.5)``, at least 1."""
    return max(math.floor(min(percentile, 100.0) * total / 100.0 + 0.5), 1)


def bootstrap_percentiles(
    buckets: Buckets, percentiles: Sequence[float], draws: int, rng: np.random.Generator
) -> np.ndarray:
    """``draws`` bootstrap replicates of each percentile: shape ``(draws, len(percentiles))``, ms.

    A replicate is a multinomial resample of the ``n`` samples over the buckets (probability of a
    bucket = its observed share), which is what resampling the raw samples with replacement gives.
    A multinomial can be drawn as a binary tree of conditional binomials: the n resampled samples
    split between the two halves of the buckets as Binomial(n, share of the left half), each half's
    total splits again the same way, and so on down to single buckets. A percentile only needs the
    path that holds its rank (go left when the left count reaches the rank, else subtract it and go
    right), so each replicate costs log2(K) binomial draws instead of K: exact, and fast enough for
    runs of millions of samples over thousands of buckets. Percentiles are drawn on separate paths
    (their marginal distributions are exact; nothing here uses their joint one).
    """
    n = buckets.n
    out = np.full((draws, len(percentiles)), np.nan)
    if n == 0:
        return out
    depth = max(1, math.ceil(math.log2(len(buckets.counts))))
    levels = [np.zeros(1 << depth, dtype=np.int64)]  # levels[0]: the leaves (buckets), padded
    levels[0][: len(buckets.counts)] = buckets.counts
    while len(levels[-1]) > 1:
        levels.append(levels[-1].reshape(-1, 2).sum(axis=1))
    for column, percentile in enumerate(percentiles):
        rank = np.full(draws, hdr_rank(percentile, n), dtype=np.int64)  # a replicate has n samples too
        total = np.full(draws, n, dtype=np.int64)
        node = np.zeros(draws, dtype=np.int64)
        for level in range(depth, 0, -1):
            children = levels[level - 1]
            left = 2 * node
            # The path only enters nodes holding samples (the rank lies there), so the share is defined.
            share = children[left] / levels[level][node]
            went_left = rng.binomial(total, share)
            go_left = went_left >= rank
            total = np.where(go_left, went_left, total - went_left)
            rank = np.where(go_left, rank, rank - went_left)
            node = np.where(go_left, left, left + 1)
        out[:, column] = buckets.values_ms[node]
    return out


@dataclass(frozen=True)
class QuantileComparison:
    """One percentile of A and B (ms, each with its bootstrap interval), B/A and B-A with theirs.

    ``a_ci``/``b_ci``/``ratio_ci``/``diff_ci`` are the ``confidence`` intervals (95 % by default) shown to readers;
    ``decision_ci`` is the ratio's interval at the level the verdict uses (``decision_level``,
    wider when the scorecard corrects for the number of metrics it judges). ``p_value`` is the
    bootstrap's two-sided p for "B/A = 1" (resolution 1/draws).
    """

    percentile: float
    a_ms: float
    b_ms: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    ratio: float
    ratio_ci: tuple[float, float]
    diff_ms: float
    diff_ci: tuple[float, float]
    decision_ci: tuple[float, float]
    decision_level: float
    p_value: float
    # Two one-sided tests at the decision alpha: the (1 - 2 alpha) intervals of B/A and B - A.
    equivalence_ci: tuple[float, float] = (math.nan, math.nan)
    equivalence_diff_ci: tuple[float, float] = (math.nan, math.nan)


def quantile_comparison(
    a: Buckets,
    b: Buckets,
    percentiles: Sequence[float],
    *,
    draws: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
    decision_level: float = 0.95,
) -> list[QuantileComparison]:
    """Percentile-bootstrap intervals of B/A and B-A (A and B resampled independently)."""
    reps_a = bootstrap_percentiles(a, percentiles, draws, rng)
    reps_b = bootstrap_percentiles(b, percentiles, draws, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = reps_b / reps_a
    diffs = reps_b - reps_a
    shown = ((1 - confidence) / 2, (1 + confidence) / 2)
    decided = ((1 - decision_level) / 2, (1 + decision_level) / 2)
    one_sided = (1 - decision_level, decision_level)  # TOST at the decision alpha
    results = []
    for column, percentile in enumerate(percentiles):
        a_ms, b_ms = a.percentile(percentile), b.percentile(percentile)
        r = ratios[:, column]
        below = float(np.mean(r < 1) + 0.5 * np.mean(r == 1))  # ties (the same bucket) count half
        results.append(
            QuantileComparison(
                percentile=float(percentile),
                a_ms=a_ms,
                b_ms=b_ms,
                a_ci=_interval(reps_a[:, column], shown),
                b_ci=_interval(reps_b[:, column], shown),
                ratio=b_ms / a_ms if a_ms > 0 else math.nan,
                ratio_ci=_interval(r, shown),
                diff_ms=b_ms - a_ms,
                diff_ci=_interval(diffs[:, column], shown),
                decision_ci=_interval(r, decided),
                decision_level=decision_level,
                p_value=min(1.0, 2 * min(below, 1 - below)),
                equivalence_ci=_interval(r, one_sided),
                equivalence_diff_ci=_interval(diffs[:, column], one_sided),
            )
        )
    return results


def _interval(values: np.ndarray, levels: tuple[float, float]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return (math.nan, math.nan)
    low, high = np.quantile(finite, levels)
    return (float(low), float(high))


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U (two-sided) of B against A.

    ``cles`` (common-language effect size) is P(a B sample > an A sample) + ½ P(tie): 0.5 means
    neither side tends to be slower; ``rank_biserial`` = 2·cles - 1 in [-1, 1], positive when B is
    slower. ``n_a``/``n_b`` are the samples tested (subsampled above ``MAX_TEST_SAMPLES``).
    """

    u: float
    p_value: float
    cles: float
    rank_biserial: float
    n_a: int
    n_b: int
    subsampled: bool


def mann_whitney(a: np.ndarray, b: np.ndarray, *, subsampled: bool = False) -> RankTest:
    result = scipy_stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic")
    u = float(result.statistic)  # U of B: pairs where B > A, ties counting half
    cles = u / (len(a) * len(b))
    return RankTest(u, float(result.pvalue), cles, 2 * cles - 1, len(a), len(b), subsampled)


@dataclass(frozen=True)
class DistributionTest:
    """Two-sample Kolmogorov-Smirnov of B against A: ``statistic`` is the largest gap between the
    two CDFs, found at ``at_ms``; ``b_slower`` says B's CDF is the lower one there (B slower).
    Bucketed values have ties, which makes the test conservative (p-values too large), not eager."""

    statistic: float
    p_value: float
    at_ms: float
    b_slower: bool


def kolmogorov_smirnov(a: np.ndarray, b: np.ndarray) -> DistributionTest:
    result = scipy_stats.ks_2samp(b, a, alternative="two-sided", method="auto")
    # scipy's sign is +1 when B's CDF lies above A's at the widest gap (B faster there).
    return DistributionTest(
        float(result.statistic), float(result.pvalue), float(result.statistic_location), result.statistic_sign < 0
    )


@dataclass(frozen=True)
class ProportionTest:
    """Failure rates of A and B (percent of judged samples: ok + failures) and their difference.

    ``method`` is ``z`` (pooled two-proportion z test) or ``fisher`` (exact, used when an expected
    cell count is below 5: sparse failures, kayenta#426). ``diff_ci_pp`` is the Newcombe interval
    of B - A (percentage points), sound near 0 % where the Wald interval is not.
    """

    failures_a: int
    judged_a: int
    failures_b: int
    judged_b: int
    rate_a_pct: float
    rate_b_pct: float
    diff_pp: float
    diff_ci_pp: tuple[float, float]
    statistic: float
    p_value: float
    method: str


def two_proportions(
    failures_a: int, judged_a: int, failures_b: int, judged_b: int, *, confidence: float = 0.95
) -> ProportionTest:
    rate_a = failures_a / judged_a if judged_a else math.nan
    rate_b = failures_b / judged_b if judged_b else math.nan
    pooled = (failures_a + failures_b) / max(judged_a + judged_b, 1)
    expected = min(pooled * judged_a, (1 - pooled) * judged_a, pooled * judged_b, (1 - pooled) * judged_b)
    if failures_a + failures_b == 0 or failures_a + failures_b == judged_a + judged_b:
        statistic, p_value, method = 0.0, 1.0, "none"  # no failures (or nothing else) on either side
    elif expected < 5:
        table = [[failures_b, judged_b - failures_b], [failures_a, judged_a - failures_a]]
        odds, p_value = scipy_stats.fisher_exact(table, alternative="two-sided")
        statistic, method = float(odds), "fisher"
    else:
        se = math.sqrt(pooled * (1 - pooled) * (1 / judged_a + 1 / judged_b))
        statistic = (rate_b - rate_a) / se
        p_value, method = float(2 * scipy_stats.norm.sf(abs(statistic))), "z"
    z = float(scipy_stats.norm.ppf((1 + confidence) / 2))
    low_a, high_a = _wilson(failures_a, judged_a, z)
    low_b, high_b = _wilson(failures_b, judged_b, z)
    diff = rate_b - rate_a
    # Newcombe's hybrid score interval (method 10) for a difference of two proportions.
    low = diff - math.sqrt((rate_b - low_b) ** 2 + (high_a - rate_a) ** 2)
    high = diff + math.sqrt((high_b - rate_b) ** 2 + (rate_a - low_a) ** 2)
    return ProportionTest(
        failures_a=failures_a,
        judged_a=judged_a,
        failures_b=failures_b,
        judged_b=judged_b,
        rate_a_pct=100 * rate_a,
        rate_b_pct=100 * rate_b,
        diff_pp=100 * diff,
        diff_ci_pp=(100 * low, 100 * high),
        statistic=float(statistic),
        p_value=float(p_value),
        method=method,
    )


def difference_interval_pp(
    failures_a: int, judged_a: int, failures_b: int, judged_b: int, *, level: float
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of B - A at ``level``, in percentage points."""
    if not judged_a or not judged_b:
        return (math.nan, math.nan)
    z = float(scipy_stats.norm.ppf((1 + level) / 2))
    rate_a, rate_b = failures_a / judged_a, failures_b / judged_b
    low_a, high_a = _wilson(failures_a, judged_a, z)
    low_b, high_b = _wilson(failures_b, judged_b, z)
    diff = rate_b - rate_a
    low = diff - math.sqrt((rate_b - low_b) ** 2 + (high_a - rate_a) ** 2)
    high = diff + math.sqrt((high_b - rate_b) ** 2 + (rate_a - low_a) ** 2)
    return (100 * low, 100 * high)


def _wilson(successes: int, total: int, z: float) -> tuple[float, float]:
    if total == 0:
        return (math.nan, math.nan)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Trend:
    """The least-squares slope per minute of a resource series, and its batch-means uncertainty.

    Resource samples one second apart are strongly autocorrelated, and a short run's RSS is a
    warm-up curve, not a line: the regression's own standard error is absurdly small (an A/A pair
    of 60 s runs differed "at p = 1e-60"). Instead the series is cut into ``len(block_slopes)``
    consecutive blocks and a slope fitted in each: a warm-up curve gives block slopes that disagree
    (a large ``stderr_per_min`` = their standard deviation / √blocks), a steady leak gives block
    slopes that agree (the batch-means method of simulation output analysis)."""

    slope_per_min: float
    stderr_per_min: float
    n: int
    block_slopes: tuple[float, ...] = ()


def block_trend(times: np.ndarray, values: np.ndarray, blocks: int = 6) -> Trend:
    """``Trend`` of the finite points; NaN slope below 3 points per block."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(v)
    t, v = t[keep], v[keep]
    if len(t) < 3 * blocks or np.ptp(t) == 0:
        return Trend(math.nan, math.nan, len(t))
    slope = float(scipy_stats.linregress(t, v).slope) * 60.0
    slopes = []
    for part in np.array_split(np.arange(len(t)), blocks):
        span = np.ptp(t[part])
        slopes.append(float(scipy_stats.linregress(t[part], v[part]).slope) * 60.0 if span > 0 else 0.0)
    stderr = float(np.std(slopes, ddof=1) / math.sqrt(blocks))
    return Trend(slope, stderr, len(t), tuple(slopes))


def slope_difference_interval(a: Trend, b: Trend, *, level: float) -> tuple[float, float]:
    """Welch's interval of B - A between the block slopes, at ``level`` (per minute)."""
    if len(a.block_slopes) < 2 or len(b.block_slopes) < 2:
        return (math.nan, math.nan)
    var_a = float(np.var(a.block_slopes, ddof=1)) / len(a.block_slopes)
    var_b = float(np.var(b.block_slopes, ddof=1)) / len(b.block_slopes)
    diff = b.slope_per_min - a.slope_per_min
    if var_a + var_b == 0:
        return (diff, diff)
    freedom = (var_a + var_b) ** 2 / (var_a**2 / (len(a.block_slopes) - 1) + var_b**2 / (len(b.block_slopes) - 1))
    half = float(scipy_stats.t.ppf((1 + level) / 2, freedom)) * math.sqrt(var_a + var_b)
    return (diff - half, diff + half)


def slope_difference_p(a: Trend, b: Trend) -> float:
    """Two-sided p of "the slopes are equal": Welch's t-test between the two sides' block slopes."""
    if len(a.block_slopes) < 2 or len(b.block_slopes) < 2:
        return math.nan
    if np.ptp(a.block_slopes) == 0 and np.ptp(b.block_slopes) == 0:
        return 1.0 if a.block_slopes[0] == b.block_slopes[0] else 0.0
    with warnings.catch_warnings():
        # Nearly constant block slopes (a flat series) make scipy warn about precision; the p it
        # returns is still the right answer's order of magnitude, and nothing else is at stake.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = scipy_stats.ttest_ind(b.block_slopes, a.block_slopes, equal_var=False)
    return float(result.pvalue)
