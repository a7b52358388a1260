"""Was the load generator on time for its own open-model schedule? (``arrivals.jsonl``, written by
``loadtests.recorder.schedule``.) A generator that wakes late for its arrivals measures itself,
not the target: like a saturated one (``loadtests.monitor.saturation``), the run is invalid. Pure,
and free of Locust: the orchestrator and analysis read it."""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from loadtests.recorder.histogram import new_histogram
from loadtests.recorder.rows import ArrivalsRow

__all__ = ["lateness_p99_ms", "pacing_problems"]


def lateness_p99_ms(rows: Iterable[ArrivalsRow]) -> dict[str, tuple[float, int]]:
    """Per target: the p99 of the generator's pacing error (ms) over ``rows``, and how many
    arrivals it covers."""
    merged: dict[str, HdrHistogram] = {}
    for row in rows:
        if row.pacing is None:
            continue
        histogram = merged.setdefault(row.target, new_histogram())
        histogram.add(HdrHistogram.decode(row.pacing))
    return {
        target: (histogram.get_value_at_percentile(99) / 1000, histogram.get_total_count())
        for target, histogram in sorted(merged.items())
    }


def pacing_problems(rows: Iterable[ArrivalsRow], *, bound_ms: float) -> list[str]:
    """One line per target whose pacing error's p99 exceeds ``bound_ms``: the generator was late
    for its own schedule, so the run measured the generator, not the target (invalid, exit 3)."""
    return [
        f"load generator late for its own open-model schedule on {target}: pacing error p99 {p99:.3g} ms > "
        f"{bound_ms:g} ms over {count} arrivals (arrivals.pacing_error_ms): lower the rates, add --workers, "
        "or run the generator on a quieter machine"
        for target, (p99, count) in lateness_p99_ms(rows).items()
        if p99 > bound_ms
    ]
