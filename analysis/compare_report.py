"""Renderings of a ``Comparison``: the plain-language conclusion, tables (pandas), matplotlib
figures (CDF overlays, percentile ladders, resources side by side, failures), Markdown and one
self-contained HTML page; ``write_comparison`` is the edge that writes the files.

Everything but ``write_comparison`` returns values; the CLI and the notebook decide what to show.
matplotlib is imported lazily, through ``Figure`` and the Agg canvas only (as ``analysis.plots``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.compare import (
    COMPARISON_HTML,
    COMPARISON_JSON,
    COMPARISON_MD,
    Comparison,
    MetricComparison,
    to_json,
)
from analysis.escape import html_text as escape
from analysis.escape import md_cell, md_text, mpl_text
from analysis.plots import TARGET_COLORS, Plot, figure_png, thin_cdf
from loadtests.recorder.rundir import RunDirectory, strict_json

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_CDF_PANELS = 12
_FALLBACK = {"a": "#5f6b7a", "b": "#d9731a"}
_DECISION_WORDS = {"promote": "PROMOTE", "hold": "HOLD", "rollback": "ROLL BACK"}


# -- words --------------------------------------------------------------------------------------
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
        critical = [text(m.id) for m in inconclusive if m.critical]
        lines.append(
            f"- Not enough data to judge {len(inconclusive)} metric(s): {', '.join(text(m.id) for m in inconclusive)}"
            + (
                f" (critical: {', '.join(critical)}: a longer run or more users would settle them)."
                if critical
                else "."
            )
        )
    if card.inconclusive_share > comparison.thresholds.max_inconclusive_share:
        lines.append(f"- Too much is undecided ({card.inconclusive_share:.0%} of the metrics) to promote.")
    same = sum(1 for m in metrics if m.verdict == "same")
    if same:
        # `same` means no difference was shown, not that none exists: a short run may not have the power.
        lines.append(
            f"- No difference shown past the practical thresholds: {same} metric(s) (`same`; each one's "
            "interval says how large a change this run could have missed)."
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


# -- tables ---------------------------------------------------------------------------------------
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


# -- figures --------------------------------------------------------------------------------------
def side_colors(comparison: Comparison) -> tuple[str, str]:
    a, b = comparison.a.color, comparison.b.color
    if a != b and a in TARGET_COLORS and b in TARGET_COLORS:
        return TARGET_COLORS[a], TARGET_COLORS[b]
    return _FALLBACK["a"], TARGET_COLORS.get(b, _FALLBACK["b"])


def _figure(rows: int, cols: int, *, height: float = 3.0, width: float = 12.0) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, max(height * rows, 3.0)), dpi=100, layout="constrained")
    return figure, figure.subplots(rows, cols, squeeze=False)


def _log_x(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _latency_ids(comparison: Comparison) -> list[str]:
    ids = [m.id for m in comparison.metrics if m.aspect == "latency" and m.id in comparison.buckets]
    critical = [i for i in ids if comparison.metric(i).critical]
    return (critical + [i for i in ids if i not in critical])[:MAX_CDF_PANELS]


def _draw_cdf(ax: Axes, comparison: Comparison, metric_id: str) -> None:
    a, b = comparison.buckets[metric_id]
    color_a, color_b = side_colors(comparison)
    metric = comparison.metric(metric_id)
    for buckets, color, label in ((a, color_a, comparison.a.label), (b, color_b, comparison.b.label)):
        if buckets.n:
            values, shares = thin_cdf(buckets.values_ms, np.cumsum(buckets.counts) / buckets.n)
            ax.step(values, shares, where="post", color=color, lw=1.6, label=mpl_text(f"{label} (n={buckets.n:,})"))
    if not (a.n or b.n):
        ax.text(0.5, 0.5, "no ok samples", ha="center", va="center", transform=ax.transAxes)
        return
    _log_x(ax)
    ax.axhline(0.95, color="#999999", ls=":", lw=1)
    if metric.latency is not None and metric.latency.shape.test.p_value < comparison.family.decision_alpha:
        ax.axvline(metric.latency.shape.test.at_ms, color="#c0392b", ls="--", lw=0.8)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(mpl_text(f"{metric.name}: {metric.verdict}{' (critical)' if metric.critical else ''}"), fontsize=10)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("share ≤ x")
    ax.legend(fontsize=7, loc="lower right")


def cdf_overlay_figure(comparison: Comparison, metric_id: str) -> Figure:
    """One metric's CDFs of A and B (ok samples; dotted: 95 %; dashed red: the KS gap when significant)."""
    figure, axes = _figure(1, 1, height=3.6, width=7.0)
    _draw_cdf(axes[0][0], comparison, metric_id)
    return figure


