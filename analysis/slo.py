"""Evaluate SLOs against a run: pure functions from ``RunData`` + specs to a ``Verdict``.

Decisions are honest (STYLE pattern 7): fewer samples than a check's ``min_samples`` is "no
verdict" (``passed = None``), never a pass. Exit codes (DESIGN.md): 1 if any check failed; else 3
if a required check has no verdict or the run is invalid; else 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import RunData
from analysis.slo_spec import PERCENTILES, SloSpec
from analysis.stats import FAILURES, SUCCESSES, ok_histogram, percentile_ms, select
from loadtests.errors import EXIT_INVALID, EXIT_OK, EXIT_SLO_FAILED

VERDICT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SloResult:
    name: str
    target: str
    metric: str
    selector: dict[str, str]
    statistic: str
    comparison: str
    threshold: float
    unit: str
    observed: float | None
    passed: bool | None  # None: no verdict (too few samples)
    samples: int
    required: bool
    reason: str = ""

    @property
    def check_id(self) -> str:
        return f"{self.name}[{self.target}]"

    def explain(self) -> str:
        """One line a reader understands without the spec: "chat_complete p95 2310 ms > 2000 ms on green"."""
        unit = f" {self.unit}" if self.unit else ""
        if self.passed is None:
            return f"{self.name} on {self.target}: no verdict ({self.reason})"
        assert self.observed is not None
        verb = "meets" if self.passed else "misses"
        return (
            f"{self.name} on {self.target}: {self.metric} {self.statistic} {self.observed:.4g}{unit} "
            f"{verb} {self.comparison} {self.threshold:g}{unit}"
        )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    exit_code: int
    run_status: str
    checks: list[SloResult]
    notes: list[str] = field(default_factory=list)
    schema_version: int = VERDICT_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "run_status": self.run_status,
            "notes": self.notes,
            "checks": [{"id": check.check_id, **asdict(check)} for check in self.checks],
        }


def _window(run: RunData, spec: SloSpec) -> float | None:
    return run.steady_state_from if spec.window == "steady" else None


def _observe_samples(run: RunData, spec: SloSpec, target: str) -> tuple[float | None, int, str]:
    rows = select(run.samples, target=target, name=spec.metric, kind=spec.kind, since=_window(run, spec))
    if spec.statistic in ("error_rate", "success_rate"):
        total = int(rows["count"].sum())
        if total < spec.min_samples:
            return None, total, f"{total} samples < min_samples {spec.min_samples}"
        by_outcome = rows.groupby("outcome")["count"].sum()
        wanted = FAILURES if spec.statistic == "error_rate" else SUCCESSES
        part = int(by_outcome[by_outcome.index.isin(wanted)].sum())
        return 100.0 * part / total, total, ""
    histogram = ok_histogram(rows)
    count = histogram.get_total_count()
    if count < spec.min_samples:
        return None, count, f"{count} ok samples < min_samples {spec.min_samples}"
    if spec.statistic in PERCENTILES:
        return percentile_ms(histogram, PERCENTILES[spec.statistic]), count, ""
    if spec.statistic == "max":
        return histogram.get_max_value() / 1000.0, count, ""
    if spec.statistic == "mean":
        return histogram.get_mean_value() / 1000.0, count, ""
    return None, count, f"statistic {spec.statistic} does not apply to latency samples"


def _observe_resources(run: RunData, spec: SloSpec, target: str) -> tuple[float | None, int, str]:
    frame = run.resources
    rows = frame[(frame["role"] == "target") & (frame["color"] == target)]
    if (since := _window(run, spec)) is not None:
        rows = rows[rows["time"] >= since]
    values = rows[["time", spec.metric]].dropna() if spec.metric in rows else pd.DataFrame()
    if len(values) < spec.min_samples:
        return None, len(values), f"{len(values)} resource samples < min_samples {spec.min_samples}"
    series = values[spec.metric].astype(float)
    if spec.statistic in PERCENTILES:
        return float(np.percentile(series, PERCENTILES[spec.statistic])), len(values), ""
    if spec.statistic == "max":
        return float(series.max()), len(values), ""
    if spec.statistic == "mean":
        return float(series.mean()), len(values), ""
    if spec.statistic == "slope":  # per minute, least squares
        slope = np.polyfit(values["time"].astype(float), series, 1)[0] * 60.0
        return float(slope), len(values), ""
    return None, len(values), f"statistic {spec.statistic} does not apply to resources"


def evaluate_check(run: RunData, spec: SloSpec, target: str) -> SloResult:
    if spec.source == "samples":
        observed, samples, reason = _observe_samples(run, spec, target)
    elif spec.source == "resources":
        observed, samples, reason = _observe_resources(run, spec, target)
    else:
        observed, samples, reason = None, 0, f"no {spec.metric} figure in this run"
    passed = None if observed is None else spec.holds(observed)
    return SloResult(
        name=spec.name,
        target=target,
        metric=spec.metric,
        selector={"source": spec.source, "kind": spec.kind, "window": spec.window},
        statistic=spec.statistic,
        comparison=spec.comparison,
        threshold=spec.threshold,
        unit=spec.unit,
        observed=None if observed is None else round(observed, 4),
        passed=passed,
        samples=samples,
        required=spec.required,
        reason=reason,
    )


def evaluate(run: RunData, specs: tuple[SloSpec, ...] | list[SloSpec]) -> Verdict:
    checks = [evaluate_check(run, spec, target) for target in run.targets for spec in specs]
    # A check that is not required and has no data at all does not apply to this workload.
    checks = [c for c in checks if c.required or c.passed is not None or c.samples > 0]
    notes = []
    failed = [c for c in checks if c.passed is False]
    undecided = [c for c in checks if c.passed is None and c.required]
    status = run.manifest.status
    if status == "invalid":
        notes.append(f"run invalid: {run.manifest.invalid_reason or 'see manifest'}")
    if status == "partial":
        notes.append("run is partial: the verdict covers only what was measured before it ended")
    if run.bad_sample_lines:
        notes.append(f"{run.bad_sample_lines} unreadable line(s) in samples.jsonl were skipped")
    if status == "invalid":
        exit_code = EXIT_INVALID  # a run that cannot be trusted decides nothing, pass or fail
    elif failed:
        exit_code = EXIT_SLO_FAILED
    elif undecided:
        exit_code = EXIT_INVALID
    else:
        exit_code = EXIT_OK
    return Verdict(passed=exit_code == EXIT_OK, exit_code=exit_code, run_status=status, checks=checks, notes=notes)
