"""Plots of a run, as matplotlib ``Figure``s (and PNG bytes for the report).

Written for a reader who did not run the test: every plot has a title that says what is shown,
axis labels with units, a legend, and the same color per target everywhere (blue is blue, green
is green). The ramp-up is shaded; SLO thresholds are drawn where they apply. Latencies are exact
(merged HDR histograms, ``ok`` samples only).

matplotlib is imported inside the functions, never at import time (``loadbench --help`` stays
fast), and only through ``Figure`` + the Agg canvas: no pyplot, no global state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.escape import mpl_text
from analysis.load import RunData
from analysis.report import KEY_METRICS
from analysis.slo import Verdict
from analysis.stats import OK, latency_cdfs, latency_over_time, rates, resource_series, select

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TARGET_COLORS = {"blue": "#1f62c7", "green": "#23963a"}
OTHER_COLORS = ("#d9731a", "#8e44ad", "#c0392b", "#16a2b8", "#7f6000")
GENERATOR_COLOR = "#7a7a7a"
THRESHOLD_COLOR = "#c0392b"
RAMP_COLOR = "#d8d8d8"
NICE_BINS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_POINTS = 200  # time bins per series: enough to see shape, few enough to read
MAX_PANELS = 9


@dataclass(frozen=True)
class Plot:
    name: str  # file stem in plots/
    title: str
    caption: str  # what to look for, one or two sentences
    png: bytes


def target_color(target: str, targets: list[str]) -> str:
    if target in TARGET_COLORS:
        return TARGET_COLORS[target]
    others = [t for t in targets if t not in TARGET_COLORS]
    return OTHER_COLORS[others.index(target) % len(OTHER_COLORS)] if target in others else OTHER_COLORS[0]


@dataclass(frozen=True)
class _TimeAxis:
    origin: float  # epoch seconds at x = 0
    scale: float  # seconds per x unit
    label: str
    bin_s: float
    ramp_end: float | None  # x of the end of the ramp-up

    def x(self, seconds_from_origin: Any) -> Any:
        return np.asarray(seconds_from_origin, dtype=float) / self.scale


def _time_axis(run: RunData) -> _TimeAxis:
    origin = run.started_at or (float(run.samples["t0"].min()) if len(run.samples) else 0.0)
    end = run.ended_at or origin
    duration = max(end - origin, 1.0)
    scale, label = (60.0, "time since start (min)") if duration > 1800 else (1.0, "time since start (s)")
    interval = max(run.manifest.interval_s, 1e-3)
    wanted = max(duration / MAX_POINTS, interval)
    bin_s = next((b for b in NICE_BINS_S if b >= wanted), NICE_BINS_S[-1])
    bin_s = max(bin_s, interval)
    steady = run.steady_state_from
    ramp_end = None if steady is None else (steady - origin) / scale
    return _TimeAxis(origin, scale, label, float(bin_s), ramp_end)


def _shade_ramp(ax: Axes, axis: _TimeAxis) -> None:
    if axis.ramp_end is not None and axis.ramp_end > 0:
        ax.axvspan(0, axis.ramp_end, color=RAMP_COLOR, alpha=0.5, lw=0, label="ramp-up")


# Fixed margins and gaps (inches), not a layout engine: constrained layout measures every text in
# a first draw and then draws again, half of a report's time (a `ci` run's plots: 5.1 s, 2.2 s
# without). These figures have a known shape (a title, panels, a legend below), so their room is known.
_LEFT, _RIGHT, _TOP, _BOTTOM, _ROW_GAP, _COL_GAP = 0.85, 0.3, 0.6, 0.95, 0.95, 0.85


def _figure(rows: int = 1, cols: int = 1, *, height: float = 3.2, width: float = 12.0) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    tall = max(height * rows, 3.0)
    figure = Figure(figsize=(width, tall), dpi=100)
    panel_height = (tall - _TOP - _BOTTOM - _ROW_GAP * (rows - 1)) / rows
    panel_width = (width - _LEFT - _RIGHT - _COL_GAP * (cols - 1)) / cols
    figure.subplots_adjust(left=_LEFT / width, right=1 - _RIGHT / width, top=1 - _TOP / tall, bottom=_BOTTOM / tall,
                           hspace=_ROW_GAP / panel_height, wspace=_COL_GAP / panel_width)  # fmt: skip
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def _no_data(ax: Axes, message: str) -> None:
    for patch in list(ax.patches):  # a ramp-up shade alone would fill the empty panel
        patch.remove()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _key_metrics(run: RunData) -> list[str]:
    """The metrics with ok latencies worth a panel: the key ones first, then the busiest."""
    ok = run.samples[(run.samples["outcome"] == OK) & (run.samples["hist_id"] >= 0)]
    counts = ok.groupby("name", observed=True)["count"].sum().sort_values(ascending=False)
    present = [str(name) for name in counts.index if counts[name] > 0]
    ordered = [m for m in KEY_METRICS if m in present] + [m for m in present if m not in KEY_METRICS]
    return ordered[:MAX_PANELS]


# Where to keep CDF points: even steps through the body, finer and finer into the tail.
_CDF_GRID = np.concatenate([np.linspace(0, 0.99, 400), 1 - np.logspace(-2, -7, 200)])


def thin_cdf(values: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A few hundred points of a CDF that may have thousands of buckets (the drawing looks the same)."""
    if len(values) <= len(_CDF_GRID):
        return values, shares
    keep = np.unique(np.concatenate([np.searchsorted(shares, _CDF_GRID), [len(shares) - 1]]))
    keep = keep[keep < len(shares)]
    return values[keep], shares[keep]


