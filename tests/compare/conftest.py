"""Synthetic paired runs for the comparison tests, written through the recorder's code path
(``analysis.compare_synthetic``): small and fast, with planted differences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.compare_synthetic import NO_PLANT, START, MetricShape, Plant, write_paired_run

# Enough samples to judge p50 and p95 (p99 needs 500 per side), few enough to stay fast; too few
# to show equivalence (`same`): such a run holds, each metric saying how many samples would do.
SHAPES = (
    MetricShape("chat.history", "http", 400, 12.0, 0.5),
    MetricShape("chat.complete", "ws", 400, 800.0, 0.1),
    MetricShape("health", "http", 200, 3.0, 0.4),
)

# Enough samples a side for equivalence to be shown on every critical metric (the error rate's
# ±0.1 pp needs ~7,500 judged; memory's slope ±2 MB/min a ten-minute steady state).
LARGE = (
    MetricShape("chat.history", "http", 12000, 12.0, 0.5),
    MetricShape("chat.complete", "ws", 4000, 800.0, 0.1),
    MetricShape("health", "http", 4000, 3.0, 0.4),
)
LARGE_STEADY_S = 600.0

MakeRun = Callable[..., Path]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    counter = iter(range(1000))

    def make(
        plant: Plant = NO_PLANT,
        *,
        shapes: tuple[MetricShape, ...] = SHAPES,
        seed: int = 0,
        name: str | None = None,
        steady_s: float = 56.0,
    ) -> Path:
        number = next(counter)
        # Runs made later start later (an hour apart): history orders runs by start.
        return write_paired_run(
            tmp_path / (name or f"run-{number}"), shapes, plant=plant, seed=seed, start=START + 3600 * number,
            steady_s=steady_s,
        )  # fmt: skip

    return make
