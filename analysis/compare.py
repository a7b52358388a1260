"""Blue vs green: compare two sides (A, the baseline; B, the candidate) metric by metric, and roll
the verdicts into a scorecard (``promote`` / ``hold`` / ``rollback``).

A side is one target of one run. ``compare_paired(run)`` takes both colors of a ``--target both``
run (A = blue, B = green: the same time window, so machine noise hits both alike: the best
design); ``compare_runs(a, b)`` takes one target from each of two runs, after checking that the
runs are comparable (same profile and load, same suite versions) unless forced.

Modules, one job each (this module is the entry and re-exports the public names):

  compare_thresholds   ``Thresholds``: every number a verdict depends on, validated
  compare_model        the result: ``Comparison``, ``MetricComparison``, ``Scorecard``, ``Family``, …
  compare_comparability  sides (``Side``), what makes two runs comparable, invalid runs, colors
  compare_inputs       what is judged, gathered from the two sides
  compare_stats        the statistical tests (bootstrap intervals, KS, Mann-Whitney, proportions)
  compare_rules        the decision rules (their prose is that module's docstring)
  compare_scorecard    the verdicts rolled into ``promote`` / ``hold`` / ``rollback``
  compare_json         ``comparison.json`` (``to_json``)
  compare_report       renderings: conclusion, tables, figures, Markdown, HTML, and the files
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from analysis.compare_comparability import Side, check_valid, comparability, pick_color, side_info, side_labels
from analysis.compare_inputs import gather, resources_of
from analysis.compare_json import COMPARISON_HTML, COMPARISON_JSON, COMPARISON_MD, SCHEMA_VERSION, to_json
from analysis.compare_model import (
    EXIT_CODES,
    Comparison,
    ComparisonRefused,
    Decision,
    Family,
    LatencyEvidence,
    MetricComparison,
    Mismatch,
    QuantileJudgement,
    ResourceEvidence,
    Scorecard,
    ShapeJudgement,
    SideInfo,
    SparseMetric,
    Verdict,
)
from analysis.compare_rules import decision_family, judge_errors, judge_latency, judge_peak, judge_slope
from analysis.compare_scorecard import scorecard
from analysis.compare_thresholds import Thresholds
from analysis.load import RunData, load_run
from loadtests.errors import ConfigError
from loadtests.recorder.format import Basis
from loadtests.recorder.rundir import RunDirectory

__all__ = [
    "COMPARISON_HTML",
    "COMPARISON_JSON",
    "COMPARISON_MD",
    "EXIT_CODES",
    "SCHEMA_VERSION",
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
    "Side",
    "SideInfo",
    "SparseMetric",
    "Thresholds",
    "Verdict",
    "comparability",
    "compare_paired",
    "compare_paths",
    "compare_runs",
    "compare_sides",
    "scorecard",
    "to_json",
]


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
    inputs = gather(side_a, side_b, t)
    resources = (resources_of(side_a), resources_of(side_b))
    family = decision_family(inputs, resources, t)
    metrics = [judge_latency(item, t, family) for item in inputs.latency]
    metrics += [judge_errors(item, t, family) for item in inputs.errors]
    measured = [len(series.whole) for series in resources]
    if any(measured):  # an external target without a sampler has no resources.csv rows: not measured
        for aspect in ("memory", "cpu"):
            metrics.append(judge_peak(aspect, *resources, t, critical))  # type: ignore[arg-type]
            metrics.append(judge_slope(aspect, *resources, t, family, critical))  # type: ignore[arg-type]
    notes = list(warnings or [])
    if design == "two-run":
        notes.append(
            "the sides ran at different times: machine noise is not shared, and the intervals assume "
            "independent samples; prefer a paired run (--target both) for a decision"
        )
    return Comparison(
        design=design,
        a=side_info(side_a),
        b=side_info(side_b),
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
    warnings = check_valid([run], force)
    a = pick_color(run, color_a, "blue", "a")
    b = pick_color(run, color_b, "green", "b")
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
    invalid = check_valid([run_a, run_b], force)
    if mismatches and not force:
        raise ComparisonRefused(
            f"runs are not comparable: {'; '.join(m.text() for m in mismatches)} (--force to compare anyway)"
        )
    a = pick_color(run_a, color_a, "blue", "a")
    b = pick_color(run_b, color_b, "green", "b")
    label_a, label_b = side_labels(run_a, a, run_b, b)
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
    basis: Basis | None = None,
) -> Comparison:
    """The notebook's and the CLI's entry point: a paired run, or two runs. ``basis``: the
    latencies compared (``analysis.load.load_run``); by default response times from the intended
    start when every run compared has them, else service times on both sides alike."""
    if paired_run is not None:
        run = load_run(paired_run, basis=basis)
        return compare_paired(run, thresholds=thresholds, color_a=color_a, color_b=color_b, force=force)
    if run_a is None or run_b is None:
        raise ConfigError("give a paired run, or two runs (A, the baseline, then B, the candidate)")
    if Path(run_a).resolve() == Path(run_b).resolve():
        raise ConfigError(f"{run_a} is compared with itself: give a paired run alone, or two different runs")
    if basis is None:
        both = all(RunDirectory(path).has_response_times() for path in (run_a, run_b))
        basis = "response" if both else "service"
    return compare_runs(
        load_run(run_a, basis=basis), load_run(run_b, basis=basis), thresholds=thresholds, force=force,
        color_a=color_a, color_b=color_b,
    )  # fmt: skip
