"""The gate's decision: blue against green, looked at as often as the run likes, with anytime-valid
intervals (``analysis.sequential`` says which and why), stopping as soon as every critical metric
is decided.

A look (``look``) judges the critical metrics on what the run holds so far (its steady state,
response times from the intended start where the run has them):

- ``latency:http`` (every HTTP sample) and ``latency:chat.complete``: p95, B/A;
- ``errors:overall``: B - A;
- ``memory:peak``: thresholds only, as in ``compare`` (a peak has no sampling distribution; it
  can turn ``worse`` at any look, and never waits for more data).

The false-alarm budget ``alpha`` (5 %) is split evenly over the sequential metrics present. The
decision: ``rollback`` as soon as one is worse; ``promote`` once every one is equivalent or
better; otherwise ``continue`` (the run goes on, and ends ``hold`` if it reaches its maximum
duration undecided). Each undecided metric says how many samples a side would decide it, and
``seconds_left`` turns the slowest into time at the rate the samples are coming in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from analysis.compare_comparability import Side
from analysis.compare_inputs import gather, resources_of
from analysis.compare_rules import judge_peak
from analysis.compare_thresholds import Thresholds
from analysis.load import RunData
from analysis.sequential import MetricLook, judge_errors_look, judge_latency_look

__all__ = ["GATE_CRITICAL", "GATE_SCHEMA_VERSION", "GateLook", "GateResult", "look"]

GATE_SCHEMA_VERSION = 1
GATE_CRITICAL = ("latency:http", "latency:chat.complete", "errors:overall", "memory:peak")

GateDecision = Literal["rollback", "promote", "continue"]


@dataclass(frozen=True)
class GateLook:
    at_s: float  # seconds of steady state looked at
    metrics: tuple[MetricLook, ...]
    decision: GateDecision
    reason: str
    seconds_left: float | None  # about how long the undecided need (None: decided, or out of reach)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "metrics": [asdict(metric) for metric in self.metrics]}


@dataclass
class GateResult:
    """What ``loadbench gate`` writes into ``gate.json``."""

    decision: Literal["promote", "hold", "rollback"]
    exit_code: int
    reason: str
    stopped_early: bool
    max_duration_s: float
    alpha: float
    looks: list[GateLook] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """gate.json (results/README.md): strict JSON, an interval's open end as null."""
        return _finite(
            {
                "schema_version": GATE_SCHEMA_VERSION,
                "decision": self.decision,
                "exit_code": self.exit_code,
                "reason": self.reason,
                "stopped_early": self.stopped_early,
                "max_duration_s": self.max_duration_s,
                "alpha": self.alpha,
                "procedure": "confidence sequences (Howard et al. 2021, polynomial stitching), distribution-free "
                "for quantiles and rates; alpha split evenly over the sequential critical metrics",
                "looks": [look.to_json() for look in self.looks],
            }
        )


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _peak_look(run: RunData, a: Side, b: Side, thresholds: Thresholds) -> MetricLook | None:
    judged = judge_peak("memory", resources_of(a), resources_of(b), thresholds, {"memory:peak"})
    if judged.verdict == "inconclusive" or judged.resource is None:
        return None
    resource = judged.resource
    decision = "worse" if judged.verdict == "worse" else "better" if judged.verdict == "better" else "equivalent"
    ratio = resource.ratio if resource.ratio is not None else math.nan
    return MetricLook(
        "memory:peak", decision, judged.n_a, judged.n_b, ratio, (ratio, ratio), (resource.diff, resource.diff),
        (1 / thresholds.memory_peak_ratio, thresholds.memory_peak_ratio), 0.0, None, judged.reason,
    )  # fmt: skip


def look(
    run: RunData,
    *,
    thresholds: Thresholds | None = None,
    critical: tuple[str, ...] = GATE_CRITICAL,
    colors: tuple[str, str] = ("blue", "green"),
) -> GateLook:
    """One look at a paired run (A = ``colors[0]``, B = ``colors[1]``), complete or still running."""
    t = thresholds or Thresholds()
    a, b = Side(run, colors[0], colors[0]), Side(run, colors[1], colors[1])
    inputs = gather(a, b, t)
    latency = {item.id: item for item in inputs.latency}
    errors = {item.id: item for item in inputs.errors}
    sequential = [m for m in critical if (m in latency and latency[m].a.n and latency[m].b.n) or m in errors]
    alpha = t.alpha / max(1, len(sequential))
    metrics: list[MetricLook] = []
    for metric_id in sequential:
        if metric_id in latency:
            item = latency[metric_id]
            metrics.append(
                judge_latency_look(
                    metric_id, item.a, item.b, alpha=alpha, ratio_margin=t.ratio_p95, min_diff_ms=t.min_diff_ms,
                    equivalence_ms=t.equivalence_ms,
                )
            )  # fmt: skip
        else:
            e = errors[metric_id]
            metrics.append(
                judge_errors_look(
                    metric_id, e.failures_a, e.judged_a, e.failures_b, e.judged_b, alpha=alpha,
                    margin_pp=t.error_rate_pp,
                )
            )  # fmt: skip
    if "memory:peak" in critical and (peak := _peak_look(run, a, b, t)) is not None:
        metrics.append(peak)
    window = a.steady
    begin = window.since if window.since is not None else run.started_at
    end = run.ended_at
    at_s = max(0.0, (end or 0.0) - (begin or 0.0)) if begin is not None and end is not None else 0.0
    worse = [m.id for m in metrics if m.decision == "worse"]
    undecided = [m for m in metrics if m.decision == "undecided"]
    if worse:
        return GateLook(at_s, tuple(metrics), "rollback", f"worse: {', '.join(worse)}", None)
    if not undecided and metrics:
        return GateLook(at_s, tuple(metrics), "promote", "every critical metric equivalent or better", None)
    seconds_left = None
    needs = [m for m in undecided if m.needed_per_side is not None]
    if needs and len(needs) == len(undecided) and at_s > 0:
        # samples come in at about n / at_s a second on each side
        seconds_left = max((m.needed_per_side - min(m.n_a, m.n_b)) * at_s / max(1, min(m.n_a, m.n_b)) for m in needs)
    reason = "undecided: " + ", ".join(m.id for m in undecided) if undecided else "nothing to judge yet"
    return GateLook(at_s, tuple(metrics), "continue", reason, seconds_left)
