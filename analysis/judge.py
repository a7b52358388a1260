"""The one code path from a run directory to a verdict and its renderings; ``loadbench check``,
``loadbench report`` and ``loadbench run`` all go through here.

``judge`` is pure (run data in, ``Judged`` out). ``write_verdict`` and ``write_report`` are the
edge that writes files, through ``RunDirectory`` (atomically, through no symbolic link: a linked
``plots/`` is refused): ``verdict.json`` (strict JSON), ``junit.xml``, ``summary.md``;
``plots/*.png`` and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path

from analysis.html_report import render_report
from analysis.judged import Judged
from analysis.junit import junit_xml
from analysis.load import RunData, load_run
from analysis.plots import render_plots
from analysis.report import summary_markdown
from analysis.slo import evaluate
from analysis.stats import select, summarize
from loadtests.errors import ConfigError
from loadtests.recorder.format import JUNIT, PLOTS_DIR, REPORT, SUMMARY
from loadtests.recorder.rundir import write_atomic
from loadtests.slo_spec import DEFAULT_SLOS, SloConfigError, SloSpec, resolve_slos

__all__ = ["Judged", "judge", "judge_run", "run_slos", "write_report", "write_verdict"]


def run_slos(run: RunData) -> tuple[SloSpec, ...]:
    """The SLOs the run's profile carried (the defaults when the manifest holds none)."""
    data = run.manifest.profile.get("slos") if run.manifest.profile else None
    if data is None:
        return DEFAULT_SLOS
    try:
        return resolve_slos(data)
    except SloConfigError as error:
        raise ConfigError(f"{run.directory.path}: the manifest's profile has unusable SLOs: {error}") from None


def judge(run: RunData, specs: tuple[SloSpec, ...] | None = None) -> Judged:
    specs = run_slos(run) if specs is None else specs
    verdict = evaluate(run, specs)
    summaries = summarize(select(run.samples, window=run.window("steady")), run.histograms)
    title = f"loadbench {run.manifest.profile_name} · {run.manifest.target_mode}"
    return Judged(
        run=run,
        specs=specs,
        verdict=verdict,
        summaries=summaries,
        markdown=summary_markdown(verdict, summaries, title=title),
        junit=junit_xml(verdict, suite_name=title),
    )


def judge_run(path: Path | str, specs: tuple[SloSpec, ...] | None = None) -> Judged:
    return judge(load_run(path), specs)


def write_verdict(judged: Judged) -> list[Path]:
    """``verdict.json``, ``junit.xml`` and ``summary.md`` in the run directory."""
    directory = judged.run.directory
    return [
        directory.write_verdict(judged.verdict.to_json()),
        directory.write_text(JUNIT, judged.junit),
        directory.write_text(SUMMARY, judged.markdown),
    ]


def write_report(judged: Judged, out: Path | None = None) -> Path:
    """``plots/*.png`` in the run directory and one self-contained HTML report (``report.html``
    in the run directory unless ``out`` is given); returns the report's path."""
    directory = judged.run.directory
    plots = render_plots(judged.run, judged.verdict)
    for plot in plots:
        directory.write_bytes(f"{PLOTS_DIR}/{plot.name}.png", plot.png)
    html = render_report(judged, plots)
    if out is None:
        directory.write_text(REPORT, html)
        return directory.file(REPORT)
    return write_atomic(out, html)
