"""An open-model run's schedule as the verdict, the report and the gate show it: per target and
scenario, the arrivals due, started and missed, the target and achieved rates, and the
generator's own pacing error (``arrivals.jsonl``; ``loadtests.recorder.schedule`` writes it).
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from analysis.load import RunData
from loadtests.recorder.histogram import new_histogram

__all__ = ["ScenarioSchedule", "schedule_notes", "schedule_of"]


@dataclass(frozen=True)
class ScenarioSchedule:
    target: str
    scenario: str
    due: int
    started: int
    missed: int
    seconds: float  # the span the arrivals were due in
    pacing_p99_ms: float | None
    waited_p99_ms: float | None

    @property
    def target_rate(self) -> float:
        return self.due / self.seconds if self.seconds > 0 else 0.0

    @property
    def achieved_rate(self) -> float:
        return self.started / self.seconds if self.seconds > 0 else 0.0


def schedule_of(run: RunData) -> list[ScenarioSchedule]:
    """The run's arrivals, summed per (target, scenario); empty for a closed-model run."""
    totals: dict[tuple[str, str], list] = {}
    lost_at = run.manifest.orchestrator_lost_at
    for row in run.directory.read_arrivals():
        if lost_at is not None and row.t1 > lost_at:
            continue  # as for samples: what came after the run died is not judged
        entry = totals.setdefault((row.target, row.scenario), [0, 0, 0, row.t0, row.t1, None, None])
        entry[0] += row.due
        entry[1] += row.started
        entry[2] += row.missed
        entry[3], entry[4] = min(entry[3], row.t0), max(entry[4], row.t1)
        for slot, encoded in ((5, row.pacing), (6, row.waited)):
            if encoded is not None:
                if entry[slot] is None:
                    entry[slot] = new_histogram()
                entry[slot].add(HdrHistogram.decode(encoded))

    def p99(histogram: HdrHistogram | None) -> float | None:
        if histogram is None or not histogram.get_total_count():
            return None
        return histogram.get_value_at_percentile(99) / 1000

    return [
        ScenarioSchedule(target, scenario, due, started, missed, t1 - t0, p99(pacing), p99(waited))
        for (target, scenario), (due, started, missed, t0, t1, pacing, waited) in sorted(totals.items())
    ]


def schedule_notes(run: RunData) -> list[str]:
    """One line per target: what the open model offered and what was missed."""
    notes = []
    by_target: dict[str, list[ScenarioSchedule]] = {}
    for item in schedule_of(run):
        by_target.setdefault(item.target, []).append(item)
    for target, items in by_target.items():
        due = sum(item.due for item in items)
        missed = sum(item.missed for item in items)
        scenarios = ", ".join(
            f"{item.scenario} {item.achieved_rate:.3g}/{item.target_rate:.3g} per s" for item in items
        )
        pacing = [item.pacing_p99_ms for item in items if item.pacing_p99_ms is not None]
        notes.append(
            f"open model on {target}: {due} arrivals due, {missed} missed_schedule "
            f"(every slot of max_in_flight busy past start_within_s); achieved/target: {scenarios}"
            + (f"; pacing error p99 {max(pacing):.3g} ms" if pacing else "")
        )
    return notes