def cdf_overlays_figure(comparison: Comparison, metric_ids: Sequence[str] | None = None) -> Figure | None:
    ids = list(metric_ids) if metric_ids is not None else _latency_ids(comparison)
    if not ids:
        return None
    cols = min(3, len(ids))
    rows = math.ceil(len(ids) / cols)
    figure, axes = _figure(rows, cols, height=3.0)
    for panel, metric_id in enumerate(ids):
        _draw_cdf(axes[panel // cols][panel % cols], comparison, metric_id)
    for panel in range(len(ids), rows * cols):
        axes[panel // cols][panel % cols].set_visible(False)
    figure.suptitle(
        f"Latency CDFs, {comparison.a.label} (A) vs {comparison.b.label} (B); dotted: 95 %, dashed red: widest "
        "significant CDF gap"
    )
    return figure


def ladder_figure(comparison: Comparison, metric_ids: Sequence[str] | None = None) -> Figure | None:
    """Percentile ladders (p50 … p99.9) of each side with 95 % bootstrap intervals."""
    ids = [i for i in (metric_ids or _latency_ids(comparison)) if comparison.metric(i).latency is not None]
    if not ids:
        return None
    cols = min(3, len(ids))
    rows = math.ceil(len(ids) / cols)
    figure, axes = _figure(rows, cols, height=3.0)
    color_a, color_b = side_colors(comparison)
    for panel, metric_id in enumerate(ids):
        ax = axes[panel // cols][panel % cols]
        metric = comparison.metric(metric_id)
        assert metric.latency is not None
        quantiles = [j.comparison for j in metric.latency.quantiles]
        x = np.arange(len(quantiles))
        for offset, color, label, values, intervals in (
            (-0.12, color_a, comparison.a.label, [q.a_ms for q in quantiles], [q.a_ci for q in quantiles]),
            (0.12, color_b, comparison.b.label, [q.b_ms for q in quantiles], [q.b_ci for q in quantiles]),
        ):
            values_array = np.asarray(values)
            low = np.maximum(values_array - np.asarray([i[0] for i in intervals]), 0)
            high = np.maximum(np.asarray([i[1] for i in intervals]) - values_array, 0)
            ax.errorbar(x + offset, values_array, yerr=[low, high], fmt="o", color=color, ms=4, capsize=3,
                        label=mpl_text(label))  # fmt: skip
        for position, judgement in enumerate(metric.latency.quantiles):
            if judgement.decision in ("worse", "better"):
                ax.annotate(judgement.decision, (position, judgement.comparison.b_ms), textcoords="offset points",
                            xytext=(0, 8), ha="center", fontsize=7,
                            color="#b3261e" if judgement.decision == "worse" else "#1b7a31")  # fmt: skip
        ax.set_xticks(x, [f"p{q.percentile:g}" for q in quantiles])
        ax.set_yscale("log")
        ax.set_ylabel("latency (ms, log)")
        ax.set_title(mpl_text(f"{metric.name}: {metric.verdict}"), fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
    for panel in range(len(ids), rows * cols):
        axes[panel // cols][panel % cols].set_visible(False)
    figure.suptitle("Percentile ladders with 95 % bootstrap intervals (ok samples)")
    return figure


def resources_figure(comparison: Comparison) -> Figure | None:
    """Server memory (left) and CPU (right) over time since each side's first sample, side by side."""
    if comparison.resources is None or all(frame.empty for frame in comparison.resources):
        return None
    figure, axes = _figure(1, 2, height=3.4)
    color_a, color_b = side_colors(comparison)
    for ax, column, label in ((axes[0][0], "rss_mb", "RSS (MB)"), (axes[0][1], "cpu_pct", "CPU (% of one core)")):
        for frame, color, side in (
            (comparison.resources[0], color_a, comparison.a.label),
            (comparison.resources[1], color_b, comparison.b.label),
        ):
            data = frame.dropna(subset=[column])
            if data.empty:
                continue
            ax.plot(data["time"] - data["time"].min(), data[column], color=color, lw=1.6, label=mpl_text(side))
        ax.set_xlabel("time since the side's first sample (s)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        verdicts = [m for m in comparison.metrics if m.resource is not None and m.resource.column == column]
        ax.set_title(mpl_text(", ".join(f"{m.name}: {m.verdict}" for m in verdicts) or label), fontsize=10)
    figure.suptitle("Server resources (role target), side by side")
    return figure


def errors_figure(comparison: Comparison) -> Figure | None:
    """Failure rate per metric name, A and B side by side (names with judged samples on both)."""
    metrics = [m for m in comparison.metrics if m.aspect == "errors" and m.errors is not None]
    if not metrics:
        return None
    figure, axes = _figure(1, 1, height=max(2.5, 0.32 * len(metrics) + 1.2), width=10.0)
    ax = axes[0][0]
    color_a, color_b = side_colors(comparison)
    y = np.arange(len(metrics))
    rates_a = [m.errors.rate_a_pct for m in metrics if m.errors]
    rates_b = [m.errors.rate_b_pct for m in metrics if m.errors]
    ax.barh(y - 0.2, rates_a, height=0.4, color=color_a, label=mpl_text(comparison.a.label))
    ax.barh(y + 0.2, rates_b, height=0.4, color=color_b, label=mpl_text(comparison.b.label))
    if not any(rates_a) and not any(rates_b):
        ax.set_xlim(0, 1)
        ax.text(0.5, 0.5, "no failed samples on either side", ha="center", va="center", transform=ax.transAxes)
    ax.set_yticks(y, [mpl_text(f"{m.name} ({m.verdict})") for m in metrics], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("failed samples (% of ok + failed; refused counts as neither)")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8)
    figure.suptitle("Failure rates per metric")
    return figure


FIGURES = (
    ("cdf_overlays", "Latency distributions, A vs B",
     "Each metric's CDF of ok latencies; a curve further right is slower.", cdf_overlays_figure),
    ("ladders", "Percentile ladders",
     "p50 to p99.9 of each side with 95 % bootstrap intervals; overlapping intervals mean no clear difference.",
     ladder_figure),
    ("resources", "Server memory and CPU", "The servers' RSS and CPU over time, side by side.", resources_figure),
    ("errors", "Failure rates", "Failed samples per metric on each side.", errors_figure),
)  # fmt: skip


def render_figures(comparison: Comparison) -> list[Plot]:
    plots = []
    for name, title, caption, build in FIGURES:
        figure = build(comparison)  # type: ignore[operator]
        if figure is not None:
            plots.append(Plot(name, title, caption, figure_png(figure)))
    return plots


# -- Markdown and HTML ------------------------------------------------------------------------------
def headline(comparison: Comparison, text: Escape = _plain) -> str:
    card = comparison.scorecard
    return (
        f"{_DECISION_WORDS[card.decision]} (exit {card.exit_code}): {text(comparison.b.label)} vs "
        f"{text(comparison.a.label)} — {'; '.join(map(text, card.reasons))}"
    )


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(map(md_cell, columns)) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(md_cell(cell) for cell in row) + " |")
    return lines


def markdown(comparison: Comparison) -> str:
    """``comparison.md`` (and the step summary): every text from the runs escaped with ``md_text``/``md_cell``."""
    family = comparison.family
    lines = [f"## loadbench compare: {headline(comparison, md_text)}", ""]
    a, b = md_text(comparison.a.label), md_text(comparison.b.label)
    lines += [f"{b} (B) against {a} (A), {comparison.design} design."]
    lines += ["", conclusion_markdown(comparison), ""]
    lines += _markdown_table(scorecard_frame(comparison).drop(columns=["why"]))
    lines += [
        "",
        f"Decision level: alpha = {family.alpha:g} shared by {family.tests} tests ({family.correction}): each at "
        f"{family.decision_alpha:.3g}; {family.draws} bootstrap replicates. Latency percentiles are exact (HDR) over "
        "ok samples; intervals are 95 % percentile bootstraps.",
    ]
    for warning in comparison.warnings:
        lines.append(f"> {md_text(warning)}")
    if comparison.not_compared:
        lines += [
            "",
            "Too sparse to compare: "
            + ", ".join(f"{md_text(s.name)} ({s.n_a}/{s.n_b})" for s in comparison.not_compared),
        ]
    for side, names in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if names:
            lines.append(f"Only in {side}: " + ", ".join(f"{md_text(name)} ({count})" for name, count in names.items()))
    return "\n".join(lines) + "\n"


_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1250px;
       color: #1d1d1d; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: 13px; } th, td { padding: .25em .6em;
       border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; } th { background: #f5f5f5; }
.worse { color: #b3261e; font-weight: 700; } .better { color: #1b7a31; font-weight: 600; }
.inconclusive { color: #8a6d00; } .banner { padding: .7em 1em; border-radius: 6px; font-size: 1.1em;
       font-weight: 600; margin: .8em 0; } .banner.promote { background: #e6f4ea; }
.banner.hold { background: #fff4d6; }
.banner.rollback { background: #fce8e6; } .note { color: #555; } pre { white-space: pre-wrap; background: #fafafa;
       padding: .8em; border: 1px solid #eee; } figure { margin: 1.2em 0; } figure img { max-width: 100%; }
"""


def html(comparison: Comparison, plots: Sequence[Plot]) -> str:
    frame = scorecard_frame(comparison)
    header = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.to_dict(orient="records"):
        cells = []
        for column, value in row.items():
            css = f' class="{value}"' if column == "verdict" else ""
            cells.append(f"<td{css}>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    figures = "".join(
        f'<figure><h3>{escape(plot.title)}</h3><img alt="{escape(plot.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(plot.png).decode("ascii")}">'
        f'<figcaption class="note">{escape(plot.caption)}</figcaption></figure>'
        for plot in plots
    )
    card = comparison.scorecard
    family = comparison.family
    warnings = "".join(f'<li class="note">{escape(w)}</li>' for w in comparison.warnings)
    sides = "".join(
        f"<tr><td>{side}</td><td>{escape(info.label)}</td><td>{escape(info.run_dir)}</td><td>{escape(info.profile)}</td>"
        f"<td>{escape(info.status)}</td><td>{escape(info.started_at)}</td></tr>"
        for side, info in (("A (baseline)", comparison.a), ("B (candidate)", comparison.b))
    )
    title = f"loadbench compare: {comparison.b.label} vs {comparison.a.label}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<div class="banner {card.decision}">{escape(headline(comparison))}</div>
<pre>{escape(conclusion(comparison))}</pre>
{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Scorecard</h2>
<table><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>
<p class="note">Decision level: alpha = {family.alpha:g} shared by {family.tests} tests
({escape(family.correction)}), each at
{family.decision_alpha:.3g}; {family.draws} bootstrap replicates per side. Latency: exact HDR percentiles of ok samples;
"B vs A" is the p95 ratio with its 95 % bootstrap interval; p is the Kolmogorov-Smirnov test's. Every number is in
comparison.json.</p>
<h2>Figures</h2>
{figures}
<h2>Runs</h2>
<table><thead><tr><th>side</th><th>label</th><th>run directory</th><th>profile</th><th>status</th><th>started</th></tr>
</thead><tbody>{sides}</tbody></table>
</body></html>
"""


def write_comparison(comparison: Comparison, out: Path, *, figures: bool = True) -> list[Path]:
    """``comparison.json``, ``comparison.md`` and ``comparison.html`` (figures embedded) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    directory = RunDirectory(out)  # the one writer: atomic, through no symbolic link in ``out``
    return [
        directory.write_text(name, text)
        for name, text in (
            (COMPARISON_JSON, strict_json(to_json(comparison)) + "\n"),
            (COMPARISON_MD, markdown(comparison)),
            (COMPARISON_HTML, html(comparison, render_figures(comparison) if figures else [])),
        )
    ]
