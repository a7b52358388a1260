"""The rows of the run directory's per-interval files (``loadtests.recorder.rundir`` reads and
writes them).

``SampleRow``, one line of ``samples.jsonl``: one series (target, kind, name, user_class, outcome)
in one interval [t0, t1), with its counts and, for samples that have a latency, an encoded HDR
histogram (integer microseconds). Lines from several workers for the same series and interval
simply add.

``ArrivalsRow``, one line of ``arrivals.jsonl``: one open-model scenario of one target in one
interval (``loadtests.recorder.schedule``): arrivals due, started and missed, and HDR histograms of
the generator's own lateness and of the waits for a free slot. Rows from several processes add.

``ConnectionsRow``, one line of ``connections.jsonl``: the swarm's connection counters of one
(target, user_class, process) in one interval (``loadtests.swarm.gauge``). Rows of the same
interval from several processes add up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True, slots=True)
class ConnectionsRow:
    t0: float  # the interval [t0, t1), epoch seconds
    t1: float
    target: str
    user_class: str
    node: str  # the Locust process ("local", or a worker's id): rows of one interval add up over nodes
    open: int  # connections open (ready) at t1
    peak: int  # most open at once during the interval (in this process)
    low: int  # fewest open at once during the interval (in this process)
    opened: int  # connects that ended ready (first connects, churn reopenings, reconnects)
    closed: int  # closed on purpose (churn, user stop)
    dropped: int  # lost without being asked to (each also a `swarm.drop` sample)
    reconnected: int  # drops recovered by the bounded reconnect
    gave_up: int  # drops (or first connects) the reconnect policy gave up on
    failures: dict[str, int] = field(default_factory=dict)  # failed connect attempts by kind

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectionsRow:
        return cls(**{name: data[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class ArrivalsRow:
    t0: float  # the interval [t0, t1) the arrivals were due in, epoch seconds
    t1: float
    target: str
    scenario: str
    due: int  # arrivals planned in the interval
    started: int  # started (within start_within_s of their time)
    missed: int  # not started: every slot busy until start_within_s passed (k6's dropped iterations)
    pacing: str | None  # HDR (µs): how late the generator woke for each arrival (its own pacing error)
    waited: str | None  # HDR (µs): each started arrival's wait for a free slot

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArrivalsRow:
        return cls(**{name: data[name] for name in cls.__slots__})