def _kind_of(run: RunData, metric: str) -> str:
    kinds = run.samples.loc[run.samples["name"] == metric, "kind"]
    return str(kinds.iloc[0]) if len(kinds) else "any"


def _thresholds(verdict: Verdict | None, run: RunData, metric: str, statistic: str) -> list[float]:
    """Thresholds of the checks that judge ``metric`` by ``statistic`` (its kind must match too)."""
    from fnmatch import fnmatchcase

    if verdict is None:
        return []
    kind = _kind_of(run, metric)
    return sorted(
        {
            check.threshold
            for check in verdict.checks
            if check.statistic == statistic
            and check.selector.get("source") == "samples"
            and check.selector.get("kind", "any") in ("any", kind)
            and fnmatchcase(metric, check.metric)
        }
    )


def _log_x(ax: Axes) -> None:
    """A log latency axis labelled 1, 2, 5, 10, 20 … ms (matplotlib's default 2e2-style labels overlap)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _threshold_y(ax: Axes, threshold: float, top: float, label: str) -> None:
    """An SLO line; one far above the data would flatten it, so it is named at the top instead."""
    if threshold <= 2 * max(top, 1e-9):
        ax.axhline(threshold, color=THRESHOLD_COLOR, ls="-.", lw=1)
        ax.annotate(label, (0.01, threshold), xycoords=("axes fraction", "data"), color=THRESHOLD_COLOR,
                    fontsize=8, va="bottom")  # fmt: skip
    else:
        ax.annotate(f"{label} (off scale)", (0.01, 0.97), xycoords="axes fraction", color=THRESHOLD_COLOR,
                    fontsize=8, va="top")  # fmt: skip


def _marker(points: int) -> dict[str, Any]:
    """Dots on short series, so that a single bin still shows."""
    return {"marker": "o", "ms": 3} if points < 40 else {}


def _grid(count: int) -> tuple[int, int]:
    cols = min(3, max(count, 1))
    return math.ceil(max(count, 1) / cols), cols


def _target_legend(figure: Figure, targets: list[str], extra: list[tuple[str, dict[str, Any]]]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=target_color(t, targets), lw=2.5, label=mpl_text(t)) for t in targets]
    handles += [Line2D([], [], color="#333333", label=mpl_text(label), **style) for label, style in extra]
    figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=len(handles), frameon=False,
                  fontsize=9)  # fmt: skip


_PERCENTILE_STYLES = {50: {"ls": ":", "lw": 1.2}, 95: {"ls": "-", "lw": 1.8}, 99: {"ls": "--", "lw": 1.2}}


def latency_over_time_figure(run: RunData, verdict: Verdict | None = None) -> Figure | None:
    metrics = _key_metrics(run)
    if not metrics:
        return None
    axis = _time_axis(run)
    rows = run.samples[run.samples["name"].isin(metrics)]
    series = latency_over_time(rows, run.histograms, origin=axis.origin, bin_s=axis.bin_s, by=("target", "name"))
    grid_rows, grid_cols = _grid(len(metrics))
    figure, axes = _figure(grid_rows, grid_cols, height=2.9)
    targets = run.targets
    for panel, metric in enumerate(metrics):
        ax = axes[panel // grid_cols][panel % grid_cols]
        _shade_ramp(ax, axis)
        top = 0.0
        for target in targets:
            data = series[(series["name"] == metric) & (series["target"] == target)]
            for p, style in _PERCENTILE_STYLES.items():
                values = data[f"p{p}_ms"].astype(float)
                ax.plot(
                    axis.x(data["time_s"]), values, color=target_color(target, targets), **style, **_marker(len(data))
                )
                top = max(top, float(np.nanmax(values)) if len(values) else 0.0)
        for threshold in _thresholds(verdict, run, metric, "p95"):
            _threshold_y(ax, threshold, top, f"p95 SLO {threshold:g} ms")
        ax.set_title(mpl_text(metric), fontsize=10)
        ax.set_ylabel("latency (ms)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for panel in range(len(metrics), grid_rows * grid_cols):
        axes[panel // grid_cols][panel % grid_cols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(axis.label)
    figure.suptitle(f"Latency percentiles over time (exact, ok samples, {axis.bin_s:g} s bins; grey: ramp-up)")
    _target_legend(figure, targets, [(f"p{p}", style) for p, style in _PERCENTILE_STYLES.items()])
    return figure


def latency_cdf_figure(run: RunData, verdict: Verdict | None = None) -> Figure | None:
    metrics = _key_metrics(run)
    if not metrics:
        return None
    chosen = run.samples[run.samples["name"].isin(metrics)]
    steady = latency_cdfs(select(chosen, window=run.window("steady")), run.histograms, by=("target", "name"))
    whole = latency_cdfs(chosen, run.histograms, by=("target", "name"))
    grid_rows, grid_cols = _grid(len(metrics))
    figure, axes = _figure(grid_rows, grid_cols, height=2.9)
    targets = run.targets
    for panel, metric in enumerate(metrics):
        ax = axes[panel // grid_cols][panel % grid_cols]
        # Metrics measured only during the ramp-up (logins, connects) are shown over the whole run.
        in_steady = any((target, metric) in steady for target in targets)
        cdfs = steady if in_steady else whole
        drawn = False
        for target in targets:
            if (target, metric) in cdfs:
                values, shares = thin_cdf(*cdfs[(target, metric)])
                ax.step(values, shares, where="post", color=target_color(target, targets), lw=1.6)
                drawn = True
        title = metric if in_steady else f"{metric} (whole run: none in steady state)"
        ax.set_title(mpl_text(title), fontsize=10)
        if not drawn:
            _no_data(ax, "no ok samples")
        else:
            _log_x(ax)
            ax.axhline(0.95, color="#999999", ls=":", lw=1)
            for threshold in _thresholds(verdict, run, metric, "p95"):
                ax.axvline(threshold, color=THRESHOLD_COLOR, ls="-.", lw=1)
            ax.set_ylim(0, 1.01)
            ax.grid(alpha=0.3, which="both")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("share of samples ≤ x")
    for panel in range(len(metrics), grid_rows * grid_cols):
        axes[panel // grid_cols][panel % grid_cols].set_visible(False)
    figure.suptitle("Latency distribution (CDF, steady state, ok samples; dotted: 95 %, red: p95 SLO)")
    _target_legend(figure, targets, [])
    return figure


_OUTCOME_STYLES = {"error": "-", "soft_failure": "--", "rate_limited": "-.", "timeout": ":", "refused": (0, (1, 3))}


def throughput_figure(run: RunData, verdict: Verdict | None = None) -> Figure | None:
    if run.samples.empty:
        return None
    axis = _time_axis(run)
    table = rates(run.samples, origin=axis.origin, bin_s=axis.bin_s, by=("target", "outcome"))
    figure, axes = _figure(2, 1, height=3.0)
    top, bottom = axes[0][0], axes[1][0]
    targets = run.targets
    totals = table.groupby(["time_s", "target"])["per_s"].sum().reset_index()
    _shade_ramp(top, axis)
    for target in targets:
        data = totals[totals["target"] == target]
        top.plot(axis.x(data["time_s"]), data["per_s"], color=target_color(target, targets), lw=1.8,
                 label=mpl_text(target), **_marker(len(data)))  # fmt: skip
    top.set_ylabel("samples per second")
    top.set_title("Throughput: every measured operation (all outcomes)", fontsize=10)
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    failed = table[table["outcome"] != OK]
    _shade_ramp(bottom, axis)
    styles = []
    if failed.empty:
        bottom.text(0.5, 0.5, "no failed or refused samples", ha="center", va="center", transform=bottom.transAxes)
        bottom.set_xlim(top.get_xlim())
    for (target, outcome), data in failed.groupby(["target", "outcome"]):
        style = _OUTCOME_STYLES.get(str(outcome), "-")
        bottom.plot(axis.x(data["time_s"]), data["per_s"], color=target_color(str(target), targets), ls=style, lw=1.5,
                    **_marker(len(data)))  # fmt: skip
        styles.append((str(outcome), {"ls": style}))
    bottom.set_ylabel("samples per second")
    bottom.set_title("Failures by outcome (refused = expected refusals, not failures)", fontsize=10)
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    bottom.set_xlabel(axis.label)
    figure.suptitle(f"Throughput and outcomes over time ({axis.bin_s:g} s bins)")
    _target_legend(figure, targets, list(dict(styles).items()))
    return figure


def users_connections_figure(run: RunData, verdict: Verdict | None = None) -> Figure | None:
    axis = _time_axis(run)
    figure, axes = _figure(2, 1, height=2.8)
    top, bottom = axes[0][0], axes[1][0]
    targets = run.targets
    _shade_ramp(top, axis)
    if len(run.users):
        top.step(axis.x(run.users["time"] - axis.origin), run.users["users"], where="post", color="#333333", lw=1.8,
                 label="simulated users (all targets, Locust)")  # fmt: skip
        top.set_ylim(bottom=0)
        top.legend(loc="lower right", fontsize=9)
    else:
        _no_data(top, "Locust's user count history is not in this run directory")
    top.set_ylabel("users")
    top.set_title("Simulated users", fontsize=10)
    top.grid(alpha=0.3)
    _shade_ramp(bottom, axis)
    drawn = False
    for target in targets:
        held = run.figures[(run.figures["name"] == "connections_held") & (run.figures["target"] == target)]
        if len(held):
            bottom.plot(axis.x(held["time"] - axis.origin), held["value"], color=target_color(target, targets), lw=1.8,
                        label=mpl_text(f"{target}: connections held (swarm)"))  # fmt: skip
            drawn = True
        sampled = resource_series(run.resources, role="target", color=target).dropna(subset=["connections"])
        if len(sampled):
            color = target_color(target, targets)
            bottom.plot(axis.x(sampled["time"] - axis.origin), sampled["connections"], color=color, ls="--", lw=1.2,
                        label=mpl_text(f"{target}: open connections (server)"))  # fmt: skip
            drawn = True
    if drawn:
        for threshold in _thresholds_run(verdict, "connections_held"):
            bottom.axhline(threshold, color=THRESHOLD_COLOR, ls="-.", lw=1, label=f"SLO > {threshold:g}")
        bottom.set_ylim(bottom=0)
        bottom.legend(loc="lower right", fontsize=9)
    else:
        _no_data(bottom, "open connections were not measured in this run (no swarm, no connection sampler)")
    bottom.set_ylabel("connections")
    bottom.set_title("Open real-time connections", fontsize=10)
    bottom.grid(alpha=0.3)
    bottom.set_xlabel(axis.label)
    figure.suptitle("Users and open connections over time")
    return figure


def _thresholds_run(verdict: Verdict | None, metric: str) -> list[float]:
    if verdict is None:
        return []
    return sorted({check.threshold for check in verdict.checks if check.metric == metric})


def _resource_threshold(verdict: Verdict | None, metric: str, default: float) -> float:
    if verdict is not None:
        for check in verdict.checks:
            if check.selector.get("source") == "resources" and check.metric == metric and check.statistic != "slope":
                return check.threshold
    return default


def resources_figure(run: RunData, verdict: Verdict | None = None) -> Figure | None:
    if run.resources.empty:
        return None
    axis = _time_axis(run)
    figure, axes = _figure(2, 1, height=3.0)
    targets = run.targets
    panels = (
        (axes[0][0], "rss_mb", "RSS (MB)", "Memory: resident set size, summed over each process tree",
         _resource_threshold(verdict, "rss_mb", 512), "MB"),
        (axes[1][0], "cpu_pct", "CPU (% of one core)", "CPU: summed over each process tree (100 % = one core busy)",
         _resource_threshold(verdict, "cpu_pct", 50), "%"),
    )  # fmt: skip
    for ax, column, label, title, threshold, unit in panels:
        ax.set_title(title, fontsize=10)
        _shade_ramp(ax, axis)
        for target in targets:
            data = resource_series(run.resources, role="target", color=target).dropna(subset=[column])
            ax.plot(axis.x(data["time"] - axis.origin), data[column], color=target_color(target, targets), lw=1.8,
                    label=mpl_text(f"{target} server"))  # fmt: skip
        generators = resource_series(run.resources, role="generator").dropna(subset=[column])
        for index, (name, data) in enumerate(generators.groupby("color")):
            ax.plot(axis.x(data["time"] - axis.origin), data[column], color=GENERATOR_COLOR, lw=1,
                    ls=("-", "--", ":", "-.")[index % 4],
                    label=mpl_text(f"load generator {name}".rstrip()))  # fmt: skip
        ax.axhline(threshold, color=THRESHOLD_COLOR, ls="-.", lw=1.2, label=mpl_text(f"SLO {threshold:g} {unit}"))
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, ncols=3)
    axes[1][0].set_xlabel(axis.label)
    figure.suptitle("Server resources over time (servers in color, load generator in grey)")
    return figure


def ttft_vs_complete_figure(run: RunData, verdict: Verdict | None = None) -> Figure | None:
    names = ("chat.first_token", "chat.complete")
    rows = run.samples[run.samples["name"].isin(names)]
    if rows.empty or not ((rows["outcome"] == OK) & (rows["hist_id"] >= 0)).any():
        return None
    axis = _time_axis(run)
    figure, axes = _figure(1, 2, height=4.0)
    left, right = axes[0][0], axes[0][1]
    targets = run.targets
    styles = {"chat.first_token": {"ls": "--", "lw": 1.5}, "chat.complete": {"ls": "-", "lw": 1.8}}
    steady = select(rows, window=run.window("steady"))
    cdfs = latency_cdfs(steady, run.histograms, by=("target", "name"))
    for (target, name), cdf in sorted(cdfs.items()):
        values, shares = thin_cdf(*cdf)
        left.step(values, shares, where="post", color=target_color(target, targets), **styles[name])
    _log_x(left)
    left.set_xlabel("latency (ms, log scale)")
    left.set_ylabel("share of answers ≤ x")
    left.set_title("Distribution in steady state", fontsize=10)
    left.grid(alpha=0.3, which="both")
    series = latency_over_time(rows, run.histograms, origin=axis.origin, bin_s=axis.bin_s, by=("target", "name"),
                               percentiles=(95,))  # fmt: skip
    _shade_ramp(right, axis)
    top = float(series["p95_ms"].astype(float).max()) if len(series) else 0.0
    for (target, name), data in series.groupby(["target", "name"]):
        right.plot(axis.x(data["time_s"]), data["p95_ms"].astype(float), color=target_color(str(target), targets),
                   **styles[str(name)], **_marker(len(data)))  # fmt: skip
    for threshold in _thresholds(verdict, run, "chat.complete", "p95"):
        _threshold_y(right, threshold, top, f"complete p95 SLO {threshold:g} ms")
        left.axvline(threshold, color=THRESHOLD_COLOR, ls="-.", lw=1)
    right.set_xlabel(axis.label)
    right.set_ylabel("p95 latency (ms)")
    right.set_ylim(bottom=0)
    right.set_title(f"p95 over time ({axis.bin_s:g} s bins)", fontsize=10)
    right.grid(alpha=0.3)
    figure.suptitle("Chat answers: time to first token (dashed) vs complete answer (solid); red: SLO")
    _target_legend(
        figure, targets, [("first token", styles["chat.first_token"]), ("complete", styles["chat.complete"])]
    )
    return figure


PlotBuilder = Callable[[RunData, "Verdict | None"], "Figure | None"]

PLOTS: tuple[tuple[str, str, str, PlotBuilder], ...] = (
    ("latency_over_time", "Latency percentiles over time",
     "p50, p95 and p99 of each key metric per time bin. Spikes that last are what users feel; "
     "a line that climbs through the run is a capacity or leak problem.", latency_over_time_figure),
    ("latency_cdf", "Latency distribution per metric",
     "The share of samples at or below each latency. Curves further right are slower; a long flat "
     "tail is the slow minority that p95/p99 report.", latency_cdf_figure),
    ("throughput", "Throughput and outcomes",
     "Everything measured per second, and the failures among it by outcome.", throughput_figure),
    ("users_connections", "Users and open connections",
     "How many simulated users ran, and how many real-time connections were held open.", users_connections_figure),
    ("resources", "Server memory and CPU",
     "RSS and CPU of each server's process tree against the migration's limits; the load "
     "generator's own use in grey (a saturated generator makes every number suspect).", resources_figure),
    ("ttft_vs_complete", "Time to first token vs complete answer",
     "How long users wait for the first words and for the whole answer.", ttft_vs_complete_figure),
)  # fmt: skip


def figure_png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def iter_figures(run: RunData, verdict: Verdict | None = None) -> Iterator[tuple[str, str, str, Figure | None]]:
    """``(name, title, caption, figure or None when the run has no data for it)``, for notebooks."""
    for name, title, caption, build in PLOTS:
        yield name, title, caption, build(run, verdict)


def render_plots(run: RunData, verdict: Verdict | None = None) -> list[Plot]:
    plots = []
    for name, title, caption, figure in iter_figures(run, verdict):
        if figure is not None:
            plots.append(Plot(name, title, caption, figure_png(figure)))
    return plots
