"""Is the load generator itself the bottleneck? A saturated generator must never be reported as a
slow server (STYLE pattern 8): a run where a generator process stayed at or above ~90 % of a core
(Locust is one gevent thread per process) is marked ``invalid`` with the reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

SATURATION_CPU_PCT = 90.0
SUSTAINED_S = 10.0


def saturated_generators(
    rows: Iterable[Mapping[str, str]], *, threshold_pct: float = SATURATION_CPU_PCT, sustained_s: float = SUSTAINED_S
) -> list[str]:
    """One line per generator process whose CPU stayed ≥ ``threshold_pct`` for ``sustained_s`` in a
    row (``resources.csv`` rows with ``role == generator``)."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if row.get("role") != "generator" or not row.get("cpu_pct"):
            continue
        try:
            series[row.get("color") or "locust"].append((float(row["time"]), float(row["cpu_pct"])))
        except (KeyError, ValueError):
            continue
    findings = []
    for process, points in sorted(series.items()):
        points.sort()
        longest, peak, run_start = 0.0, 0.0, None
        previous_time = None
        for moment, cpu in points:
            if cpu >= threshold_pct:
                run_start = moment if run_start is None else run_start
                # a sample covers the second before it: the run lasts from one interval before its first sample
                interval = moment - previous_time if previous_time is not None else 1.0
                longest = max(longest, moment - run_start + interval)
                peak = max(peak, cpu)
            else:
                run_start = None
            previous_time = moment
        if longest >= sustained_s:
            findings.append(
                f"load generator {process} stayed at ≥ {threshold_pct:.0f} % CPU for {longest:.0f} s "
                f"(peak {peak:.0f} %): add --workers or lower the load"
            )
    return findings
