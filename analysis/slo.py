"""Evaluate SLOs against a run: pure functions from ``RunData`` + specs to a ``Verdict``.

Decisions are honest (STYLE pattern 7): fewer samples than a check's ``min_samples`` is "no
verdict" (``passed = None``), never a pass. A check whose ``when`` finds no matching samples on a
target does not apply there (a run without a swarm is not judged on connections held) and is listed
in the notes. Exit codes (DESIGN.md): 3 if the run is invalid; else 1 if any check failed; else 3
if a required check has no verdict; else 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from analysis.load import RunData
from analysis.schedule import schedule_notes
from analysis.stats import (
    OutcomeCounts,
    ok_histogram,
    outcome_counts,
    resource_series,
    select,
    slope_per_minute,
    span_s,
)
from analysis.windows import Window
from loadtests.errors import EXIT_INVALID, EXIT_OK, EXIT_SLO_FAILED
from loadtests.recorder.format import iso
from loadtests.recorder.rundir import MAX_COUNT, SAMPLES
from loadtests.slo_spec import SloSpec

VERDICT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SloResult:
    name: str
    target: str
    metric: str
    selector: dict[str, Any]
    statistic: str
    comparison: str
    threshold: float
    unit: str
    observed: float | None
    passed: bool | None  # None: no verdict (too few samples)
    samples: int
    required: bool
    reason: str = ""
    window: dict[str, Any] = field(default_factory=dict)  # the resolved bounds, epoch seconds
    description: str = ""

    @property
    def check_id(self) -> str:
        return f"{self.name}[{self.target}]"

    def observed_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return "-" if self.observed is None else f"{self.observed:.4g}{unit}"

    def threshold_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.comparison} {self.threshold:g}{unit}"

    def explain(self) -> str:
        """One line a reader understands without the spec: "chat_complete on green: chat.complete
        p95 2310 ms misses < 2000 ms"."""
        if self.passed is None:
            return f"{self.name} on {self.target}: no verdict ({self.reason})"
        verb = "meets" if self.passed else "misses"
        return (
            f"{self.name} on {self.target}: {self.metric} {self.statistic} {self.observed_text()} "
            f"{verb} {self.threshold_text()} ({self.samples} samples)"
        )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    exit_code: int
    run_status: str
    checks: list[SloResult]
    notes: list[str] = field(default_factory=list)
    schema_version: int = VERDICT_SCHEMA_VERSION

    @property
    def failed(self) -> list[SloResult]:
        return [check for check in self.checks if check.passed is False]

    @property
    def undecided(self) -> list[SloResult]:
        return [check for check in self.checks if check.passed is None]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "run_status": self.run_status,
            "notes": self.notes,
            "checks": [{"id": check.check_id, **asdict(check)} for check in self.checks],
        }


@dataclass(frozen=True)
class _Observation:
    value: float | None
    samples: int
    reason: str = ""


def _too_few(samples: int, spec: SloSpec, what: str) -> _Observation:
    return _Observation(None, samples, f"{samples} {what} < min_samples {spec.min_samples}")


def _certain_failure(counts: OutcomeCounts, spec: SloSpec) -> _Observation | None:
    """Too few samples usually means no verdict, but not when the failures seen already break the
    SLO however the missing samples would turn out: if all of them were successes, the rate over
    ``min_samples`` would still miss the threshold. Then the verdict is a fail, not a guess (two of
    two logins refused fail "auth success > 99 %" for certain)."""
    if counts.failures == 0:
        return None
    best_error_rate = 100.0 * counts.failures / spec.min_samples
    best = best_error_rate if spec.statistic == "error_rate" else 100.0 - best_error_rate
    if spec.holds(best):
        return None
    observed = counts.error_rate() if spec.statistic == "error_rate" else counts.success_rate()
    return _Observation(
        observed, counts.judged, f"{counts.failures} failures already break it with {counts.judged} samples"
    )


