"""Synthetic paired runs with planted differences, for checking the comparison's statistics
(``benchmarks/compare_validity.py``, ``tests/compare``).

Latencies are drawn from lognormal distributions and recorded through the recorder's own code
path (``IntervalRecorder`` → ``SampleRow`` → ``RunDirectory``), so what ``analysis.compare``
reads is exactly what a real run leaves: per-interval HDR histograms, outcome counts, a manifest,
events and resources.csv. The metric shapes (counts, medians, spreads) can be measured from a
real run (``shapes_from_run``) so the synthetic runs have the sample counts a profile produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analysis.compare_stats import Buckets
from analysis.load import RunData
from analysis.stats import grouped_latency, outcome_counts
from loadtests.recorder.format import iso
from loadtests.recorder.interval import IntervalRecorder
from loadtests.recorder.rundir import Manifest, RunDirectory, TargetInfo

START = 1_900_000_000.0  # epoch seconds of a synthetic run's test_start
_Z95 = 1.6448536269514722  # standard normal quantile of 0.95
OTHER_HTTP = "api.other"


@dataclass(frozen=True)
class MetricShape:
    """One metric of a synthetic side: ``count`` ok samples in the steady state, lognormal with
    median ``median_ms`` and log-space spread ``sigma``; ``error_rate`` of extra failed samples."""

    name: str
    kind: str
    count: int
    median_ms: float
    sigma: float
    error_rate: float = 0.0

    def scaled(self, factor: float) -> MetricShape:
        return replace(self, count=max(1, round(self.count * factor)))


# Measured from a 60 s `ci` run (40 users over both colors, 4 s ramp-up, 56 s steady state) on the
# 2-core development machine: the metrics with at least 30 ok samples per side, count = the mean of
# blue's and green's, median and sigma fitted to p50 and p95 (sigma = ln(p95/p50) / 1.645).
# `api.other` carries the run's other HTTP samples (endpoints with fewer than 30 samples each), so
# that the `http` aggregate (every HTTP sample) has the run's count (~350) and spread.
CI_60S_SHAPES: tuple[MetricShape, ...] = (
    MetricShape(OTHER_HTTP, "http", 293, 2.6, 0.99),
    MetricShape("chat.complete", "ws", 108, 790.0, 0.08),
    MetricShape("chat.first_token", "ws", 106, 305.0, 0.18),
    MetricShape("health", "http", 57, 2.2, 0.95),
)


@dataclass(frozen=True)
class Plant:
    """What side B gets on top of A's shapes: latency multipliers (all samples, ``scale``),
    log-spread multipliers around the same median (``spread``), error rates, and memory growth."""

    scale: Mapping[str, float] = field(default_factory=dict)
    spread: Mapping[str, float] = field(default_factory=dict)
    error_rate: Mapping[str, float] = field(default_factory=dict)
    memory_growth_mb_per_min: float = 0.0


NO_PLANT = Plant()


@dataclass
class _Clock:
    now: float

    def __call__(self) -> float:
        return self.now


def _record_side(
    directory: RunDirectory,
    color: str,
    shapes: Sequence[MetricShape],
    plant: Plant,
    rng: np.random.Generator,
    *,
    ramp_s: float,
    steady_s: float,
    interval_s: float,
    start: float,
) -> None:
    clock = _Clock(start)
    recorder = IntervalRecorder(clock=clock)
    intervals = max(1, math.ceil(steady_s / interval_s))
    writer = directory.samples_writer()
    # The ramp-up: one interval whose samples analysis must leave out of the steady state.
    clock.now = start + ramp_s
    for shape in shapes:
        for value in rng.lognormal(math.log(shape.median_ms * 3), shape.sigma, size=max(1, shape.count // 20)):
            recorder.record((color, shape.kind, shape.name, "SyntheticUser", "ok"), round(value * 1000))
    writer.write(recorder.rotate())
    draws = {}
    for shape in shapes:
        scale = plant.scale.get(shape.name, 1.0)
        sigma = shape.sigma * plant.spread.get(shape.name, 1.0)
        latencies = rng.lognormal(math.log(shape.median_ms * scale), sigma, size=shape.count)
        error_rate = plant.error_rate.get(shape.name, shape.error_rate)
        failures = int(rng.binomial(shape.count, error_rate / (1 - error_rate))) if error_rate else 0
        draws[shape] = (
            latencies,
            rng.integers(0, intervals, size=shape.count),
            rng.integers(0, intervals, size=failures),
        )
    for interval in range(intervals):
        clock.now = start + ramp_s + (interval + 1) * interval_s
        for shape, (latencies, slots, failed_slots) in draws.items():
            for value in latencies[slots == interval]:
                recorder.record((color, shape.kind, shape.name, "SyntheticUser", "ok"), round(float(value) * 1000))
            for _ in range(int((failed_slots == interval).sum())):
                recorder.record((color, shape.kind, shape.name, "SyntheticUser", "error"), None)
        writer.write(recorder.rotate())
    writer.close()


def _write_resources(
    directory: RunDirectory,
    colors: Sequence[str],
    plant: Plant,
    rng: np.random.Generator,
    duration_s: float,
    start: float,
) -> None:
    writer = directory.resources_writer()
    rows = []
    for second in range(int(duration_s) + 1):
        for color in colors:
            growth = plant.memory_growth_mb_per_min if color == colors[-1] else 0.0
            rss = 60 + 2.0 * (1 - math.exp(-second / 20)) + growth * second / 60 + rng.normal(0, 0.3)
            cpu = max(0.0, rng.normal(5.0, 1.5))
            rows.append((start + second, "target", color, "4242", round(rss, 2), round(cpu, 2), ""))
    writer.write(rows)
    writer.close()


def write_paired_run(
    path: Path,
    shapes: Sequence[MetricShape] = CI_60S_SHAPES,
    *,
    plant: Plant = NO_PLANT,
    seed: int = 0,
    ramp_s: float = 4.0,
    steady_s: float = 56.0,
    interval_s: float = 1.0,
    colors: tuple[str, str] = ("blue", "green"),
    profile_name: str = "synthetic",
    start: float = START,
) -> Path:
    """A ``--target both`` run directory: A (``colors[0]``) with ``shapes``, B with ``shapes`` and
    ``plant`` on top; resources for both. Returns the directory."""
    rng = np.random.default_rng(seed)
    directory = RunDirectory.create(out=path, results_root=path.parent, profile=profile_name, target="both")
    duration_s = ramp_s + steady_s
    directory.write_manifest(
        Manifest(
            run_id=f"synthetic-{seed}",
            status="complete",
            profile_name=profile_name,
            profile={"name": profile_name, "users": 40, "duration_s": duration_s, "spawn_rate": 10},
            target_mode="both",
            targets=[
                TargetInfo(color=c, url=f"http://127.0.0.1:{8000 + i}", embedded=True) for i, c in enumerate(colors)
            ],
            started_at=iso(datetime.fromtimestamp(start, UTC)),
            ended_at=iso(datetime.fromtimestamp(start + duration_s, UTC)),
            steady_state_from=start + ramp_s,
            interval_s=interval_s,
            versions={"loadbench": "synthetic"},
            exit_code=0,
        )
    )
    directory.append_event("test_start", t=start)
    directory.append_event("spawning_complete", t=start + ramp_s)
    _record_side(
        directory,
        colors[0],
        shapes,
        NO_PLANT,
        rng,
        ramp_s=ramp_s,
        steady_s=steady_s,
        interval_s=interval_s,
        start=start,
    )
    _record_side(
        directory, colors[1], shapes, plant, rng, ramp_s=ramp_s, steady_s=steady_s, interval_s=interval_s, start=start
    )
    _write_resources(directory, colors, plant, rng, duration_s, start)
    directory.append_event("test_stop", t=start + duration_s, recorder_errors=0)
    return directory.path


def _fit(name: str, kind: str, sides: Sequence[Buckets], count: int, error_rate: float) -> MetricShape:
    p50 = float(np.mean([side.percentile(50) for side in sides]))
    p95 = float(np.mean([side.percentile(95) for side in sides]))
    sigma = max(math.log(p95 / p50) / _Z95, 0.01) if p50 > 0 else 0.5
    return MetricShape(name, kind, max(count, 1), p50, sigma, error_rate)


def shapes_from_run(
    run: RunData, *, min_samples: int = 30, colors: tuple[str, str] = ("blue", "green")
) -> list[MetricShape]:
    """The steady-state shapes of a real paired run: each metric with ``min_samples`` ok samples
    on both sides (mean count; a lognormal fitted to p50 and p95), and ``api.other`` for the rest
    of the HTTP samples (fitted to the whole HTTP aggregate), so that the synthetic ``http``
    aggregate has the real run's count."""
    steady = run.samples[run.window("steady").interval_mask(run.samples)]
    per_side: list[dict[str, tuple[Buckets, str, float]]] = []
    aggregates: list[Buckets] = []
    for color in colors:
        rows = steady[steady["target"] == color]
        groups, merged = grouped_latency(rows, run.histograms, ["name"])
        side: dict[str, tuple[Buckets, str, float]] = {}
        for name, group in zip(groups["name"], groups["group"], strict=True):
            subset = rows[rows["name"] == name]
            side[str(name)] = (
                Buckets.from_histogram(merged.group(int(group))),
                str(subset["kind"].iloc[0]),
                outcome_counts(subset).error_rate() or 0.0,
            )
        http = rows[rows["kind"] == "http"]
        _, http_merged = grouped_latency(http.assign(everything="http"), run.histograms, ["everything"])
        aggregates.append(
            Buckets.from_histogram(http_merged.group(0)) if http_merged.groups else Buckets.from_values([])
        )
        per_side.append(side)
    shapes = []
    for name in sorted(set(per_side[0]) & set(per_side[1])):
        sides = [per_side[0][name], per_side[1][name]]
        if min(side[0].n for side in sides) < min_samples:
            continue
        count = round(float(np.mean([side[0].n for side in sides])))
        error_rate = float(np.mean([side[2] for side in sides])) / 100
        shapes.append(_fit(name, sides[0][1], [side[0] for side in sides], count, error_rate))
    counted = sum(shape.count for shape in shapes if shape.kind == "http")
    total = round(float(np.mean([aggregate.n for aggregate in aggregates])))
    if total - counted > 0 and all(aggregate.n for aggregate in aggregates):
        shapes.insert(0, _fit(OTHER_HTTP, "http", aggregates, total - counted, 0.0))
    return shapes
