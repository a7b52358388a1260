"""Per-interval recording: the request listener's O(1) side.

``IntervalRecorder.record`` looks up the series of (target, kind, name, user_class, outcome) and
appends one integer; ``rotate`` turns each series' values into an HDR histogram in one vectorised
step, hands the finished interval over as ``SampleRow``s (encoded histograms) and starts a new one.
Memory is bounded by the number of series and one interval's samples, not by run length.

Not thread-safe by design: under Locust every listener runs in a greenlet of one OS thread, and
``record`` does not yield, so no lock is needed on the request path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram

from loadtests.recorder.histogram import new_histogram, record_many
from loadtests.recorder.rows import SampleRow, SeriesKey


@dataclass(slots=True)
class _Series:
    count: int = 0
    nbytes: int = 0
    latencies_us: list[int] = field(default_factory=list)


class IntervalRecorder:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._series: dict[SeriesKey, _Series] = {}
        self._started = clock()
        self.errors = 0  # listener failures (Locust logs and swallows them; we count them)

    def record(self, key: SeriesKey, latency_us: int | None, nbytes: int = 0) -> None:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.count += 1
        series.nbytes += nbytes
        if latency_us is not None:
            series.latencies_us.append(latency_us)

    def rotate(self) -> list[SampleRow]:
        """Close the current interval and return its rows (one per series seen in it)."""
        now = self._clock()
        series, self._series = self._series, {}
        start, self._started = self._started, now
        rows = []
        for key, s in series.items():
            hist: HdrHistogram | None = None
            overflow = 0
            if s.latencies_us:
                hist = new_histogram()
                overflow = record_many(hist, np.array(s.latencies_us, dtype=np.int64))
            rows.append(
                SampleRow(
                    t0=round(start, 3),
                    t1=round(now, 3),
                    target=key[0],
                    kind=key[1],
                    name=key[2],
                    user_class=key[3],
                    outcome=key[4],
                    count=s.count,
                    timed=hist.get_total_count() if hist else 0,
                    nbytes=s.nbytes,
                    overflow=overflow,
                    hist=hist.encode().decode("ascii") if hist and hist.get_total_count() else None,
                )
            )
        return rows
