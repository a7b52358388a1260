"""The comparison as matplotlib figures: CDF overlays, percentile ladders, server resources side by
side, failure rates; ``render_figures`` gives them as PNGs (``Plot``) for the HTML page.

matplotlib is imported lazily, through ``Figure`` and the Agg canvas only (as ``analysis.plots``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.compare_model import Comparison
from analysis.escape import mpl_text
from analysis.plots import TARGET_COLORS, Plot, figure_png, thin_cdf

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURES",
    "MAX_CDF_PANELS",
    "cdf_overlay_figure",
    "cdf_overlays_figure",
    "errors_figure",
    "ladder_figure",
    "render_figures",
    "resources_figure",
    "side_colors",
]

MAX_CDF_PANELS = 12
_FALLBACK = {"a": "#5f6b7a", "b": "#d9731a"}


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
