"""``Judged``: what judging a run gives (``analysis.judge``), and what its renderings take
(``analysis.html_report``): the run, the SLOs, the verdict, the steady-state summaries, and the
verdict as Markdown and JUnit text. A value apart, so that the renderings need not import the
code path that judges.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.load import RunData
from analysis.slo import Verdict
from analysis.stats import MetricSummary
from loadtests.slo_spec import SloSpec

__all__ = ["Judged"]


@dataclass(frozen=True)
class Judged:
    run: RunData
    specs: tuple[SloSpec, ...]
    verdict: Verdict
    summaries: list[MetricSummary]  # steady-state window
    markdown: str
    junit: str

    @property
    def title(self) -> str:
        return f"loadbench {self.run.manifest.profile_name} · {self.run.manifest.target_mode}"
