"""Exact HDR statistics at array speed.

The run directory stores one encoded HdrHistogram (V2, base64, integer microseconds) per series and
interval. ``hdrh`` can merge and query them, but it allocates a full counts array (23,552 counters)
per decode and walks every bucket in Python for each percentile: a run of ten million samples took
minutes. Here the encoded histograms are decoded in bulk with numpy into sparse rows of
``(bucket index, count)`` (``HistogramStore``, about 4 bytes per non-empty bucket), and any selection
of them is summed per group with integer arithmetic (``HistogramSet``).

Rule 1: the answers are the numbers ``hdrh`` gives for the merged histogram, bit for bit: the same
bucket layout (read from ``hdrh`` itself), the same percentile rule (the first bucket whose running
count reaches ``int(p * total / 100 + 0.5)``, reported as its highest equivalent value), the same
mean (bucket midpoints) and max. tests/analysis/test_hdr.py checks this on random data.

Rule 2: only the layout the recorder writes (``loadtests.recorder.histogram``: 1 µs … 1 h, 3
significant digits) is accepted; any other header is a format error, never a silent misreading.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

from loadtests.recorder.histogram import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, new_histogram

# HdrHistogram V2 wire format: base64( external header (cookie, length) + zlib( payload header +
# ZigZag LEB128 counts ) ). A negative count encodes a run of empty buckets.
_ENCODING_COOKIE = struct.pack(">I", 0x1C849303 | 0x10)
# normalizing index offset, significant figures, lowest, highest, int-to-double conversion ratio
_LAYOUT_TAIL = struct.pack(">IIQQd", 0, SIGNIFICANT_DIGITS, LOWEST_US, HIGHEST_US, 1.0)
_PAYLOAD_HEADER_BYTES = 40
_MAX_VARINT_BYTES = 8  # 9-byte varints only encode counts >= 2**55: impossible in one interval
_MAX_BUCKET_COUNT = 2**32  # loadtests.recorder.rundir.MAX_COUNT: a row's samples, so a bucket's too
# The largest decoded histogram: a 40-byte header and one varint (at most 8 bytes) per bucket.
_MAX_BODY_BYTES = 40 + 8 * 23_552  # 23,552 buckets: 1 µs … 1 h at 3 significant digits
_BATCH_BYTES = 1 << 20  # encoded characters decoded at once: bounds the temporaries of a load
_BATCH_BUCKETS = 1 << 20  # decoded buckets merged at once: bounds the temporaries of a query
_DENSE_LIMIT = 1 << 21  # buckets summed densely at once (16 MB of float64)


class HistogramFormatError(ValueError):
    """An encoded histogram that is not the recorder's layout, or is corrupt."""