def _observe_samples(run: RunData, spec: SloSpec, target: str, window: Window) -> _Observation:
    rows = select(
        run.samples,
        target=target,
        name=spec.metric,
        kind=spec.kind,
        user_class=spec.user_class,
        outcome=spec.outcome,
        window=window,
    )
    if spec.statistic in ("error_rate", "success_rate"):
        counts = outcome_counts(rows)
        if counts.judged < spec.min_samples:
            return _certain_failure(counts, spec) or _too_few(counts.judged, spec, "samples")
        value = counts.error_rate() if spec.statistic == "error_rate" else counts.success_rate()
        return _Observation(value, counts.judged)
    if spec.statistic == "rate":
        total = int(rows["count"].sum())
        if total < spec.min_samples:
            return _too_few(total, spec, "samples")
        seconds = span_s(select(run.samples, window=window))  # the window's length, not the metric's
        if seconds <= 0:
            return _Observation(None, total, "the window holds no complete interval")
        return _Observation(total / seconds, total)
    histogram = ok_histogram(rows, run.histograms)
    count = histogram.get_total_count()
    if count < spec.min_samples:
        return _too_few(count, spec, "ok samples")
    if spec.percentile is not None:
        return _Observation(histogram.get_value_at_percentile(spec.percentile) / 1000.0, count)
    if spec.statistic == "max":
        return _Observation(histogram.get_max_value() / 1000.0, count)
    return _Observation(histogram.get_mean_value() / 1000.0, count)  # mean


def _reduce_series(spec: SloSpec, times: np.ndarray, values: np.ndarray, what: str) -> _Observation:
    if len(values) < spec.min_samples:
        return _too_few(len(values), spec, what)
    if spec.percentile is not None:
        return _Observation(float(np.percentile(values, spec.percentile)), len(values))
    if spec.statistic == "max":
        return _Observation(float(values.max()), len(values))
    if spec.statistic == "mean":
        return _Observation(float(values.mean()), len(values))
    return _Observation(slope_per_minute(times, values), len(values))  # slope


def _observe_resources(run: RunData, spec: SloSpec, target: str, window: Window) -> _Observation:
    rows = resource_series(run.resources, role="target", color=target)
    rows = rows[window.point_mask(rows)][["time", spec.metric]].dropna()
    return _reduce_series(spec, rows["time"].to_numpy(), rows[spec.metric].to_numpy(float), "resource samples")


def _observe_figures(run: RunData, spec: SloSpec, target: str, window: Window) -> _Observation:
    figures = run.figures
    rows = figures[(figures["name"] == spec.metric) & (figures["target"] == target)]
    rows = rows[window.point_mask(rows)]
    if rows.empty:
        return _Observation(None, 0, f"no {spec.metric} figure for {target} in figures.jsonl")
    return _reduce_series(spec, rows["time"].to_numpy(float), rows["value"].to_numpy(float), "figure readings")


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


def evaluate_check(run: RunData, spec: SloSpec, target: str) -> SloResult:
    window = run.window(spec.window)
    observe = {"samples": _observe_samples, "resources": _observe_resources, "run": _observe_figures}[spec.source]
    observation = observe(run, spec, target, window)
    if observation.value is not None and not math.isfinite(observation.value):
        # Inputs are finite, but a statistic of extreme ones can overflow: no verdict, never NaN in JSON.
        observation = _Observation(None, observation.samples, f"the {spec.statistic} is not a finite number")
    return SloResult(
        name=spec.name,
        target=target,
        metric=spec.metric,
        selector=spec.selector(),
        statistic=spec.statistic,
        comparison=spec.comparison,
        threshold=spec.threshold,
        unit=spec.unit,
        observed=_significant(observation.value),
        passed=None if observation.value is None else spec.holds(observation.value),
        samples=observation.samples,
        required=spec.required,
        reason=observation.reason,
        window=window.to_json(),
        description=spec.description,
    )


def _applies(run: RunData, spec: SloSpec, target: str) -> bool:
    if spec.when is None:
        return True
    names = run.samples.loc[run.samples["target"] == target, "name"].unique()
    return any(fnmatchcase(str(name), spec.when) for name in names)


