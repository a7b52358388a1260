"""Verdicts and the scorecard on synthetic paired runs with planted differences."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import LARGE, LARGE_STEADY_S, SHAPES, MakeRun

from analysis.compare import (
    COMPARISON_JSON,
    ComparisonRefused,
    Thresholds,
    compare_paired,
    compare_runs,
    scorecard,
    to_json,
)
from analysis.compare_report import conclusion, markdown, scorecard_frame, write_comparison
from analysis.compare_synthetic import MetricShape, Plant
from analysis.load import load_run
from loadtests.errors import ConfigError, InvalidRunError
from loadtests.recorder.rundir import RunDirectory


def test_identical_sides_shown_equivalent_are_the_same_and_promoted(make_run: MakeRun) -> None:
    comparison = compare_paired(load_run(make_run(shapes=LARGE, steady_s=LARGE_STEADY_S)))
    verdicts = {m.id: m.verdict for m in comparison.metrics}
    critical = ("latency:http", "latency:chat.complete", "errors:overall", "memory:peak", "memory:slope")
    assert {verdicts[metric] for metric in critical} == {"same"}, verdicts
    http = comparison.metric("latency:http")
    assert http.equivalence is not None and http.equivalence.shown
    low, high = http.equivalence.interval
    assert 1 / 1.05 <= low <= 1 <= high <= 1.05  # the interval inside the margin: shown, not assumed
    assert comparison.scorecard.decision == "promote" and comparison.exit_code == 0
    assert comparison.design == "paired" and (comparison.a.label, comparison.b.label) == ("blue", "green")
    assert conclusion(comparison).startswith("Promote: green is not worse than blue")


def test_identical_sides_too_short_to_show_equivalence_hold(make_run: MakeRun) -> None:
    """`same` means shown within the margin: 400 samples of a wide-spread metric show no
    difference, and no equivalence either."""
    comparison = compare_paired(load_run(make_run()))
    history = comparison.metric("latency:chat.history")
    assert history.verdict == "inconclusive" and history.equivalence is not None
    assert not history.equivalence.shown and history.equivalence.needed_per_side is not None
    assert history.equivalence.needed_per_side > history.n_a
    assert "samples a side would show it" in history.reason
    assert not {m.verdict for m in comparison.metrics} & {"worse", "better"}
    assert comparison.scorecard.decision == "hold" and comparison.exit_code == 0
    assert "latency:http" in comparison.scorecard.critical_inconclusive


def test_a_known_shift_on_a_critical_metric_is_worse_and_rolls_back(make_run: MakeRun) -> None:
    comparison = compare_paired(load_run(make_run(Plant(scale={"chat.complete": 1.25}))))
    chat = comparison.metric("latency:chat.complete")
    assert chat.verdict == "worse" and chat.critical
    assert chat.latency is not None
    p95 = next(q for q in chat.latency.quantiles if q.comparison.percentile == 95)
    assert p95.judged and p95.decision == "worse" and p95.comparison.decision_ci[0] > 1
    assert 1.15 < p95.comparison.ratio < 1.35 and p95.threshold == 1.05
    assert chat.latency.rank.cles > 0.9  # Mann-Whitney sees the shift too
    assert comparison.metric("latency:health").verdict != "worse"
    assert comparison.scorecard.decision == "rollback" and comparison.exit_code == 1
    assert comparison.scorecard.critical_worse == ("latency:chat.complete",)
    assert "slower than blue on chat.complete" in conclusion(comparison)


def test_a_faster_candidate_is_better(make_run: MakeRun) -> None:
    comparison = compare_paired(load_run(make_run(Plant(scale={"chat.history": 0.7}))))
    assert comparison.metric("latency:chat.history").verdict == "better"
    assert comparison.scorecard.decision == "hold"  # better, but the critical metrics not yet shown equivalent
    large = compare_paired(
        load_run(make_run(Plant(scale={"chat.history": 0.7}), shapes=LARGE, steady_s=LARGE_STEADY_S))
    )
    assert large.metric("latency:chat.history").verdict == "better" and large.scorecard.decision == "promote"


def test_a_spread_increase_with_the_same_median_is_caught(make_run: MakeRun) -> None:
    """The Kayenta failure mode: Mann-Whitney sees nothing, the distribution test and the tail do."""
    comparison = compare_paired(load_run(make_run(Plant(spread={"chat.history": 2.0}))))
    history = comparison.metric("latency:chat.history")
    assert history.latency is not None
    assert history.latency.rank.p_value > comparison.family.decision_alpha
    assert history.latency.shape.test.p_value < comparison.family.decision_alpha
    assert history.verdict == "worse"
    p50 = next(q for q in history.latency.quantiles if q.comparison.percentile == 50)
    assert p50.decision == "same"  # the median did not move
    # chat.history is not critical, but its samples are in the HTTP aggregate, which is.
    assert comparison.scorecard.critical_worse == ("latency:http",)
    assert comparison.scorecard.other_worse == ("latency:chat.history",)


def test_a_bimodal_candidate_fails_the_shape_path(make_run: MakeRun) -> None:
    """A fifth of B's answers become three times slower; median and tail both move."""
    shapes = (MetricShape("chat.history", "http", 2000, 10.0, 0.2), *SHAPES[1:])
    base = make_run(shapes=shapes)
    slow = make_run(Plant(scale={"chat.history": 3.0}), shapes=(MetricShape("chat.history", "http", 400, 10.0, 0.2),))
    # Splice B's slow mode into the base run: the same series, more samples.
    extra = [
        line
        for line in (slow / "samples.jsonl").read_text().splitlines()
        if '"green"' in line and "chat.history" in line
    ]
    with (base / "samples.jsonl").open("a") as handle:
        handle.write("\n".join(extra) + "\n")
    comparison = compare_paired(load_run(base))
    history = comparison.metric("latency:chat.history")
    assert history.verdict == "worse" and history.latency is not None
    assert history.latency.shape.test.b_slower and history.latency.shape.decision == "worse"


