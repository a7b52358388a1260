"""Outage windows: when a target stopped answering, as its health probes saw it, beside when it was
actually down (the orchestrator's restart events). Pure functions over ``RunData``."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.load import RunData
from analysis.stats import select


@dataclass(frozen=True)
class Outage:
    target: str
    start: float  # epoch s: the start of the first interval with a failed probe
    end: float  # epoch s: the end of the last one
    failed_probes: int

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def measured_outages(run: RunData, target: str, *, probe: str = "health") -> list[Outage]:
    """Runs of consecutive intervals in which a ``probe`` sample failed (interval resolution)."""
    rows = select(run.samples, target=target, name=probe)
    if rows.empty:
        return []
    failed = rows["count"].where(rows["outcome"] != "ok", 0)
    by_interval = rows.assign(failed=failed).groupby(["t0", "t1"])["failed"].sum()
    outages: list[Outage] = []
    current: list[tuple[float, float, int]] = []
    for (t0, t1), failed in by_interval.sort_index().items():
        if failed > 0:
            current.append((float(t0), float(t1), int(failed)))
        elif current:
            outages.append(Outage(target, current[0][0], current[-1][1], sum(f for _, _, f in current)))
            current = []
    if current:
        outages.append(Outage(target, current[0][0], current[-1][1], sum(f for _, _, f in current)))
    return outages


def actual_outages(run: RunData) -> list[tuple[str, float, float]]:
    """(target, killed at, back at) of every restart the run planted (``reconnect_storm`` events)."""
    return [
        (str(event.fields.get("target")), event.t, event.t + float(event.fields.get("restart_s") or 0))
        for event in run.events
        if event.event == "reconnect_storm"
    ]
