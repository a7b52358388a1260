"""Samplers: one method, ``sample() -> ResourceSample | None``.

``ProcessTreeSampler`` reads a local process and all its descendants with psutil (blue runs
several workers: memory is the sum over the tree). CPU is the tree's CPU time spent since the
previous sample over the wall time between them, in percent of one core (like ``top``), so a
process that forks a worker between two samples is counted from its birth, not lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psutil


@dataclass(frozen=True, slots=True)
class ResourceSample:
    time: float
    role: str  # "target" or "generator"
    color: str
    pids: tuple[int, ...]
    rss_mb: float
    cpu_pct: float | None  # None on the first sample: no interval to measure over yet
    connections: int | None = None  # None: not measured by this sampler

    def as_row(self) -> tuple[object, ...]:
        cpu = "" if self.cpu_pct is None else round(self.cpu_pct, 2)
        conns = "" if self.connections is None else self.connections
        pids = " ".join(map(str, self.pids))
        return (round(self.time, 3), self.role, self.color, pids, round(self.rss_mb, 2), cpu, conns)


class Sampler(Protocol):
    role: str
    color: str

    def sample(self) -> ResourceSample | None: ...


class ProcessTreeSampler:
    def __init__(self, pid: int, *, role: str, color: str, clock: Callable[[], float] = time.time) -> None:
        self.role = role
        self.color = color
        self._root = psutil.Process(pid)
        self._clock = clock
        self._cpu_seen: dict[int, float] = {}
        self._last_wall: float | None = None

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> ResourceSample | None:
        now = self._clock()
        rss, cpu_spent, pids = 0, 0.0, []
        seen: dict[int, float] = {}
        for process in self._tree():
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    created = process.create_time()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total = times.user + times.system
            seen[process.pid] = total
            pids.append(process.pid)
            previous = self._cpu_seen.get(process.pid)
            if previous is None:
                # A process born since the last sample spent all its CPU time inside the interval.
                previous = 0.0 if self._last_wall is not None and created >= self._last_wall else total
            cpu_spent += max(total - previous, 0.0)
        if not pids:
            return None
        cpu_pct = None
        if self._last_wall is not None and now > self._last_wall:
            cpu_pct = 100.0 * cpu_spent / (now - self._last_wall)
        self._cpu_seen, self._last_wall = seen, now
        return ResourceSample(now, self.role, self.color, tuple(pids), rss / 1024 / 1024, cpu_pct)


class PrometheusSampler:
    """A remote target's own figures from its Prometheus ``/metrics``: ``process_resident_memory_bytes``
    and the rate of ``process_cpu_seconds_total`` (percent of one core). A deployment that runs
    several worker processes behind one port answers for whichever worker took the scrape unless it
    exports multiprocess metrics: the sample says what the endpoint says, no more."""

    def __init__(self, metrics_url: str, *, role: str, color: str, clock: Callable[[], float] = time.time) -> None:
        import httpx

        self.role = role
        self.color = color
        self.metrics_url = metrics_url
        self._client = httpx.Client(timeout=2.0)
        self._clock = clock
        self._last: tuple[float, float] | None = None  # (wall, cpu seconds)

    def sample(self) -> ResourceSample | None:
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        now = self._clock()
        try:
            response = self._client.get(self.metrics_url)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        values: dict[str, float] = {}
        try:
            for family in text_string_to_metric_families(response.text):
                for sample in family.samples:
                    if sample.name in ("process_resident_memory_bytes", "process_cpu_seconds_total"):
                        values[sample.name] = values.get(sample.name, 0.0) + float(sample.value)
        except ValueError:
            return None
        if "process_resident_memory_bytes" not in values:
            return None
        cpu_pct = None
        cpu_total = values.get("process_cpu_seconds_total")
        if cpu_total is not None:
            if self._last is not None and now > self._last[0]:
                cpu_pct = max(0.0, 100.0 * (cpu_total - self._last[1]) / (now - self._last[0]))
            self._last = (now, cpu_total)
        rss_mb = values["process_resident_memory_bytes"] / 1024 / 1024
        return ResourceSample(now, self.role, self.color, (), rss_mb, cpu_pct)


def listening_pid(port: int) -> int | None:
    """The local process listening on TCP ``port`` (loopback or any address), if this user may see it."""
    try:
        connections = psutil.net_connections("tcp")
    except psutil.AccessDenied:
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None
