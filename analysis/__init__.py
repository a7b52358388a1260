"""Analysis: a run directory in, frames, exact percentiles, SLO verdicts and reports out.

Pure functions over data; only the CLI and the notebook print or write files (``judge`` holds the
two writers they share, ``compare_report.write_comparison`` the comparison's). Modules, in
data-flow order:

  load         ``load_run(path) -> RunData``: samples, histograms, resources, figures, events
  hdr          exact HDR statistics at array speed (the same numbers ``hdrh`` gives)
  windows      whole run, steady state, custom windows
  stats        selections, merged latencies, outcome counts, rates, time series
  slo          ``evaluate(run, specs) -> Verdict`` (the SLO spec is ``loadtests.slo_spec``)
  report       Markdown summary and the key-metrics table
  junit        the verdict as JUnit XML
  plots        matplotlib figures (imported lazily)
  html_report  one self-contained HTML page of a ``Judged`` run
  judged       ``Judged``: a run with its verdict and renderings (what ``judge`` returns)
  judge        ``judge_run``, ``write_verdict``, ``write_report``: what ``run``, ``check`` and
               ``report`` call
  compare      blue vs green: ``compare_paths``, ``compare_paired(run)``, ``compare_runs(a, b)`` →
               ``Comparison``; its parts are ``compare_thresholds``, ``compare_model``,
               ``compare_comparability``, ``compare_inputs``, ``compare_stats``, ``compare_rules``,
               ``compare_scorecard``, ``compare_json`` (``compare``'s docstring maps them)
  compare_report  the comparison's renderings (``compare_words``, ``compare_tables``,
               ``compare_figures``) and ``write_comparison``; ``compare_synthetic`` makes
               synthetic paired runs that check the statistics
  history      the run index (``index.csv``), trends across runs, the pinned baseline
  compat       the API-compatibility table of ``loadbench probe``

The public surface, ``__all__``: what the CLI, the orchestrator, the notebook and the benchmarks
use. ``from analysis import compare_paths`` works; each name is imported from its module on first
use, so importing one module of ``analysis`` (``compat`` for the probe, ``fingerprint`` for a run)
never pulls in pandas, scipy or matplotlib through this package. Modules are imported as modules
(``from analysis import compat, compare_report as report``), as the CLI and the notebook do.
"""

from __future__ import annotations

import importlib
from typing import Any

# module → the public names it holds (and who needs them)
_PUBLIC: dict[str, tuple[str, ...]] = {
    # a run: the CLI, the benchmarks
    "analysis.load": ("RunData", "load_run"),
    "analysis.stats": ("ok_histogram", "percentile_ms", "select"),
    "analysis.hdr": ("HistogramSet", "HistogramStore"),  # the live progress display
    # SLO verdicts: run, check, report, the live web UI tab
    "analysis.judged": ("Judged",),
    "analysis.judge": ("judge", "judge_run", "run_slos", "write_report", "write_verdict"),
    "analysis.report": ("TABLE_COLUMNS", "metric_rows", "verdict_line"),
    "analysis.plots": ("Plot", "figure_png"),
    # blue vs green: compare, the notebook, benchmarks/compare_validity.py
    "analysis.compare": (
        "COMPARISON_MD",
        "Comparison",
        "ComparisonRefused",
        "MetricComparison",
        "Thresholds",
        "compare_paired",
        "compare_paths",
        "compare_runs",
        "to_json",
    ),
    "analysis.compare_report": (
        "conclusion",
        "conclusion_markdown",
        "headline",
        "scorecard_frame",
        "write_comparison",
    ),
    "analysis.compare_synthetic": ("CI_60S_SHAPES", "MetricShape", "Plant", "shapes_from_run", "write_paired_run"),
    # the run index and the pinned baseline: run, compare, history
    "analysis.history": (
        "index_run",
        "pin_baseline",
        "read_baseline",
        "read_index",
        "rebuild_index",
        "summary_frame",
        "trend",
        "trend_figure",
        "unpin_baseline",
    ),
}
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(_HOME)  # built from _PUBLIC: one list, no copy to drift


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
