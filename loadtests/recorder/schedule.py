"""An open-model run's schedule, kept honest: ``arrivals.jsonl``.

Per (target, scenario) and interval: the arrivals due, started and missed, and HDR histograms of
the generator's *pacing error* (how late it woke for an arrival: its own lateness, nothing the
target did) and of each started arrival's *wait for a free slot* (the bound on requests in
flight). The target rate is ``due`` per second, the achieved one ``started`` per second;
``missed`` is k6's ``dropped_iterations``. Analysis invalidates a run whose pacing error exceeds
the profile's bound (the load generator, not the server, set its timing) and reports the rest.

``ScheduleGauge`` is the counters of one process (O(1) per arrival; greenlets of one thread, no
lock); ``ArrivalsPlugin`` closes intervals and moves the rows like every per-interval plugin
(``IntervalPlugin``). Create it before the ``RecorderPlugin`` (see ``response``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from locust.env import Environment

from loadtests.recorder.histogram import new_histogram, record_many
from loadtests.recorder.interval_plugin import IntervalPlugin
from loadtests.recorder.rows import ArrivalsRow
from loadtests.recorder.rundir import RunDirectory
from loadtests.recorder.writers import RowsWriter

_ROWS_KEY = "loadbench_arrivals"
FINAL_MESSAGE = "loadbench_arrivals_final"


@dataclass(slots=True)
class _Counts:
    due: int = 0
    started: int = 0
    missed: int = 0
    pacing_us: list[int] = field(default_factory=list)
    waited_us: list[int] = field(default_factory=list)


def _encoded(values: list[int]) -> str | None:
    if not values:
        return None
    histogram = new_histogram()
    record_many(histogram, np.array(values, dtype=np.int64))
    return histogram.encode().decode("ascii")


class ScheduleGauge:
    """One process's arrival counters. An arrival is ``due`` once (at its planned time, with the
    generator's lateness), then either ``started`` (with its wait for a slot) or ``missed``."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], _Counts] = {}

    def _of(self, target: str, scenario: str) -> _Counts:
        counts = self._counts.get((target, scenario))
        if counts is None:
            counts = self._counts[(target, scenario)] = _Counts()
        return counts

    def due(self, target: str, scenario: str, pacing_ns: int) -> None:
        counts = self._of(target, scenario)
        counts.due += 1
        counts.pacing_us.append(max(0, pacing_ns // 1000))

    def started(self, target: str, scenario: str, waited_ns: int) -> None:
        counts = self._of(target, scenario)
        counts.started += 1
        counts.waited_us.append(max(0, waited_ns // 1000))

    def missed(self, target: str, scenario: str) -> None:
        self._of(target, scenario).missed += 1

    def rotate(self, start: float, end: float) -> list[ArrivalsRow]:
        counts, self._counts = self._counts, {}
        return [
            ArrivalsRow(
                round(start, 3), round(end, 3), target, scenario, c.due, c.started, c.missed,
                _encoded(c.pacing_us), _encoded(c.waited_us),
            )
            for (target, scenario), c in sorted(counts.items())
        ]  # fmt: skip


class ArrivalsPlugin(IntervalPlugin[ArrivalsRow]):
    rows_key = _ROWS_KEY
    final_message = FINAL_MESSAGE

    def __init__(
        self, environment: Environment, *, gauge: ScheduleGauge, run_dir: Path | None, interval_s: float
    ) -> None:
        self.gauge = gauge
        self._writer: RowsWriter[ArrivalsRow] | None = None
        self._started = time.time()
        super().__init__(environment, run_dir=run_dir, interval_s=interval_s)

    def begin(self) -> None:
        self._started = time.time()

    def rotate(self) -> list[ArrivalsRow]:
        now = time.time()
        start, self._started = self._started, now
        return self.gauge.rotate(start, now)

    def decode(self, line: str) -> ArrivalsRow:
        return ArrivalsRow.from_dict(json.loads(line))

    def write(self, rows: list[ArrivalsRow]) -> None:
        if self.run_dir is None or self.is_worker or not rows:
            return
        if self._writer is None:
            self._writer = RunDirectory(self.run_dir).arrivals_writer()
        self._writer.write(rows)

    def on_quitting(self, **_: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
