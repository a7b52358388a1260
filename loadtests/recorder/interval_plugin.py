"""Per-interval rows from every Locust process into the run directory: the plumbing the recorder
(``RecorderPlugin``: latency samples) and the swarm's gauge (``ConnectionsPlugin``: connections
open) share.

- local runner and workers: a greenlet closes an interval every ``interval_s``, aligned to the
  wall clock so that the rows of every process share interval bounds;
- local runner: an interval's rows are written at once;
- worker: they wait in memory and travel to the master with Locust's own stats reports
  (``report_to_master`` → ``worker_report``); when the test stops, the last interval goes at
  once as the plugin's final message instead of waiting for the next report;
- master: writes what its workers send (it closes no interval of its own).

A subclass names its report key and final message, and says what an interval's rows are
(``rotate``), how they are written (``write``) and read back from a message (``decode``); it may
add fields to every message (``report_fields``) and hear who sent what (``received``).
Listeners fire in the order plugins were created, for every hook alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.recorder.writers import JsonRow

R = TypeVar("R", bound=JsonRow)


class IntervalPlugin(Generic[R]):
    rows_key: ClassVar[str]  # where a worker's rows travel in its stats reports and final message
    final_message: ClassVar[str]  # the message carrying a worker's last interval

    def __init__(self, environment: Environment, *, run_dir: Path | None, interval_s: float) -> None:
        self.environment = environment
        self.run_dir = run_dir
        self.interval_s = interval_s
        self._pending: list[R] = []  # worker: closed intervals not yet sent
        self._flusher: gevent.Greenlet | None = None
        events = environment.events
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        events.report_to_master.add_listener(self.on_report_to_master)
        events.worker_report.add_listener(self.on_worker_report)
        events.quitting.add_listener(self.on_quitting)
        if self.is_master:
            environment.runner.register_message(self.final_message, self.on_final_message)  # type: ignore[union-attr]

    # -- what a subclass says -----------------------------------------------------------------
    def rotate(self) -> list[R]:
        """Close this process's interval: its rows (the counters start again)."""
        raise NotImplementedError

    def write(self, rows: list[R]) -> None:
        """Write rows into the run directory (local runner, master)."""
        raise NotImplementedError

    def decode(self, line: str) -> R:
        raise NotImplementedError

    def begin(self) -> None:
        """The test starts: the first interval starts now."""

    def report_fields(self) -> dict[str, Any]:
        """More fields for every report and final message a worker sends."""
        return {}

    def received(self, node: str, rows: list[R], data: dict[str, Any], *, final: bool) -> None:
        """Master: a worker's report (or, ``final``, its last interval) arrived."""
        self.write(rows)

    # -- roles --------------------------------------------------------------------------------
    @property
    def is_worker(self) -> bool:
        return isinstance(self.environment.runner, WorkerRunner)

    @property
    def is_master(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    # -- intervals ----------------------------------------------------------------------------
    def close_interval(self) -> list[R]:
        rows = self.rotate()
        if self.is_worker:
            self._pending.extend(rows)
        else:
            self.write(rows)
        return rows

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(self.interval_s - (time.time() % self.interval_s))
            self.close_interval()

    def _payload(self) -> dict[str, Any]:
        rows, self._pending = self._pending, []
        return {self.rows_key: [row.to_json() for row in rows], **self.report_fields()}

    def _rows(self, data: dict[str, Any]) -> list[R]:
        return [self.decode(line) for line in data.get(self.rows_key) or []]

    # -- Locust's hooks -----------------------------------------------------------------------
    def on_test_start(self, **_: Any) -> None:
        if self.is_master:
            return
        self.begin()
        if self._flusher is None:
            self._flusher = gevent.spawn(self._flush_loop)

    def on_test_stop(self, **_: Any) -> None:
        if self._flusher is not None:
            self._flusher.kill(block=False)
            self._flusher = None
        if self.is_master:
            return  # workers' last rows come as their final messages
        self.close_interval()
        if self.is_worker:  # the last interval now, not at the next stats report
            self.environment.runner.send_message(self.final_message, self._payload())  # type: ignore[union-attr]

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        data.update(self._payload())

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        self.received(client_id, self._rows(data), data, final=False)

    def on_final_message(self, environment: Environment, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        self.received(msg.node_id, self._rows(data), data, final=True)

    def on_quitting(self, **_: Any) -> None:
        """The process ends: close what is open."""
