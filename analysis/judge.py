"""``judge_run``: the one code path from a run directory to a verdict (``check`` and ``run`` use it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.load import RunData, load_run
from analysis.report import summary_markdown
from analysis.slo import Verdict, evaluate
from analysis.slo_spec import SloSpec
from analysis.stats import MetricSummary, select, summarize
from loadtests.recorder.rundir import SUMMARY, VERDICT


@dataclass(frozen=True)
class Judged:
    run: RunData
    verdict: Verdict
    summaries: list[MetricSummary]  # steady-state window
    markdown: str


def judge_run(path: Path | str, specs: tuple[SloSpec, ...] | None = None) -> Judged:
    run = load_run(path)
    if specs is None:
        from loadtests.profiles import Profile

        profile = run.manifest.profile
        specs = Profile.model_validate(profile).slos if profile else ()
    verdict = evaluate(run, specs)
    summaries = summarize(select(run.samples, since=run.steady_state_from))
    title = f"loadbench {run.manifest.profile_name} · {run.manifest.target_mode}"
    return Judged(run, verdict, summaries, summary_markdown(verdict, summaries, title=title))


def write_verdict(judged: Judged) -> None:
    directory = judged.run.directory
    directory.write_json(VERDICT, judged.verdict.to_json())
    directory.write_text(SUMMARY, judged.markdown)
