"""One line of ``samples.jsonl``: one series (target, kind, name, user_class, outcome) in one
interval [t0, t1), with its counts and, for samples that have a latency, an encoded HDR histogram
(integer microseconds). Lines from several workers for the same series and interval simply add.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

SeriesKey = tuple[str, str, str, str, str]  # target, kind, name, user_class, outcome


@dataclass(frozen=True, slots=True)
class SampleRow:
    t0: float
    t1: float
    target: str
    kind: str
    name: str
    user_class: str
    outcome: str
    count: int  # samples, timed or not (a timeout has no latency)
    timed: int  # samples in the histogram
    nbytes: int
    overflow: int  # latencies beyond the histogram's range: counted, never clipped
    hist: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleRow:
        return cls(**{name: data[name] for name in cls.__slots__})
