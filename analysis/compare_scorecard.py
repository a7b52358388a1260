"""The scorecard: every metric's verdict rolled into ``promote``, ``hold`` or ``rollback``.

``rollback`` (exit 1) when a critical metric is worse; ``hold`` (exit 0) when another
metric is worse, a critical one is inconclusive, or more than ``max_inconclusive_share`` of the
metrics are; ``promote`` (exit 0) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.compare_model import EXIT_CODES, Decision, MetricComparison, Scorecard
from analysis.compare_thresholds import Thresholds

__all__ = ["scorecard"]


def scorecard(metrics: list[MetricComparison], t: Thresholds, *, one_sided: Iterable[str] = ()) -> Scorecard:
    """Roll the verdicts up (the rules: this module's docstring). ``one_sided``: metric ids measured on
    one side only; a critical one holds the promotion (the candidate lost, or gained, a workload)."""
    by_id = {metric.id: metric for metric in metrics}
    counts = {
        verdict: sum(1 for m in metrics if m.verdict == verdict)
        for verdict in ("better", "same", "worse", "inconclusive")
    }
    critical_worse = tuple(m.id for m in metrics if m.critical and m.verdict == "worse")
    other_worse = tuple(m.id for m in metrics if not m.critical and m.verdict == "worse")
    inconclusive = tuple(m.id for m in metrics if m.verdict == "inconclusive")
    critical_inconclusive = tuple(m.id for m in metrics if m.critical and m.verdict == "inconclusive")
    share = len(inconclusive) / len(metrics) if metrics else 1.0
    missing = tuple(metric_id for metric_id in t.critical if metric_id not in by_id and metric_id not in set(one_sided))
    reasons: list[str] = []
    if critical_worse:
        decision: Decision = "rollback"
        reasons.append(f"critical metric(s) worse: {', '.join(critical_worse)}")
        if other_worse:
            reasons.append(f"also worse: {', '.join(other_worse)}")
    else:
        if other_worse:
            reasons.append(f"worse: {', '.join(other_worse)}")
        if critical_inconclusive:
            reasons.append(f"critical metric(s) inconclusive: {', '.join(critical_inconclusive)}")
        lopsided = [metric_id for metric_id in t.critical if metric_id in set(one_sided)]
        if lopsided:
            reasons.append(f"critical metric(s) measured on one side only: {', '.join(lopsided)}")
        if share > t.max_inconclusive_share:
            reasons.append(
                f"{len(inconclusive)} of {len(metrics)} metrics inconclusive (> {t.max_inconclusive_share:.0%})"
            )
        decision = "hold" if reasons else "promote"
        if decision == "promote":
            reasons.append(
                f"no metric worse ({counts['better']} better, {counts['same']} same, "
                f"{counts['inconclusive']} inconclusive)"
            )
    return Scorecard(
        decision=decision,
        exit_code=EXIT_CODES[decision],
        reasons=tuple(reasons),
        counts=counts,
        critical_worse=critical_worse,
        other_worse=other_worse,
        better=tuple(m.id for m in metrics if m.verdict == "better"),
        inconclusive=inconclusive,
        critical_inconclusive=critical_inconclusive,
        inconclusive_share=share,
        missing_critical=missing,
    )
