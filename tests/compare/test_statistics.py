"""The statistics under `loadbench compare` on synthetic histograms with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.compare_stats import (
    Buckets,
    block_trend,
    bootstrap_percentiles,
    hdr_rank,
    kolmogorov_smirnov,
    mann_whitney,
    quantile_comparison,
    slope_difference_p,
    two_proportions,
)
from analysis.hdr import Histogram, HistogramStore
from loadtests.recorder.histogram import new_histogram, record_many


def lognormal(seed: int, n: int, median: float, sigma: float) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median), sigma, n)


def test_buckets_from_a_recorded_histogram_give_hdrh_percentiles() -> None:
    values_us = np.round(lognormal(1, 5000, 40.0, 0.6) * 1000).astype(np.int64)
    histogram = new_histogram()
    record_many(histogram, values_us)
    store = HistogramStore.from_encoded([histogram.encode().decode("ascii")])
    buckets = Buckets.from_histogram(Histogram.of(store, np.array([0])))
    assert buckets.n == 5000
    for p in (50, 95, 99, 99.9):
        assert buckets.percentile(p) == pytest.approx(histogram.get_value_at_percentile(p) / 1000.0)


def test_the_binomial_tree_bootstrap_has_the_exact_multinomial_distribution() -> None:
    """Resampling the buckets, the p-th percentile is at most bucket k exactly when the resampled
    count up to k reaches the rank: P = P(Binomial(n, F_k) >= rank). The tree of binomials must agree."""
    buckets = Buckets.from_values(np.round(lognormal(2, 400, 50.0, 0.5), 1))
    draws = bootstrap_percentiles(buckets, [50, 95], 8000, np.random.default_rng(3))
    shares = np.cumsum(buckets.counts) / buckets.n
    for column, p in enumerate((50, 95)):
        exact = stats.binom.sf(hdr_rank(p, buckets.n) - 1, buckets.n, shares)
        observed = np.searchsorted(np.sort(draws[:, column]), buckets.values_ms, side="right") / len(draws)
        assert np.abs(exact - observed).max() < 0.03  # 8000 draws: sampling error ~0.006


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    buckets = Buckets.from_values(lognormal(4, 300, 10.0, 0.4))
    first = bootstrap_percentiles(buckets, [95], 1000, np.random.default_rng(9))
    again = bootstrap_percentiles(buckets, [95], 1000, np.random.default_rng(9))
    assert np.array_equal(first, again)


def test_a_known_shift_gives_a_ratio_interval_above_one() -> None:
    a = Buckets.from_values(np.round(lognormal(5, 2000, 100.0, 0.3), 2))
    b = Buckets.from_values(np.round(lognormal(6, 2000, 130.0, 0.3), 2))
    (p95,) = quantile_comparison(a, b, [95], draws=2000, rng=np.random.default_rng(1))
    assert 1.2 < p95.ratio < 1.4 and p95.ratio_ci[0] > 1.15 and p95.p_value < 0.001
    assert p95.a_ci[0] <= p95.a_ms <= p95.a_ci[1] and p95.diff_ci[0] > 0


def test_a_spread_change_with_the_same_median_is_missed_by_mann_whitney_and_caught_by_ks() -> None:
    """kayenta#780: a variance increase passes the rank test; the distribution test sees it."""
    a = lognormal(7, 3000, 100.0, 0.2)
    b = lognormal(8, 3000, 100.0, 0.5)
    rank = mann_whitney(a, b)
    shape = kolmogorov_smirnov(a, b)
    assert rank.p_value > 0.05 and abs(rank.rank_biserial) < 0.05
    assert shape.p_value < 1e-10 and shape.statistic > 0.15


def test_mann_whitney_effect_size_points_at_the_slower_side() -> None:
    rank = mann_whitney(lognormal(1, 500, 10.0, 0.3), lognormal(2, 500, 13.0, 0.3))
    assert rank.cles > 0.7 and rank.rank_biserial == pytest.approx(2 * rank.cles - 1) and rank.p_value < 1e-10


def test_expand_subsamples_proportionally_above_the_limit() -> None:
    buckets = Buckets(np.array([1.0, 2.0, 3.0]), np.array([60_000, 30_000, 10_000]))
    values, subsampled = buckets.expand(np.random.default_rng(0), limit=10_000)
    assert subsampled and len(values) == 10_000
    assert np.bincount(values.astype(int))[1:].tolist() == pytest.approx([6000, 3000, 1000], rel=0.05)


def test_two_proportions_picks_its_method_by_the_counts() -> None:
    none = two_proportions(0, 500, 0, 500)
    assert none.method == "none" and none.p_value == 1.0 and none.diff_ci_pp[0] < 0 < none.diff_ci_pp[1]
    sparse = two_proportions(0, 400, 4, 400)  # expected failures per cell below 5: Fisher's exact test
    assert sparse.method == "fisher" and 0.05 < sparse.p_value < 0.2
    large = two_proportions(10, 2000, 60, 2000)
    assert large.method == "z" and large.p_value < 1e-6 and large.diff_pp == pytest.approx(2.5)
    assert large.diff_ci_pp[0] > 1.5


def test_slopes_by_batch_means_tell_a_warm_up_curve_from_a_leak() -> None:
    """Two warm-up curves of different heights (what two identical 60 s runs show) are not a
    difference in growth; a steady leak against a flat series is, even over a minute."""
    t = 1_900_000_000.0 + np.arange(60.0)
    noise = np.random.default_rng(1).normal(0, 0.3, size=(4, 60))
    small = block_trend(t, 60 + 4 * (1 - np.exp(-np.arange(60) / 15)) + noise[0])
    large = block_trend(t, 60 + 12 * (1 - np.exp(-np.arange(60) / 15)) + noise[1])
    flat = block_trend(t, 60 + noise[2])
    leak = block_trend(t, 60 + 10 * np.arange(60) / 60 + noise[3])
    assert large.slope_per_min - small.slope_per_min > 5  # a naive slope difference would flag it
    assert slope_difference_p(small, large) > 0.05
    assert slope_difference_p(flat, leak) < 1e-4 and leak.slope_per_min == pytest.approx(10, abs=1)
    assert len(leak.block_slopes) == 6 and leak.stderr_per_min < 1 < large.stderr_per_min
