"""Exact latency histograms: HdrHistogram in integer microseconds, 3 significant digits.

Why HDR and not Locust's stats: ``locust.stats`` rounds response times to about two significant
digits (147 ms is stored as 150), so a true p95 anywhere in [195, 205] ms reads as 200 and the
"p95 < 200 ms" gate flips on rounding. HDR keeps 0.1 % resolution over 1 µs … 1 h in a fixed
footprint, and histograms add exactly, so worker histograms merge into the union of their samples.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is counted as overflow, never clipped silently
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded)


def merge(encoded_histograms: list[str]) -> HdrHistogram:
    """The sum of encoded histograms (all recorded with this module's layout)."""
    total = new_histogram()
    for encoded in encoded_histograms:
        total.decode_and_add(encoded)
    return total
