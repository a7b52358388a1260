"""Exact recording: intervals, outcomes, and merges that equal the union of samples."""

from __future__ import annotations

import random

import numpy as np

from loadtests.recorder.histogram import HIGHEST_US, merge, new_histogram, record_many
from loadtests.recorder.interval import IntervalRecorder
from loadtests.recorder.rows import SampleRow

KEY = ("green", "sio", "chat.complete", "ChatUser", "ok")


def test_rotate_returns_one_row_per_series_and_starts_over() -> None:
    clock = iter([100.0, 101.0, 102.0]).__next__
    recorder = IntervalRecorder(clock=clock)
    recorder.record(KEY, 1500, nbytes=10)
    recorder.record(KEY, 2500)
    recorder.record(("green", "sio", "chat.complete", "ChatUser", "timeout"), None)
    rows = {row.outcome: row for row in recorder.rotate()}
    assert rows["ok"].count == 2 and rows["ok"].timed == 2 and rows["ok"].nbytes == 10
    assert (rows["ok"].t0, rows["ok"].t1) == (100.0, 101.0)
    assert rows["timeout"].count == 1 and rows["timeout"].timed == 0 and rows["timeout"].hist is None
    assert recorder.rotate() == []


def test_overflow_is_counted_not_clipped() -> None:
    recorder = IntervalRecorder()
    recorder.record(KEY, HIGHEST_US * 10)
    (row,) = recorder.rotate()
    assert row.count == 1 and row.overflow == 1 and row.timed == 0


def test_merged_worker_histograms_equal_the_union() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(11, 0.8)) + 1 for _ in range(20_000)]
    workers = [IntervalRecorder() for _ in range(3)]
    union = new_histogram()
    for index, value in enumerate(values):
        workers[index % 3].record(KEY, value)
        union.record_value(value)
    encoded = [row.hist for worker in workers for row in worker.rotate() if row.hist]
    merged = merge(encoded)
    assert merged.get_total_count() == len(values)
    for percentile in (50, 90, 95, 99, 99.9, 100):
        assert merged.get_value_at_percentile(percentile) == union.get_value_at_percentile(percentile)


def test_hdr_percentile_is_within_a_tenth_of_a_percent_of_exact() -> None:
    rng = random.Random(3)
    values = sorted(int(rng.uniform(150_000, 250_000)) for _ in range(50_000))
    histogram = new_histogram()
    for value in values:
        histogram.record_value(value)
    exact = values[int(0.95 * len(values)) - 1]
    assert abs(histogram.get_value_at_percentile(95) - exact) / exact < 0.001


def test_rows_round_trip_through_json() -> None:
    recorder = IntervalRecorder()
    recorder.record(KEY, 1234)
    (row,) = recorder.rotate()
    import json

    assert SampleRow.from_dict(json.loads(row.to_json())) == row


def test_vectorised_recording_equals_one_by_one() -> None:
    rng = random.Random(11)
    values = [int(rng.lognormvariate(9, 2.5)) for _ in range(50_000)] + [0, 1, 2, HIGHEST_US, HIGHEST_US * 4]
    one_by_one, overflow = new_histogram(), 0
    for value in values:
        overflow += not one_by_one.record_value(max(value, 1))
    vectorised = new_histogram()
    assert record_many(vectorised, np.array(values)) == overflow == 1
    assert vectorised.encode() == one_by_one.encode()
    assert (vectorised.get_min_value(), vectorised.get_max_value()) == (
        one_by_one.get_min_value(),
        one_by_one.get_max_value(),
    )