def test_too_few_samples_are_inconclusive_and_hold(make_run: MakeRun) -> None:
    shapes = (MetricShape("chat.complete", "ws", 20, 800.0, 0.1), MetricShape("chat.history", "http", 300, 12.0, 0.5))
    comparison = compare_paired(load_run(make_run(shapes=shapes)))
    chat = comparison.metric("latency:chat.complete")
    assert chat.verdict == "inconclusive" and "min_samples 30" in chat.reason and chat.latency is None
    assert comparison.scorecard.decision == "hold"
    assert "latency:chat.complete" in comparison.scorecard.critical_inconclusive


def test_sparse_metrics_are_listed_not_judged(make_run: MakeRun) -> None:
    shapes = (*SHAPES, MetricShape("admin.list", "http", 8, 5.0, 0.3))
    comparison = compare_paired(load_run(make_run(shapes=shapes)))
    assert [s.name for s in comparison.not_compared] == ["admin.list"]
    assert not any(m.name == "admin.list" for m in comparison.metrics)


def test_an_error_rate_shift_is_worse(make_run: MakeRun) -> None:
    comparison = compare_paired(load_run(make_run(Plant(error_rate={"chat.history": 0.05}))))
    errors = comparison.metric("errors:chat.history")
    assert errors.verdict == "worse" and errors.errors is not None
    assert errors.errors.failures_a == 0 and errors.errors.failures_b > 10 and errors.errors.method in ("z", "fisher")
    assert errors.errors.p_value < comparison.family.decision_alpha
    assert comparison.metric("errors:overall").verdict == "worse"
    assert comparison.scorecard.decision == "rollback"  # overall error rate is critical
    assert "fails more often than blue on every request" in conclusion(comparison)


def test_memory_growth_is_worse_by_slope(make_run: MakeRun) -> None:
    comparison = compare_paired(load_run(make_run(Plant(memory_growth_mb_per_min=10.0))))
    slope = comparison.metric("memory:slope")
    assert slope.verdict == "worse" and slope.resource is not None and slope.resource.diff > 8
    assert comparison.metric("memory:peak").verdict == "same"  # +10 MB: within the peak thresholds
    assert comparison.scorecard.decision == "rollback"


def test_thresholds_are_settable(make_run: MakeRun) -> None:
    run = load_run(make_run(Plant(scale={"chat.complete": 1.25})))
    lenient = Thresholds().with_overrides({"ratio_p50": "2", "ratio_p95": "2", "ratio_p99": "2", "shape_ratio": "2"})
    assert compare_paired(run, thresholds=lenient).metric("latency:chat.complete").verdict == "same"
    not_critical = Thresholds().with_overrides({"critical": "errors:overall"})
    assert compare_paired(run, thresholds=not_critical).scorecard.decision == "hold"
    with pytest.raises(ConfigError, match="unknown"):
        Thresholds().with_overrides({"ratio_p96": "1"})
    with pytest.raises(ConfigError, match="not a float"):
        Thresholds().with_overrides({"ratio_p95": "fast"})


