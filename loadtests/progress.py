"""What a run is doing right now, read from its run directory as it is written.

``RunWatcher.poll`` reads only what was appended since the last poll (samples, figures, events)
and keeps a short window per color, so a refresh costs the same at minute one and hour ten. It
never touches Locust: it reads what the recorder already wrote, exactly as analysis does.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.live import LiveCheck
from loadtests.recorder.format import ARRIVALS
from loadtests.recorder.rundir import EVENTS, FIGURES, SAMPLES

WINDOW_S = 10.0  # rates and "current" percentiles cover the last ten seconds
KEY_LATENCIES = (("http", "http p95"), ("chat.first_token", "first token p95"), ("chat.complete", "complete p95"))
FAILURES = ("error", "soft_failure", "rate_limited", "timeout")

PHASES = ("starting targets", "ramping", "steady state", "cooling down", "analysing")


@dataclass
class ColorStatus:
    users: int | None = None
    connections: int | None = None
    rps: float = 0.0
    p95_ms: dict[str, float | None] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # over the whole run, by outcome
    samples: int = 0
    # open-model runs: arrivals a second planned and started (last window), and missed (whole run)
    arrivals_target: float | None = None
    arrivals_started: float | None = None
    missed: int = 0


@dataclass
class Snapshot:
    phase: str
    elapsed_s: float
    total_s: float
    colors: dict[str, ColorStatus]
    slos: list[LiveCheck]

    @property
    def slo_counts(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "no verdict": 0}
        for check in self.slos:
            counts[check.state] = counts.get(check.state, 0) + 1
        return counts


class _Tail:
    """The complete lines appended to a file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        out = []
        for line in complete.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


class RunWatcher:
    def __init__(self, run_dir: Path, colors: list[str], *, total_s: float, clock=time.time) -> None:  # type: ignore[no-untyped-def]
        self.colors = colors
        self.total_s = total_s
        self.phase = "starting targets"
        self.slos: list[LiveCheck] = []
        self._clock = clock
        self._started: float | None = None
        self._steady_at: float | None = None
        self._samples, self._figures, self._events = (_Tail(run_dir / name) for name in (SAMPLES, FIGURES, EVENTS))
        self._arrivals = ArrivalRates(run_dir / ARRIVALS)
        self._recent: deque[dict[str, Any]] = deque()
        self._status = {color: ColorStatus() for color in colors}

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def _read(self) -> None:
        for event in self._events.lines():
            if event.get("event") == "test_start" and self._started is None:
                self._started = float(event["t"])
                self.phase = "ramping" if self.phase == "starting targets" else self.phase
            elif event.get("event") == "spawning_complete" and self._steady_at is None:
                self._steady_at = float(event["t"])
                self.phase = "steady state" if self.phase in ("starting targets", "ramping") else self.phase
        for figure in self._figures.lines():
            status = self._status.get(str(figure.get("target")))
            if status is None:
                continue
            if figure.get("name") == "users":
                status.users = int(figure["value"])
            elif figure.get("name") == "connections_held":
                status.connections = int(figure["value"])
        for row in self._samples.lines():
            status = self._status.get(str(row.get("target")))
            if status is None:
                continue
            status.samples += int(row.get("count", 0))
            if row.get("outcome") in FAILURES:
                status.failures[row["outcome"]] = status.failures.get(row["outcome"], 0) + int(row["count"])
            self._recent.append(row)

    def poll(self) -> Snapshot:
        self._read()
        now = self._clock()
        while self._recent and self._recent[0].get("t1", 0) < now - WINDOW_S:
            self._recent.popleft()
        elapsed = now - self._started if self._started is not None else 0.0
        if self.phase == "steady state" and self._started is not None and elapsed > self.total_s:
            self.phase = "cooling down"
        rates = self._arrivals.poll(now)
        for color, status in self._status.items():
            if color in rates:
                status.arrivals_target, status.arrivals_started, status.missed = rates[color]
            rows = [row for row in self._recent if row.get("target") == color]
            span = max((max((r["t1"] for r in rows), default=now) - min((r["t0"] for r in rows), default=now)), 1.0)
            status.rps = sum(int(r.get("count", 0)) for r in rows) / span
            status.p95_ms = {label: _p95(rows, name) for name, label in KEY_LATENCIES}
        return Snapshot(self.phase, elapsed, self.total_s, self._status, list(self.slos))


class ArrivalRates:
    """An open-model run's schedule as it is written (``arrivals.jsonl``): per target, arrivals a
    second planned and started over the last ``WINDOW_S``, and missed over the whole run. The live
    view and the web UI's Arrivals tab show them."""

    def __init__(self, path: Path) -> None:
        self._tail = _Tail(path)
        self._recent: deque[dict[str, Any]] = deque()
        self._missed: dict[str, int] = {}
        self.by_scenario: dict[tuple[str, str], tuple[float, float, int]] = {}

    def poll(self, now: float) -> dict[str, tuple[float, float, int]]:
        for row in self._tail.lines():
            target = str(row.get("target"))
            self._missed[target] = self._missed.get(target, 0) + int(row.get("missed", 0))
            self._recent.append(row)
        while self._recent and self._recent[0].get("t1", 0) < now - WINDOW_S:
            self._recent.popleft()
        due: dict[tuple[str, str], int] = {}
        started: dict[tuple[str, str], int] = {}
        missed: dict[tuple[str, str], int] = {}
        begin = min((float(r["t0"]) for r in self._recent), default=now)
        end = max((float(r["t1"]) for r in self._recent), default=now)
        span = max(end - begin, 1.0)
        for row in self._recent:
            key = (str(row.get("target")), str(row.get("scenario")))
            due[key] = due.get(key, 0) + int(row.get("due", 0))
            started[key] = started.get(key, 0) + int(row.get("started", 0))
            missed[key] = missed.get(key, 0) + int(row.get("missed", 0))
        self.by_scenario = {key: (due[key] / span, started.get(key, 0) / span, missed.get(key, 0)) for key in due}
        totals: dict[str, tuple[float, float, int]] = {}
        for (target, _), (planned, begun, _) in self.by_scenario.items():
            old = totals.get(target, (0.0, 0.0, 0))
            totals[target] = (old[0] + planned, old[1] + begun, self._missed.get(target, 0))
        return totals


def _p95(rows: list[dict[str, Any]], name: str) -> float | None:
    """The exact p95 (merged HDR histograms) of the ok samples of ``name`` (``http``: every HTTP
    sample) in the window."""
    from analysis.hdr import HistogramSet, HistogramStore

    if name == "http":
        chosen = [r["hist"] for r in rows if r.get("kind") == "http" and r.get("outcome") == "ok" and r.get("hist")]
    else:
        chosen = [r["hist"] for r in rows if r.get("name") == name and r.get("outcome") == "ok" and r.get("hist")]
    if not chosen:
        return None
    store = HistogramStore.from_encoded(chosen)
    ids = np.arange(len(chosen))
    histograms = HistogramSet.build(store, ids, np.zeros(len(chosen), dtype=np.int64), 1)
    return float(histograms.percentile_us(95)[0]) / 1000.0
