"""Analysis: a run directory in, frames, exact percentiles, SLO verdicts and reports out.

Pure functions over data; only the CLI and the notebook print or write files (``judge`` holds the
two writers they share). Modules, in data-flow order:

  load         ``load_run(path) -> RunData``: samples, histograms, resources, figures, events
  hdr          exact HDR statistics at array speed (the same numbers ``hdrh`` gives)
  windows      whole run, steady state, custom windows
  stats        selections, merged latencies, outcome counts, rates, time series
  slo_spec     SLOs as data (``SloSpec``, ``DEFAULT_SLOS``, overrides, SLO files)
  slo          ``evaluate(run, specs) -> Verdict``
  report       Markdown summary and the key-metrics table
  junit        the verdict as JUnit XML
  plots        matplotlib figures (imported lazily)
  html_report  one self-contained HTML page
  judge        ``judge_run``, ``write_verdict``, ``write_report``: what ``run``, ``check`` and
               ``report`` call
  compare      blue vs green: ``compare_paired(run)``, ``compare_runs(a, b)`` → ``Comparison``
               (``MetricComparison`` per metric, a ``Scorecard``); ``compare_stats`` holds the tests,
               ``compare_report`` the conclusion, tables, figures and files, ``compare_synthetic``
               synthetic paired runs that check the statistics
  history      the run index (``index.csv``), trends across runs, the pinned baseline
"""
