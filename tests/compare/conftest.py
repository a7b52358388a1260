"""Synthetic paired runs for the comparison tests, written through the recorder's code path
(``analysis.compare_synthetic``): small and fast, with planted differences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.compare_synthetic import NO_PLANT, START, MetricShape, Plant, write_paired_run

# Enough samples to judge p50 and p95 (p99 needs 500 per side), few enough to stay fast.
SHAPES = (
    MetricShape("chat.history", "http", 400, 12.0, 0.5),
    MetricShape("chat.complete", "ws", 400, 800.0, 0.1),
    MetricShape("health", "http", 200, 3.0, 0.4),
)

MakeRun = Callable[..., Path]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    counter = iter(range(1000))

    def make(
        plant: Plant = NO_PLANT, *, shapes: tuple[MetricShape, ...] = SHAPES, seed: int = 0, name: str | None = None
    ) -> Path:
        number = next(counter)
        # Runs made later start later (an hour apart): history orders runs by start.
        return write_paired_run(
            tmp_path / (name or f"run-{number}"), shapes, plant=plant, seed=seed, start=START + 3600 * number
        )

    return make
