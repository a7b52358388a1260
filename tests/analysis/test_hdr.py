"""The array-speed HDR reader gives exactly what ``hdrh`` gives on the merged histograms."""

from __future__ import annotations

import random

import numpy as np
import pytest

from analysis.hdr import Histogram, HistogramFormatError, HistogramSet, HistogramStore, layout
from loadtests.recorder.histogram import HIGHEST_US, merge, new_histogram


def random_histograms(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    encoded = []
    for _ in range(count):
        histogram = new_histogram()
        median = rng.choice([50, 3_000, 200_000, 30_000_000])  # µs: from 50 µs to 30 s
        for _ in range(rng.randint(1, 400)):
            value = max(1, int(rng.lognormvariate(0, rng.uniform(0.05, 2.0)) * median))
            histogram.record_value(min(value, HIGHEST_US), rng.choice([1, 1, 1, 7, 250]))
        encoded.append(histogram.encode().decode("ascii"))
    return encoded


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grouped_statistics_equal_hdrh_on_the_merged_histograms(seed: int) -> None:
    encoded = random_histograms(seed, 120)
    store = HistogramStore.from_encoded(encoded)
    groups = np.array([index % 4 for index in range(len(encoded))])
    merged = HistogramSet.build(store, np.arange(len(encoded)), groups, 5)  # group 4 stays empty
    for group in range(4):
        reference = merge([text for index, text in enumerate(encoded) if index % 4 == group])
        assert merged.totals()[group] == reference.get_total_count()
        for percentile in (0, 0.1, 25, 50, 90, 95, 99, 99.9, 99.99, 100):
            assert merged.percentile_us(percentile)[group] == reference.get_value_at_percentile(percentile), percentile
        assert merged.max_us()[group] == reference.get_max_value()
        assert merged.mean_us()[group] == reference.get_mean_value()
    assert merged.totals()[4] == 0 and merged.percentile_us(95)[4] == -1 and np.isnan(merged.mean_us()[4])


def test_a_selection_merges_only_its_histograms() -> None:
    encoded = random_histograms(9, 30)
    store = HistogramStore.from_encoded(encoded)
    chosen = [3, 17, 4, 29]
    histogram = Histogram.of(store, np.array(chosen))
    reference = merge([encoded[index] for index in chosen])
    assert histogram.get_total_count() == reference.get_total_count()
    assert histogram.get_value_at_percentile(95) == reference.get_value_at_percentile(95)
    assert Histogram.of(store, np.array([], dtype=np.int64)).get_total_count() == 0


def test_small_batches_give_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import analysis.hdr as hdr

    encoded = random_histograms(4, 60)
    expected = HistogramSet.build(HistogramStore.from_encoded(encoded), np.arange(60), np.arange(60) % 3, 3)
    monkeypatch.setattr(hdr, "_BATCH_BYTES", 300)  # decode a few histograms at a time
    monkeypatch.setattr(hdr, "_BATCH_BUCKETS", 50)  # merge a few buckets at a time: groups straddle batches
    monkeypatch.setattr(hdr, "_DENSE_LIMIT", 1)  # one group per dense block
    got = HistogramSet.build(HistogramStore.from_encoded(encoded), np.arange(60), np.arange(60) % 3, 3)
    assert np.array_equal(got.keys, expected.keys) and np.array_equal(got.counts, expected.counts)


def test_layout_is_hdrh_s() -> None:
    reference = new_histogram()
    lay = layout()
    indexes = np.array([0, 1, 1023, 1024, 2047, 2048, 5000, lay.counts_len - 1])
    assert list(lay.value_from_index(indexes)) == [reference.get_value_from_index(int(i)) for i in indexes]
    assert list(lay.highest_equivalent(indexes)) == [
        reference.get_highest_equivalent_value(reference.get_value_from_index(int(i))) for i in indexes
    ]


def test_a_histogram_of_another_layout_is_refused() -> None:
    from hdrh.histogram import HdrHistogram

    other = HdrHistogram(1, 60_000_000, 2)
    other.record_value(1000)
    with pytest.raises(HistogramFormatError, match="layout"):
        HistogramStore.from_encoded([other.encode().decode("ascii")])


@pytest.mark.parametrize("bad", ["not base64!", "SElTVEZBQUFBQ2w0bkpOcG1Tek13TUFBQ"])
def test_a_corrupt_histogram_is_an_error(bad: str) -> None:
    with pytest.raises(HistogramFormatError):
        HistogramStore.from_encoded([bad])
