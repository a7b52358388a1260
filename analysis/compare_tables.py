"""The comparison as tables (pandas): the scorecard, a latency metric's percentile ladder, and the
samples per outcome. Cells are text as a reader sees them; the CLI, the notebook and the Markdown
and HTML renderings show them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.compare_model import Comparison, MetricComparison

__all__ = ["errors_frame", "ladder_frame", "scorecard_frame"]


def _interval_text(low: float, high: float, digits: int = 3) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def _evidence(metric: MetricComparison) -> tuple[str, str, str]:
    """``(B/A or B-A, its 95 % interval, the deciding p-value)`` as text."""
    if metric.latency is not None:
        p95 = next((q.comparison for q in metric.latency.quantiles if q.comparison.percentile == 95.0), None)
        if p95 is None:
            return "-", "-", "-"
        return f"x{p95.ratio:.3f}", _interval_text(*p95.ratio_ci), f"KS {metric.latency.shape.test.p_value:.2g}"
    if metric.errors is not None:
        e = metric.errors
        return f"{e.diff_pp:+.3g} pp", _interval_text(*e.diff_ci_pp, digits=2), f"{e.method} {e.p_value:.2g}"
    if metric.resource is not None:
        r = metric.resource
        if r.statistic == "peak":
            return f"x{r.ratio:.3f}" if r.ratio is not None else "-", "(no test)", "-"
        return f"{r.diff:+.3g}", "-", f"Welch {r.p_value:.2g}" if r.p_value is not None else "-"
    return "-", "-", "-"


def _value(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "%":
        return f"{value:.3g} %"
    return f"{value:.4g} {unit}"


def scorecard_frame(comparison: Comparison) -> pd.DataFrame:
    """One row per metric: verdict, the headline numbers (latency: p95), the effect with its 95 %
    interval, the deciding p-value, the sample counts and the reason."""
    rows = []
    for metric in comparison.metrics:
        effect, interval, p_value = _evidence(metric)
        rows.append(
            {
                "metric": metric.id,
                "critical": "yes" if metric.critical else "",
                "verdict": metric.verdict,
                f"A {comparison.a.label}": _value(metric.a, metric.unit),
                f"B {comparison.b.label}": _value(metric.b, metric.unit),
                "B vs A": effect,
                "95 % CI": interval,
                "p": p_value,
                "n A": metric.n_a,
                "n B": metric.n_b,
                "why": metric.reason,
            }
        )
    return pd.DataFrame(rows)


def ladder_frame(comparison: Comparison, metric_id: str) -> pd.DataFrame:
    """A latency metric's percentile ladder: each side with its 95 % interval, B/A with its
    interval, and what the percentile decided."""
    metric = comparison.metric(metric_id)
    if metric.latency is None:
        return pd.DataFrame()
    rows = []
    for judgement in metric.latency.quantiles:
        q = judgement.comparison
        rows.append(
            {
                "percentile": f"p{q.percentile:g}",
                "A ms": round(q.a_ms, 3),
                "A 95 % CI": _interval_text(*q.a_ci, digits=2),
                "B ms": round(q.b_ms, 3),
                "B 95 % CI": _interval_text(*q.b_ci, digits=2),
                "B/A": round(q.ratio, 4),
                "B/A 95 % CI": _interval_text(*q.ratio_ci),
                "decision CI": _interval_text(*q.decision_ci),
                "threshold": f"x{judgement.threshold:g}" if judgement.threshold else "",
                "decision": judgement.decision,
            }
        )
    return pd.DataFrame(rows)


def errors_frame(comparison: Comparison) -> pd.DataFrame:
    """Samples per outcome, per metric name and side (A, B), with the failure rate of each side."""
    outcomes = comparison.outcomes
    if outcomes is None or outcomes.empty:
        return pd.DataFrame()
    table = outcomes.pivot_table(index="name", columns=["side", "outcome"], values="count", aggfunc="sum").fillna(0)
    table = table.astype(np.int64)
    result = pd.DataFrame(index=table.index)
    for side in ("A", "B"):
        if side not in table.columns.get_level_values(0):
            continue
        part = table[side]
        for outcome in part.columns:
            result[f"{side} {outcome}"] = part[outcome]
        failed = part[[c for c in part.columns if c not in ("ok", "refused")]].sum(axis=1)
        judged = failed + (part["ok"] if "ok" in part.columns else 0)
        result[f"{side} failed %"] = (100 * failed / judged.where(judged > 0)).round(3)
    ordered = sorted(result.columns, key=lambda c: (c[0], c.endswith("%"), c))
    return result[ordered].reset_index()
