"""The comparison in words: the plain-language conclusion (the decision, why, what changed, what
limits it), one sentence per metric, and the one-line headline.

Each function takes ``text``, the escaping for the format the words go into (``analysis.escape``):
``md_text`` for Markdown, plain text for a terminal or an HTML page (which escapes the whole).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from analysis.compare_model import Comparison, MetricComparison
from analysis.escape import md_text

__all__ = ["Escape", "conclusion", "conclusion_markdown", "headline", "metric_markdown"]

_DECISION_WORDS = {"promote": "PROMOTE", "hold": "HOLD", "rollback": "ROLL BACK"}


def _pct(ratio: float) -> str:
    return f"{100 * (ratio - 1):+.0f} %" if math.isfinite(ratio) else "?"


def _ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.3g} ms"


Escape = Callable[[object], str]


def _plain(text: object) -> str:
    return str(text)


def _sentence(metric: MetricComparison, a: str, b: str, text: Escape = _plain) -> str:
    """One plain sentence about a metric that is better or worse (``a``, ``b`` already through ``text``)."""
    slower = metric.verdict == "worse"
    name = text(metric.name)
    if metric.aspect == "latency" and metric.latency is not None:
        fired = [q for q in metric.latency.quantiles if q.decision == metric.verdict]
        if fired:
            q = max(fired, key=lambda item: abs(math.log(item.comparison.ratio)))
            c = q.comparison
            low, high = c.ratio_ci
            return (
                f"{b} is {'slower' if slower else 'faster'} than {a} on {name}: p{c.percentile:g} "
                f"{_ms(c.b_ms)} against {_ms(c.a_ms)} ({_pct(c.ratio)}; 95 % CI {_pct(low)} to {_pct(high)})."
            )
        shape = metric.latency.shape
        return (
            f"{b}'s latency distribution on {name} changed shape ({'slower' if slower else 'faster'} "
            f"where it differs most): at p{shape.percentile:.3g} {_ms(shape.b_ms)} against {_ms(shape.a_ms)} "
            f"({_pct(shape.ratio)}), while the headline percentiles moved less."
        )
    if metric.aspect == "errors" and metric.errors is not None:
        e = metric.errors
        what = "every request" if metric.name == "overall" else name
        return (
            f"{b} {'fails more' if slower else 'fails less'} often than {a} on {what}: {e.rate_b_pct:.2f} % "
            f"against {e.rate_a_pct:.2f} % ({e.failures_b} of {e.judged_b} vs {e.failures_a} of {e.judged_a})."
        )
    if metric.resource is not None:
        r = metric.resource
        noun = "memory (RSS)" if metric.aspect == "memory" else "CPU"
        if r.statistic == "peak":
            return f"{b}'s server {noun} peaked at {r.b:.0f} {metric.unit} against {a}'s {r.a:.0f} {metric.unit}."
        return f"{b}'s server {noun} grows {r.b:+.2f} {metric.unit} against {a}'s {r.a:+.2f} {metric.unit}."
    return f"{text(metric.id)}: {text(metric.reason)}"


def _plain_name(metric: MetricComparison, text: Escape = _plain) -> str:
    if metric.aspect == "latency":
        return f"{text(metric.name)} latency" if metric.name != "http" else "HTTP latency (all endpoints)"
    if metric.aspect == "errors":
        return f"{text(metric.name)} error rate" if metric.name != "overall" else "the overall error rate"
    return f"server {'memory' if metric.aspect == 'memory' else 'CPU'} {text(metric.name)}"


def conclusion(comparison: Comparison, text: Escape = _plain) -> str:
    """A plain-language conclusion: the decision, why, what changed, and what limits it.

    ``text`` escapes what came from the runs (labels, metric names, warnings) for the format the
    conclusion goes into: ``md_text`` for Markdown (``conclusion_markdown``); plain text for a
    terminal or an HTML page (which escapes the whole)."""
    a, b = text(comparison.a.label), text(comparison.b.label)
    card = comparison.scorecard
    metrics = comparison.metrics
    judged = [m for m in metrics if m.verdict != "inconclusive"]
    worse = [m for m in metrics if m.verdict == "worse"]
    better = [m for m in metrics if m.verdict == "better"]
    lines: list[str] = []
    if card.decision == "rollback":
        names = ", ".join(_plain_name(m, text) for m in worse if m.critical)
        lines.append(f"Roll back: {b} is worse than {a} on critical metrics ({names}).")
    elif card.decision == "hold":
        lines.append(f"Hold: {b} is not clearly worse than {a} on a critical metric, but it cannot be promoted yet.")
    else:
        lines.append(
            f"Promote: {b} is not worse than {a} on any of the {len(judged)} metrics judged"
            + (f", and better on {len(better)}." if better else ".")
        )
    for metric in worse:
        lines.append(f"- Worse{' (critical)' if metric.critical else ''}: {_sentence(metric, a, b, text)}")
    for metric in better:
        lines.append(f"- Better: {_sentence(metric, a, b, text)}")
    inconclusive = [m for m in metrics if m.verdict == "inconclusive"]
    if inconclusive:
        critical = [m for m in inconclusive if m.critical]
        lines.append(
            f"- Neither a difference nor equivalence shown on {len(inconclusive)} metric(s): "
            f"{', '.join(text(m.id) for m in inconclusive)}" + ("." if not critical else "; critical:")
        )
        for metric in critical:
            needed = metric.equivalence.needed_per_side if metric.equivalence is not None else None
            more = f"about {needed:,} samples a side would show it" if needed else "a longer run would tell"
            lines.append(f"  - {text(metric.id)} ({metric.n_a:,} vs {metric.n_b:,} samples): {more}.")
    if card.inconclusive_share > comparison.thresholds.max_inconclusive_share:
        lines.append(f"- Too much is undecided ({card.inconclusive_share:.0%} of the metrics) to promote.")
    same = sum(1 for m in metrics if m.verdict == "same")
    if same:
        # `same` is shown equivalence (compare_equivalence): the interval lies inside the margin.
        lines.append(
            f"- Shown equivalent within the practical margins: {same} metric(s) (`same`: p95 within ±5 % or "
            "±2 ms, error rates within ±0.1 pp, slopes within their thresholds, by default)."
        )
    if comparison.design == "paired":
        lines.append(f"- Design: {a} and {b} ran in the same time window (paired), so machine noise hit both alike.")
    else:
        lines.append(
            f"- Design: {a} and {b} come from two runs made at different times; a difference can be the machine's, "
            "not the code's. Confirm with a paired run (loadbench run --target both)."
        )
    forced = [w.removeprefix("forced past: ") for w in comparison.warnings if w.startswith("forced past: ")]
    if comparison.forced and forced:
        lines.append(
            f"- Compared with --force although: {'; '.join(map(text, forced))}. Treat the verdicts with suspicion."
        )
    return "\n".join(lines)


def conclusion_markdown(comparison: Comparison) -> str:
    """The conclusion as Markdown (the notebook's ``display(Markdown(...))``): run text escaped."""
    return conclusion(comparison, md_text)


def metric_markdown(metric: MetricComparison) -> str:
    """One line of Markdown about a metric: its id, verdict and reason (run text escaped)."""
    return f"**{md_text(metric.id)}**: {metric.verdict} — {md_text(metric.reason)}"


def headline(comparison: Comparison, text: Escape = _plain) -> str:
    card = comparison.scorecard
    return (
        f"{_DECISION_WORDS[card.decision]} (exit {card.exit_code}): {text(comparison.b.label)} vs "
        f"{text(comparison.a.label)} — {'; '.join(map(text, card.reasons))}"
    )