def test_the_scorecard_rules() -> None:
    def metric(metric_id: str, verdict: str, critical: bool = False):  # type: ignore[no-untyped-def]
        from analysis.compare import MetricComparison

        return MetricComparison(metric_id, "latency", metric_id, verdict, "", critical, 1, 1, "ms", 1.0, 1.0, "steady")  # type: ignore[arg-type]

    t = Thresholds()
    assert scorecard([metric("a", "same", True), metric("b", "better")], t).decision == "promote"
    assert scorecard([metric("a", "same", True), metric("b", "worse")], t).decision == "hold"
    assert scorecard([metric("a", "worse", True), metric("b", "same")], t).decision == "rollback"
    assert scorecard([metric("a", "inconclusive", True), metric("b", "same")], t).decision == "hold"
    many = [metric("a", "same", True), *(metric(f"x{i}", "inconclusive") for i in range(3))]
    card = scorecard(many, t)
    assert card.decision == "hold" and card.inconclusive_share == 0.75
    assert card.exit_code == 0 and scorecard([metric("a", "worse", True)], t).exit_code == 1


def _set_users(path: Path, users: int) -> None:
    directory = RunDirectory(path)
    manifest = directory.read_manifest()
    directory.update_manifest(profile={**manifest.profile, "users": users})


def test_two_runs_with_different_loads_are_refused_unless_forced(make_run: MakeRun) -> None:
    first, second = make_run(), make_run(Plant(scale={"chat.complete": 1.25}), seed=1)
    _set_users(second, 20)
    with pytest.raises(ComparisonRefused, match=r"users 40 ≠ 20.*--force"):
        compare_runs(load_run(first), load_run(second))
    forced = compare_runs(load_run(first), load_run(second), force=True)
    assert forced.forced and forced.mismatches[0].field == "users"
    assert forced.warnings[0].startswith("forced past: users 40 ≠ 20")
    data = to_json(forced)
    assert data["forced"] is True and data["mismatches"] == [{"field": "users", "a": 40, "b": 20}]
    assert forced.metric("latency:chat.complete").verdict == "worse"
    assert "Compared with --force although: users 40 ≠ 20" in conclusion(forced)


def test_an_invalid_run_is_refused_unless_forced(make_run: MakeRun) -> None:
    path = make_run()
    RunDirectory(path).update_manifest(status="invalid", invalid_reason="generator saturated")
    with pytest.raises(InvalidRunError, match=r"generator saturated.*--force"):
        compare_paired(load_run(path))
    forced = compare_paired(load_run(path), force=True)
    assert forced.forced and "generator saturated" in conclusion(forced)


def test_two_runs_of_the_same_color_are_labelled_by_run(make_run: MakeRun) -> None:
    first, second = make_run(name="monday"), make_run(seed=5, name="tuesday")
    comparison = compare_runs(load_run(first), load_run(second), color_a="green", color_b="green")
    assert (comparison.a.label, comparison.b.label) == ("green (monday)", "green (tuesday)")
    assert comparison.design == "two-run" and any("different times" in w for w in comparison.warnings)
    with pytest.raises(ConfigError, match="no target 'red'"):
        compare_runs(load_run(first), load_run(second), color_a="red")


def test_comparison_json_exposes_every_number_and_is_strict_json(make_run: MakeRun, tmp_path: Path) -> None:
    comparison = compare_paired(load_run(make_run(Plant(scale={"chat.complete": 1.25}))))
    written = write_comparison(comparison, tmp_path / "out")
    assert [path.name for path in written] == ["comparison.json", "comparison.md", "comparison.html"]
    data = json.loads((tmp_path / "out" / COMPARISON_JSON).read_text())
    assert data["schema_version"] == 2 and data["design"] == "paired"
    assert data["scorecard"]["decision"] == "rollback" and data["scorecard"]["exit_code"] == 1
    assert data["family"]["tests"] >= 5 and math.isclose(
        data["family"]["decision_alpha"], data["family"]["alpha"] / data["family"]["tests"]
    )
    chat = next(m for m in data["metrics"] if m["id"] == "latency:chat.complete")
    assert {"verdict", "reason", "n_a", "n_b", "critical", "latency", "tests"} <= set(chat)
    quantile = chat["latency"]["quantiles"][3]
    assert quantile["comparison"]["percentile"] == 95 and quantile["threshold"] == 1.05
    assert {"ratio", "ratio_ci", "diff_ms", "diff_ci", "decision_ci", "p_value", "a_ci", "b_ci"} <= set(
        quantile["comparison"]
    )
    assert {"u", "p_value", "cles", "rank_biserial"} <= set(chat["latency"]["rank"])
    assert {"statistic", "p_value", "at_ms"} <= set(chat["latency"]["shape"]["test"])
    assert data["thresholds"]["ratio_p95"] == 1.05 and data["conclusion"].startswith("Roll back")
    html = (tmp_path / "out" / "comparison.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "ROLL BACK" in html
    assert "| latency:chat.complete | yes | worse |" in markdown(comparison)
    assert list(scorecard_frame(comparison)["verdict"]).count("worse") >= 1
