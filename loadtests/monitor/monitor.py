"""``ResourceMonitor``: a background thread that asks each sampler once per interval and appends
the rows to ``resources.csv`` as it goes (flushed each time: a killed run keeps what it sampled)."""

from __future__ import annotations

import logging
import threading
import time

from loadtests.monitor.sampler import ResourceSample, Sampler
from loadtests.recorder.writers import ResourcesWriter

log = logging.getLogger(__name__)


class ResourceMonitor:
    def __init__(self, writer: ResourcesWriter, *, interval_s: float = 1.0) -> None:
        self._writer = writer
        self._interval_s = interval_s
        self._samplers: list[Sampler] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latest: dict[tuple[str, str], ResourceSample] = {}
        self.write_error: str | None = None

    def add(self, sampler: Sampler) -> None:
        with self._lock:
            self._samplers.append(sampler)

    def sample_once(self) -> list[ResourceSample]:
        with self._lock:
            samplers = list(self._samplers)
        samples = []
        for sampler in samplers:
            try:
                sample = sampler.sample()
            except Exception as error:  # a sampler must never end the run; say so once per failure
                log.warning("resource sampler %s/%s failed: %s", sampler.role, sampler.color, error)
                continue
            if sample is not None:
                samples.append(sample)
                self.latest[(sample.role, sample.color)] = sample
        try:
            self._writer.write(sample.as_row() for sample in samples)
        except OSError as error:
            if self.write_error is None:  # noted once; the run's manifest says what was lost
                self.write_error = f"resources.csv could not be written ({error.strerror}); sampling stopped"
                log.error("loadbench: %s", self.write_error)
            self._stop.set()
        return samples

    def _loop(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_tick += self._interval_s
            self._stop.wait(max(0.0, next_tick - time.monotonic()))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="resource-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._writer.close()