def _run_notes(run: RunData) -> list[str]:
    notes = list(getattr(run.manifest, "preflight_notes", None) or [])
    status = run.manifest.status
    if status == "invalid":
        notes.append(f"run invalid: {run.manifest.invalid_reason or 'see manifest'}")
    if status == "partial":
        notes.append("run is partial: the verdict covers only what was measured before it ended")
    if (lost_at := run.manifest.orchestrator_lost_at) is not None:
        moment = iso(datetime.fromtimestamp(lost_at, UTC))
        notes.append(
            f"loadbench run died without ending the run (last seen alive {moment}): "
            f"{run.unjudged_rows} sample row(s) recorded after it are not judged"
        )
    if run.bad_sample_lines:
        notes.append(f"{run.bad_sample_lines} unreadable line(s) in {SAMPLES} were skipped")
    notes += run.notes  # what loading dropped from the other files
    if run.basis == "response":
        notes.append(
            "latencies are response times from each operation's intended start (open model; "
            "`--basis service`: from the send)"
        )
    notes += schedule_notes(run)
    overflow = int(run.samples["overflow"].sum()) if len(run.samples) else 0
    if overflow:
        notes.append(f"{overflow} latencies beyond one hour were counted but are not in the percentiles")
    errors = sum(
        value
        for event in run.events
        if event.event == "test_stop"
        and type(value := event.fields.get("recorder_errors")) is int
        and 0 <= value <= MAX_COUNT
    )
    if errors:
        notes.append(f"the recorder failed on {errors} request event(s): they are missing from the samples")
    if run.steady_state_from is None:
        notes.append("no end of ramp-up recorded: steady-state windows cover the whole run")
    notes += _refused_login_notes(run)
    return notes


def _refused_login_notes(run: RunData) -> list[str]:
    """Users whose logins a target rate-limited never started: say so, and why (a 429 is the
    target's limiter, usually one a test environment should disable)."""
    samples = run.samples
    if not len(samples):
        return []
    limited = samples[(samples["name"] == "auth.login") & (samples["outcome"] == "rate_limited")]
    notes = []
    for target, count in limited.groupby("target", observed=True)["count"].sum().items():
        if count > 0:
            notes.append(
                f"{target} answered {int(count)} login(s) with 429 (rate limited): users whose login was refused "
                "waited for Retry-After, tried at most 3 times and then stayed idle; disable the target's rate "
                "limiter in the test environment or use auth: {mode: mint}"
            )
    return notes


def evaluate(run: RunData, specs: Iterable[SloSpec]) -> Verdict:
    specs = tuple(specs)
    checks: list[SloResult] = []
    notes = _run_notes(run)
    for spec in specs:
        skipped = []
        for target in run.targets:
            if not fnmatchcase(target, spec.target):
                continue
            if not _applies(run, spec, target):
                skipped.append(target)
                continue
            checks.append(evaluate_check(run, spec, target))
        if skipped:
            notes.append(f"{spec.name} does not apply to {', '.join(skipped)}: no {spec.when} samples")
    # A check that is not required and has no data at all does not apply to this workload.
    checks = [c for c in checks if c.required or c.passed is not None or c.samples > 0]
    failed = [c for c in checks if c.passed is False]
    undecided = [c for c in checks if c.passed is None and c.required]
    nothing = bool(specs) and not checks  # SLOs to judge by, and no target that any applies to
    if nothing:
        notes.append("nothing to judge: no target of this run has data any SLO applies to")
    if run.manifest.status == "invalid":
        exit_code = EXIT_INVALID  # a run that cannot be trusted decides nothing, pass or fail
    elif failed:
        exit_code = EXIT_SLO_FAILED
    elif undecided or nothing:
        exit_code = EXIT_INVALID
    else:
        exit_code = EXIT_OK
    return Verdict(
        passed=exit_code == EXIT_OK, exit_code=exit_code, run_status=run.manifest.status, checks=checks, notes=notes
    )
