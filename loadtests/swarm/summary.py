"""A run directory's swarm figures, per target: what was held, how connects went, what dropped and
why, how storms recovered, and the swarm's latencies. Pure reading; the benchmark and the tests
use it, and analysis may take it over.

A drop is *explained* when it happened during a reconnect storm the run caused (from the storm's
kill to its recovery, give or take one interval); every other drop is unexplained.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.recorder.histogram import merge
from loadtests.recorder.rundir import RunDirectory
from loadtests.swarm.gauge import HELD
from loadtests.swarm.session import CONNECT, FANOUT, FANOUT_LAST, RECONNECT, RTT


@dataclass(frozen=True)
class Latency:
    timed: int  # ok samples with a latency
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    min_ms: float | None
    outcomes: dict[str, int] = field(default_factory=dict)  # every sample, by outcome


@dataclass(frozen=True)
class Storm:
    t: float
    recovered: bool | None
    recovery_s: float | None
    restart_s: float | None
    connections_before: int | None


@dataclass(frozen=True)
class TargetSwarm:
    target: str
    connections_held: int  # most connections open at once (sum over processes at an interval's end)
    connect_attempts: int
    connect_ok: int
    failures: dict[str, int]  # failed connect attempts by kind (refused, timeout, auth, ...)
    drops: int
    drops_explained: int  # during a reconnect storm
    reconnected: int
    gave_up: int
    storms: list[Storm]
    connect: Latency
    rtt: Latency
    reconnect: Latency
    fanout: Latency
    fanout_last: Latency

    @property
    def connect_success_pct(self) -> float | None:
        return 100.0 * self.connect_ok / self.connect_attempts if self.connect_attempts else None

    @property
    def drops_unexplained(self) -> int:
        return self.drops - self.drops_explained


def _latency(rows: list[Any]) -> Latency:
    outcomes: dict[str, int] = defaultdict(int)
    for row in rows:
        outcomes[row.outcome] += row.count
    encoded = [row.hist for row in rows if row.outcome == "ok" and row.hist]
    if not encoded:
        return Latency(0, None, None, None, None, None, dict(outcomes))
    hist = merge(encoded)

    def ms(value: int) -> float:
        return hist.get_highest_equivalent_value(value) / 1000.0

    return Latency(
        timed=hist.get_total_count(),
        p50_ms=ms(hist.get_value_at_percentile(50)),
        p95_ms=ms(hist.get_value_at_percentile(95)),
        p99_ms=ms(hist.get_value_at_percentile(99)),
        max_ms=ms(hist.get_max_value()),
        min_ms=hist.get_min_value() / 1000.0,
        outcomes=dict(outcomes),
    )


def summarise(run_dir: Path, *, since: float | None = None, until: float | None = None) -> dict[str, TargetSwarm]:
    """Per target. ``since``/``until`` (epoch s) window the latencies; counts cover the whole run."""
    directory = RunDirectory(run_dir)
    manifest_interval = directory.read_manifest().interval_s
    samples = [row for row in directory.read_samples().rows if row.name.startswith("swarm.")]
    storms: dict[str, list[Storm]] = defaultdict(list)
    for event in directory.read_storms():
        storms[str(event.get("target"))].append(
            Storm(
                float(event["t"]),
                event.get("recovered"),
                event.get("recovery_s"),
                event.get("restart_s"),
                event.get("connections_before"),
            )
        )
    held: dict[str, int] = defaultdict(int)
    for figure in directory.read_figures():
        if figure.name == HELD:
            held[figure.target] = max(held[figure.target], int(figure.value))
    counters: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"drops": 0, "explained": 0, "reconnected": 0, "gave_up": 0, "failures": defaultdict(int)}
    )
    for row in directory.read_connections():
        c = counters[row.target]
        c["drops"] += row.dropped
        c["reconnected"] += row.reconnected
        c["gave_up"] += row.gave_up
        for kind, count in row.failures.items():
            c["failures"][kind] += count
        if row.dropped and any(
            storm.t - manifest_interval <= row.t1 and row.t0 <= storm.t + (storm.recovery_s or 0) + manifest_interval
            for storm in storms[row.target]
        ):
            c["explained"] += row.dropped

    def windowed(target: str, name: str) -> list[Any]:
        return [
            row
            for row in samples
            if row.target == target
            and row.name == name
            and (since is None or row.t0 >= since - 1e-3)
            and (until is None or row.t1 <= until + 1e-3)
        ]

    result = {}
    for target in sorted({row.target for row in samples} | set(counters)):
        c = counters[target]
        connects = [row for row in samples if row.target == target and row.name == CONNECT]
        result[target] = TargetSwarm(
            target=target,
            connections_held=held.get(target, 0),
            connect_attempts=sum(row.count for row in connects),
            connect_ok=sum(row.count for row in connects if row.outcome == "ok"),
            failures=dict(c["failures"]),
            drops=c["drops"],
            drops_explained=c["explained"],
            reconnected=c["reconnected"],
            gave_up=c["gave_up"],
            storms=storms.get(target, []),
            connect=_latency(windowed(target, CONNECT)),
            rtt=_latency(windowed(target, RTT)),
            reconnect=_latency(windowed(target, RECONNECT)),
            fanout=_latency(windowed(target, FANOUT)),
            fanout_last=_latency(windowed(target, FANOUT_LAST)),
        )
    return result
