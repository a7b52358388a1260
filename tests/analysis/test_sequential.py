"""The gate's anytime-valid statistics (analysis.sequential) and its looks (analysis.gate)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.compare_stats import Buckets
from analysis.compare_synthetic import MetricShape, Plant, write_paired_run
from analysis.gate import look
from analysis.load import load_run
from analysis.sequential import (
    count_range,
    judge_errors_look,
    judge_latency_look,
    proportion_sequence,
    quantile_sequence,
)

Z95 = 1.6448536269514722


def test_a_confidence_sequence_rarely_ever_misses_the_true_quantile_where_a_fixed_interval_often_does() -> None:
    """Looked at 20 times, the sequence excludes the true p95 at some look in few of 200 runs at
    alpha 0.1; a fixed-sample 90 % interval looked at the same 20 times does so far more often."""
    rng = np.random.default_rng(7)
    true_p95 = math.exp(Z95)  # lognormal(0, 1)
    ever_missed = fixed_missed = 0
    for _ in range(200):
        values = rng.lognormal(0.0, 1.0, size=4000)  # in arrival order: each look sees the first n
        missed = fixed = False
        for n in range(200, 4001, 200):
            sample = np.sort(values[:n])
            low, high = quantile_sequence(Buckets.from_values(sample), 95, alpha=0.1)
            missed |= not low <= true_p95 <= high
            half = 1.645 * math.sqrt(n * 0.95 * 0.05)  # the normal-approximation interval of the rank
            lo_rank, hi_rank = max(0, math.floor(n * 0.95 - half)), min(n - 1, math.ceil(n * 0.95 + half))
            fixed |= not sample[lo_rank] <= true_p95 <= sample[hi_rank]
        ever_missed += missed
        fixed_missed += fixed
    assert ever_missed <= 0.1 * 200  # the promise: at most alpha, whatever the looks
    assert fixed_missed > 2 * ever_missed and fixed_missed > 0.15 * 200  # what peeking costs the fixed one


def test_the_count_range_holds_the_expected_count_and_narrows_as_n_grows() -> None:
    widths = []
    for n in (100, 1_000, 10_000):
        fewest, most = count_range(n, 0.95, alpha=0.01)
        assert fewest < 0.95 * n < most
        widths.append((most - fewest) / n)
    assert widths[0] > widths[1] > widths[2]


def test_an_error_rate_sequence_bounds_zero_failures_by_about_log_n_over_n() -> None:
    low, high = proportion_sequence(0, 20_000, alpha=0.005)
    assert low == 0 and 0.0004 < high < 0.001
    low, high = proportion_sequence(50, 1_000, alpha=0.01)
    assert low < 0.05 < high


def test_latency_looks_decide_worse_equivalent_or_wait() -> None:
    rng = np.random.default_rng(3)

    def side(median: float, n: int, sigma: float = 0.5) -> Buckets:
        return Buckets.from_values(np.round(rng.lognormal(math.log(median), sigma, size=n), 3))

    slower = judge_latency_look("latency:http", side(20, 40_000), side(23, 40_000), alpha=0.0125)
    assert slower.decision == "worse" and slower.interval[0] > 1
    same = judge_latency_look("latency:http", side(20, 60_000, 0.2), side(20, 60_000, 0.2), alpha=0.0125)
    assert same.decision == "equivalent" and same.interval[0] >= 1 / 1.05 and same.interval[1] <= 1.05
    early = judge_latency_look("latency:http", side(20, 500), side(20, 500), alpha=0.0125)
    assert early.decision == "undecided" and early.needed_per_side is not None and early.needed_per_side > 500


def test_error_looks() -> None:
    assert judge_errors_look("errors:overall", 0, 30_000, 0, 30_000, alpha=0.0125).decision == "equivalent"
    assert judge_errors_look("errors:overall", 0, 30_000, 600, 30_000, alpha=0.0125).decision == "worse"
    early = judge_errors_look("errors:overall", 0, 1_000, 0, 1_000, alpha=0.0125)
    assert early.decision == "undecided" and early.needed_per_side is not None and early.needed_per_side > 1_000


LARGE = (
    MetricShape("chat.history", "http", 30_000, 12.0, 0.3),
    MetricShape("chat.complete", "ws", 12_000, 800.0, 0.1),
)


def test_a_gate_look_promotes_identical_colors_and_rolls_back_a_slower_one(tmp_path: Path) -> None:
    same = look(load_run(write_paired_run(tmp_path / "aa", LARGE, steady_s=600)))
    assert same.decision == "promote", [m.reason for m in same.metrics]
    assert {m.id for m in same.metrics} == {"latency:http", "latency:chat.complete", "errors:overall", "memory:peak"}
    slower = look(load_run(write_paired_run(tmp_path / "ab", LARGE, plant=Plant(scale={"chat.complete": 1.1}))))
    assert slower.decision == "rollback" and "latency:chat.complete" in slower.reason
    short = look(load_run(write_paired_run(tmp_path / "short", tuple(s.scaled(0.01) for s in LARGE))))
    assert short.decision == "continue"