@dataclass(frozen=True)
class Layout:
    """The bucket layout of the recorder's histograms, as ``hdrh`` computes it."""

    unit_magnitude: int
    sub_bucket_half_count_magnitude: int
    counts_len: int

    @property
    def sub_bucket_half_count(self) -> int:
        return 1 << self.sub_bucket_half_count_magnitude

    def value_from_index(self, index: np.ndarray) -> np.ndarray:
        """The lowest value of each bucket (``hdrh.get_value_from_index``)."""
        index = np.asarray(index, dtype=np.int64)
        bucket = (index >> self.sub_bucket_half_count_magnitude) - 1
        sub = (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count
        below = bucket < 0
        sub = np.where(below, sub - self.sub_bucket_half_count, sub)
        bucket = np.where(below, 0, bucket)
        return sub << (bucket + self.unit_magnitude)

    def _range_size(self, index: np.ndarray) -> np.ndarray:
        bucket = np.maximum((np.asarray(index, dtype=np.int64) >> self.sub_bucket_half_count_magnitude) - 1, 0)
        return np.left_shift(1, bucket + self.unit_magnitude)

    def highest_equivalent(self, index: np.ndarray) -> np.ndarray:
        """The highest value that falls into each bucket (what ``hdrh`` reports for percentiles and max)."""
        return self.value_from_index(index) + self._range_size(index) - 1

    def median_equivalent(self, index: np.ndarray) -> np.ndarray:
        """The middle of each bucket (what ``hdrh`` averages for the mean)."""
        return self.value_from_index(index) + (self._range_size(index) >> 1)


@cache
def layout() -> Layout:
    reference = new_histogram()
    return Layout(reference.unit_magnitude, reference.sub_bucket_half_count_magnitude, reference.counts_len)


def payloads_of(encoded: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The varint streams of encoded histograms, back to back, and their lengths, after checking
    that each has the recorder's layout."""
    payloads = []
    decompressobj, a2b_base64 = zlib.decompressobj, binascii.a2b_base64
    try:
        for text in encoded:
            # The 8-byte external header (cookie, length) is skipped: zlib's checksum catches corruption.
            inflater = decompressobj()
            body = inflater.decompress(a2b_base64(text)[8:], _MAX_BODY_BYTES)
            if inflater.unconsumed_tail:  # a "zip bomb": more than any histogram of this layout
                raise HistogramFormatError(f"histogram larger than {_MAX_BODY_BYTES} bytes decompressed")
            if body[8:_PAYLOAD_HEADER_BYTES] != _LAYOUT_TAIL or body[:4] != _ENCODING_COOKIE:
                raise HistogramFormatError(
                    f"not an HdrHistogram V2 histogram of the recorder's layout ({LOWEST_US} µs … "
                    f"{HIGHEST_US} µs, {SIGNIFICANT_DIGITS} significant digits)"
                )
            if int.from_bytes(body[4:8], "big") != len(body) - _PAYLOAD_HEADER_BYTES:
                raise HistogramFormatError("histogram payload length does not match its header")
            payloads.append(body[_PAYLOAD_HEADER_BYTES:])
    except (binascii.Error, zlib.error, TypeError) as error:
        raise HistogramFormatError(f"corrupt histogram: {error}") from None
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    raw = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    ends_of_streams = np.cumsum(lengths)[lengths > 0] - 1
    if len(ends_of_streams) and (raw[ends_of_streams] >= 0x80).any():
        raise HistogramFormatError("truncated histogram payload")
    return raw, lengths


def decode_payloads(raw: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode back-to-back varint streams into ``(non-empty buckets per stream, bucket index,
    count)``, buckets in stream order. Every stream must end on a varint's last byte."""
    if len(raw) == 0:
        empty = np.empty(0, dtype=np.int64)
        return np.zeros(len(lengths), dtype=np.int64), empty, empty
    # LEB128: a byte below 0x80 ends a varint. Almost every varint is one byte (counts below 64 and
    # short runs of empty buckets), so the first byte is taken for all and the rest only where needed.
    ends = np.flatnonzero(raw < 0x80)
    sizes = np.diff(ends, prepend=-1)
    longest = int(sizes.max())
    if longest > _MAX_VARINT_BYTES:
        raise HistogramFormatError("histogram count too large for this reader")
    begins = ends - (sizes - 1)
    value = (raw[begins] & 0x7F).astype(np.int64)
    longer = np.flatnonzero(sizes > 1)
    for byte in range(1, longest):
        longer = longer[sizes[longer] > byte]
        value[longer] |= (raw[begins[longer] + byte].astype(np.int64) & 0x7F) << (7 * byte)
    value = (value >> 1) ^ -(value & 1)  # ZigZag
    # Each value fills one bucket; a negative one skips that many empty buckets. Positions run on
    # across streams and are made relative to each stream's first varint.
    step = np.where(value < 0, -value, 1)
    position = np.cumsum(step) - step
    varints = np.diff(np.searchsorted(ends, np.cumsum(lengths), side="left"), prepend=0)
    first = np.cumsum(varints) - varints
    keep = value > 0
    kept = np.zeros(len(value) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    buckets = kept[first + varints] - kept[first]
    index = position[keep] - np.repeat(position[np.minimum(first, len(value) - 1)], buckets)
    if len(index) and index.max() >= layout().counts_len:
        raise HistogramFormatError("histogram bucket beyond the layout")
    if len(value) and value.max() > _MAX_BUCKET_COUNT:
        raise HistogramFormatError(f"histogram bucket count beyond {_MAX_BUCKET_COUNT:.4g}")
    return buckets, index, value[keep]


def _smallest_unsigned(largest: int) -> type:
    """Counts per bucket per interval are nearly always small: 2 bytes each instead of 8."""
    for dtype in (np.uint16, np.uint32):
        if largest <= np.iinfo(dtype).max:
            return dtype
    return np.int64


class HistogramStoreBuilder:
    """Collects encoded histograms one at a time (the loader streams the samples file) and decodes
    them in batches, so memory holds the decoded buckets and one batch of text, never all of it."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._pending_chars = 0
        self._index: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._per_hist: list[np.ndarray] = []
        self._size = 0

    def add(self, encoded: str) -> int:
        """Store one encoded histogram; returns its id."""
        self._pending.append(encoded)
        self._pending_chars += len(encoded)
        self._size += 1
        if self._pending_chars >= _BATCH_BYTES:
            self._flush()
        return self._size - 1

    def add_many(self, encoded: list[str | None]) -> np.ndarray:
        """Store many (``None``: no histogram, id -1); returns their ids."""
        present = [text for text in encoded if text is not None]
        ids = np.full(len(encoded), -1, dtype=np.int64)
        if len(present) == len(encoded):
            ids[:] = np.arange(self._size, self._size + len(present))
        else:
            ids[[index for index, text in enumerate(encoded) if text is not None]] = np.arange(
                self._size, self._size + len(present)
            )
        self._pending.extend(present)
        self._pending_chars += sum(map(len, present))
        self._size += len(present)
        if self._pending_chars >= _BATCH_BYTES:
            self._flush()
        return ids

    def _flush(self) -> None:
        if not self._pending:
            return
        raw, lengths = payloads_of(self._pending)
        buckets, index, counts = decode_payloads(raw, lengths)
        self._index.append(index.astype(np.uint16))
        self._counts.append(counts.astype(_smallest_unsigned(int(counts.max(initial=0)))))
        self._per_hist.append(buckets)
        self._pending, self._pending_chars = [], 0

    def build(self) -> HistogramStore:
        self._flush()
        offsets = np.zeros(self._size + 1, dtype=np.int64)
        if self._per_hist:
            np.cumsum(np.concatenate(self._per_hist), out=offsets[1:])
        index = np.concatenate(self._index) if self._index else np.empty(0, dtype=np.uint16)
        counts = np.concatenate(self._counts) if self._counts else np.empty(0, dtype=np.uint16)
        return HistogramStore(offsets, index, counts)


@dataclass(frozen=True)
class HistogramStore:
    """Decoded histograms as compressed sparse rows: histogram ``h`` has the buckets
    ``index[offsets[h]:offsets[h + 1]]`` with ``counts[...]`` samples each (4 bytes per bucket)."""

    offsets: np.ndarray  # int64, len = histograms + 1
    index: np.ndarray  # uint16 bucket index
    counts: np.ndarray  # uint16, or wider where a count needs it

    @classmethod
    def from_encoded(cls, encoded: list[str]) -> HistogramStore:
        builder = HistogramStoreBuilder()
        for item in encoded:
            builder.add(item)
        return builder.build()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.index.nbytes + self.counts.nbytes)

    def entries(self, ids: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The buckets of the histograms ``ids`` in batches: ``(position in ids, bucket index,
        count)``, positions non-decreasing."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        starts = self.offsets[ids]
        lengths = self.offsets[ids + 1] - starts
        cumulative = np.cumsum(lengths)
        first = 0
        while first < len(ids):
            # Whole histograms per batch, about _BATCH_BUCKETS buckets each (at least one histogram).
            base = cumulative[first - 1] if first else 0
            last = max(int(np.searchsorted(cumulative, base + _BATCH_BUCKETS, side="right")), first + 1)
            part = lengths[first:last]
            total = int(part.sum())
            within = np.arange(total) - np.repeat(np.cumsum(part) - part, part)
            entry = np.repeat(starts[first:last], part) + within
            position = np.repeat(np.arange(first, last, dtype=np.int64), part)
            yield position, self.index[entry].astype(np.int64), self.counts[entry].astype(np.int64)
            first = last


@dataclass(frozen=True)
class HistogramSet:
    """Merged histograms of ``groups`` groups as sparse sorted entries: ``key = group * L + index``.

    Every statistic is an array with one value per group (``-1`` / ``nan`` for an empty group).
    """

    groups: int
    keys: np.ndarray  # int64, sorted, unique
    counts: np.ndarray  # int64, > 0

    @classmethod
    def build(cls, store: HistogramStore, ids: np.ndarray, group_of: np.ndarray, groups: int) -> HistogramSet:
        """Sum the histograms ``ids`` into groups (``group_of[i]`` is the group of ``ids[i]``)."""
        length = layout().counts_len
        ids = np.asarray(ids, dtype=np.int64)
        group_of = np.asarray(group_of, dtype=np.int64)
        order = np.argsort(group_of, kind="stable")  # entries then arrive group after group
        ids, group_of = ids[order], group_of[order]
        parts_keys, parts_counts = [], []
        for position, index, count in store.entries(ids):
            group = group_of[position]
            for keys, counts in _sum_by_group(group, index, count, length):
                parts_keys.append(keys)
                parts_counts.append(counts)
        if not parts_keys:
            return cls(groups, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
        keys, counts = np.concatenate(parts_keys), np.concatenate(parts_counts)
        if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):  # a group split across two batches
            keys, counts = _reduce(keys, counts)
        return cls(groups, keys, counts)

    @property
    def _group_of_entry(self) -> np.ndarray:
        return self.keys // layout().counts_len

    @property
    def _index_of_entry(self) -> np.ndarray:
        return self.keys % layout().counts_len

    def _bounds(self) -> np.ndarray:
        """Entries of group g are ``[bounds[g], bounds[g + 1])``."""
        return np.searchsorted(self._group_of_entry, np.arange(self.groups + 1), side="left")

    def _cumulative(self) -> np.ndarray:
        cumulative = np.zeros(len(self.counts) + 1, dtype=np.int64)
        np.cumsum(self.counts, out=cumulative[1:])
        return cumulative

    def totals(self) -> np.ndarray:
        bounds, cumulative = self._bounds(), self._cumulative()
        return cumulative[bounds[1:]] - cumulative[bounds[:-1]]

    def percentile_us(self, percentile: float) -> np.ndarray:
        """``hdrh.get_value_at_percentile`` of each group's merged histogram (-1 when empty)."""
        bounds, cumulative = self._bounds(), self._cumulative()
        totals = cumulative[bounds[1:]] - cumulative[bounds[:-1]]
        requested = min(float(percentile), 100.0)
        # hdrh: int(((requested * total / 100)) + 0.5), at least 1 (same float operations, same order)
        wanted = np.maximum(np.floor(requested * totals.astype(np.float64) / 100 + 0.5).astype(np.int64), 1)
        position = np.searchsorted(cumulative[1:], cumulative[bounds[:-1]] + wanted, side="left")
        position = np.minimum(position, max(len(self.counts) - 1, 0))
        index = self._index_of_entry[position] if len(self.counts) else np.zeros(self.groups, dtype=np.int64)
        lay = layout()
        values = lay.highest_equivalent(index) if percentile else lay.value_from_index(index)
        return np.where(totals > 0, values, -1)

    def max_us(self) -> np.ndarray:
        bounds = self._bounds()
        totals = self.totals()
        last = np.maximum(bounds[1:] - 1, 0)
        index = self._index_of_entry[last] if len(self.counts) else np.zeros(self.groups, dtype=np.int64)
        return np.where(totals > 0, layout().highest_equivalent(index), -1)

    def min_us(self) -> np.ndarray:
        bounds = self._bounds()
        totals = self.totals()
        first = np.minimum(bounds[:-1], max(len(self.counts) - 1, 0))
        index = self._index_of_entry[first] if len(self.counts) else np.zeros(self.groups, dtype=np.int64)
        return np.where(totals > 0, layout().value_from_index(index), -1)

    def mean_us(self) -> np.ndarray:
        bounds = self._bounds()
        values = layout().median_equivalent(self._index_of_entry)
        # Exact integer sums, as hdrh, unless they could pass 2**63 (counts near their caps): then float64.
        largest = int(values.max()) if len(values) else 0
        dtype = np.int64 if int(self.counts.sum()) * largest < 2**62 else np.float64
        weighted = np.zeros(len(self.counts) + 1, dtype=dtype)
        np.cumsum(self.counts.astype(dtype) * values.astype(dtype), out=weighted[1:])
        totals = self.totals()
        sums = weighted[bounds[1:]] - weighted[bounds[:-1]]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, sums.astype(np.float64) / totals, np.nan)

    def group(self, group: int) -> Histogram:
        bounds = self._bounds()
        entries = slice(bounds[group], bounds[group + 1])
        return Histogram(HistogramSet(1, self._index_of_entry[entries], self.counts[entries]))

    def cdf(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """``(highest value of each non-empty bucket in µs, share of samples at or below it)``."""
        histogram = self.group(group).merged
        if not len(histogram.counts):
            return np.empty(0), np.empty(0)
        cumulative = np.cumsum(histogram.counts)
        return layout().highest_equivalent(histogram.keys).astype(np.float64), cumulative / cumulative[-1]


def _sum_by_group(
    group: np.ndarray, index: np.ndarray, count: np.ndarray, length: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sums of equal ``(group, index)`` in a batch whose ``group`` is non-decreasing, as sorted
    ``(group * length + index, sum)``. A block of groups at a time is summed densely (bincount), or
    by sorting when it has few entries; either way the sums are exact integers."""
    per_block = max(1, _DENSE_LIMIT // length)
    last = int(group[-1])
    for block in range(int(group[0]), last + 1, per_block):
        low, high = np.searchsorted(group, [block, block + per_block], side="left")
        if low == high:
            continue
        local = (group[low:high] - block) * length + index[low:high]
        span = (min(block + per_block, last + 1) - block) * length
        if (high - low) * 16 < span:
            keys, sums = _reduce(local, count[low:high])
        else:
            dense = np.bincount(local, weights=count[low:high], minlength=span)  # float64: exact below 2**53
            keys = np.flatnonzero(dense)
            sums = dense[keys].astype(np.int64)
        yield keys + block * length, sums


def _reduce(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``counts`` of equal ``keys``; returns sorted unique keys (integer sums: exact)."""
    if len(keys) == 0:
        return keys.astype(np.int64), counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(counts.astype(np.int64), starts)


@dataclass(frozen=True)
class Histogram:
    """One merged histogram (the ``ok`` samples of a selection); values in microseconds."""

    merged: HistogramSet

    @classmethod
    def of(cls, store: HistogramStore, ids: np.ndarray) -> Histogram:
        ids = np.asarray(ids, dtype=np.int64)
        return cls(HistogramSet.build(store, ids, np.zeros(len(ids), dtype=np.int64), 1))

    @classmethod
    def empty(cls) -> Histogram:
        return cls(HistogramSet(1, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)))

    def get_total_count(self) -> int:
        return int(self.merged.totals()[0])

    def get_value_at_percentile(self, percentile: float) -> int:
        return max(int(self.merged.percentile_us(percentile)[0]), 0)

    def get_max_value(self) -> int:
        return max(int(self.merged.max_us()[0]), 0)

    def get_min_value(self) -> int:
        return max(int(self.merged.min_us()[0]), 0)

    def get_mean_value(self) -> float:
        mean = float(self.merged.mean_us()[0])
        return 0.0 if np.isnan(mean) else mean
