"""Wiring of the recorder into a Locust environment (local, master or worker).

- every process: the ``request`` listener records into an ``IntervalRecorder`` (O(1), no I/O);
- local runner: a greenlet closes an interval every ``interval_s`` and appends its rows to
  ``samples.jsonl``;
- worker: closed intervals wait in memory and travel to the master on ``report_to_master``
  (Locust's own messaging); the master appends them on ``worker_report``. Lines of the same series
  and interval from several workers add up at analysis time, so merged percentiles are those of
  the union of samples.

Ending a distributed run: Locust's headless master quits half a second after telling workers
to quit, while a worker first waits up to ``--stop-timeout`` for its users, so the last interval
of every worker would be lost. With ``end_after_s`` the master ends the run itself instead of
``--run-time``: it tells the workers to quit, waits (bounded) until each has sent its final
interval as a ``loadbench_final`` message, then quits itself.

Run events (spawning complete, stop) go to ``events.jsonl`` so analysis can cut the ramp-up.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadtests.recorder.interval import IntervalRecorder
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import RunDirectory
from loadtests.recorder.writers import RowsWriter

log = logging.getLogger(__name__)

_ROWS_KEY = "loadbench_rows"
_ERRORS_KEY = "loadbench_recorder_errors"
FINAL_MESSAGE = "loadbench_final"
FINAL_REPORTS_WAIT_S = 15.0


class RecorderPlugin:
    def __init__(
        self,
        environment: Environment,
        *,
        run_dir: Path | None,
        interval_s: float = 1.0,
        end_after_s: float | None = None,
    ) -> None:
        self.environment = environment
        self.interval_s = interval_s
        self.end_after_s = end_after_s
        self._final_from: set[str] = set()
        self._stats_after_final: set[str] = set()
        self._ender: gevent.Greenlet | None = None
        self._watcher: gevent.Greenlet | None = None
        self._users: gevent.Greenlet | None = None
        self._lost: set[str] = set()
        self.recorder = IntervalRecorder()
        self.run_dir = run_dir
        self._writer: RowsWriter[SampleRow] | None = None
        self._write_failed = False
        self._pending: list[SampleRow] = []
        self._flusher: gevent.Greenlet | None = None
        self._worker_errors: dict[str, int] = {}
        events = environment.events
        events.request.add_listener(self.on_request)
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        events.spawning_complete.add_listener(self.on_spawning_complete)
        events.report_to_master.add_listener(self.on_report_to_master)
        events.worker_report.add_listener(self.on_worker_report)
        events.quitting.add_listener(self.on_quitting)
        if self._is_master:
            environment.runner.register_message(FINAL_MESSAGE, self.on_final_message)  # type: ignore[union-attr]

    # -- roles --------------------------------------------------------------------------------
    @property
    def _is_worker(self) -> bool:
        return isinstance(self.environment.runner, WorkerRunner)

    @property
    def _is_master(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    def _ensure_writer(self) -> RowsWriter[SampleRow] | None:
        if self._writer is None and self.run_dir is not None and not self._is_worker:
            self._writer = RunDirectory(self.run_dir).samples_writer()
        return self._writer

    def _write(self, rows: list[SampleRow]) -> None:
        if self._write_failed or (writer := self._ensure_writer()) is None:
            return
        try:
            writer.write(rows)
        except OSError as error:
            # Measuring on without recording would lose the run silently: stop it, say why, and
            # let the orchestrator mark it partial (Locust exits with 4).
            self._write_failed = True
            log.error("loadbench: cannot write %s: %s; stopping the run", writer.path.name, error.strerror)
            self.environment.process_exit_code = 4
            if self.environment.runner is not None:
                gevent.spawn(self.environment.runner.quit)

    def write_event(self, event: str, **fields: Any) -> None:
        if self.run_dir is None or self._is_worker or self._write_failed:
            return
        try:
            RunDirectory(self.run_dir).append_event(event, **fields)
        except OSError as error:
            log.error("loadbench: cannot write the run's events: %s", error.strerror)

    # -- the request path ---------------------------------------------------------------------
    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int | None,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        try:
            try:  # the common case: a sample fired through loadtests.timing carries every field
                key = (context["target"], context["kind"], name, context["user_class"], context["outcome"])  # type: ignore[index]
            except (KeyError, TypeError):  # plain Locust users (e.g. FastHttpUser) carry none of them
                ctx = context or {}
                outcome = ctx.get("outcome") or ("error" if exception else "ok")
                key = (
                    str(ctx.get("target", "default")),
                    str(ctx.get("kind", request_type)),
                    name,
                    str(ctx.get("user_class", "")),
                    str(outcome),
                )
            self.recorder.record(
                key, None if response_time is None else round(response_time * 1000), response_length or 0
            )
        except Exception:  # Locust would log and swallow it; count it so the verdict can say so
            self.recorder.errors += 1

    # -- intervals ----------------------------------------------------------------------------
    def _close_interval(self) -> None:
        rows = self.recorder.rotate()
        if self._is_worker:
            self._pending.extend(rows)
        else:
            self._write(rows)

    def _users_loop(self) -> None:
        """Users running per target, once per interval, as ``users`` readings in figures.jsonl
        (the live view and the plots show users per color; Locust's own history has the total)."""
        colors = {
            cls.__name__: getattr(getattr(cls, "target", None), "color", None) for cls in self.environment.user_classes
        }
        figures = RunDirectory(self.run_dir).figures_writer() if self.run_dir is not None else None
        if figures is None:
            return
        while True:
            gevent.sleep(self.interval_s - (time.time() % self.interval_s))
            per_color: dict[str, int] = {color: 0 for color in colors.values() if color}
            counts = getattr(self.environment.runner, "user_classes_count", {}) or {}
            for name, count in counts.items():
                if colors.get(name):
                    per_color[colors[name]] += count
            try:
                for color, count in sorted(per_color.items()):
                    figures.write(color, "users", count)
            except OSError:
                return  # the samples writer reports a full disk; this gauge just stops

    def _flush_loop(self) -> None:
        while True:
            now = time.time()
            gevent.sleep(self.interval_s - (now % self.interval_s))
            self._close_interval()

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        if self._is_master:
            self._ensure_writer()
            self.write_event("test_start")
            if self.end_after_s is not None and self._ender is None:
                self._ender = gevent.spawn(self._end_distributed_run, self.end_after_s)
            if self._watcher is None:
                self._watcher = gevent.spawn(self._watch_workers)
            if self._users is None:
                self._users = gevent.spawn(self._users_loop)
            return
        self.recorder.rotate()  # drop anything recorded before the test (none expected)
        if self._flusher is None:
            self._flusher = gevent.spawn(self._flush_loop)
        if self._users is None and not self._is_worker:
            self._users = gevent.spawn(self._users_loop)
        self.write_event("test_start")

    def on_spawning_complete(self, user_count: int, **_: Any) -> None:
        # Full collections of a heap holding thousands of users dominate tail latencies
        # (research/feasibility.md): collect once, then keep the long-lived objects out of GC.
        gc.collect()
        gc.freeze()
        self.write_event("spawning_complete", user_count=user_count)

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        if self._flusher is not None:
            self._flusher.kill(block=False)
            self._flusher = None
        if self._users is not None:
            self._users.kill(block=False)
            self._users = None
        if self._is_worker:
            self.recorder_final()
        elif not self._is_master:
            self._close_interval()
        self.write_event("test_stop", recorder_errors=self.recorder.errors + sum(self._worker_errors.values()))

    # -- distributed ---------------------------------------------------------------------------
    def recorder_final(self) -> None:
        """Worker: send the last interval now, not at the next stats report."""
        rows, self._pending = [*self._pending, *self.recorder.rotate()], []
        data = {_ROWS_KEY: [row.to_json() for row in rows], _ERRORS_KEY: self.recorder.errors}
        self.environment.runner.send_message(FINAL_MESSAGE, data)  # type: ignore[union-attr]

    def on_final_message(self, environment: Environment, msg: Any, **_: Any) -> None:
        self._final_from.add(msg.node_id)
        self._write_worker_rows(msg.node_id, msg.data or {})

    def _watch_workers(self) -> None:
        """A worker that stops sending heartbeats is lost: say so once in ``events.jsonl`` (the
        orchestrator puts it in the manifest); Locust moves its users to the others and the run
        goes on."""
        runner = self.environment.runner
        while True:
            gevent.sleep(1.0)
            for client in list(runner.clients.all):  # type: ignore[union-attr]
                if client.state == STATE_MISSING and client.id not in self._lost:
                    self._lost.add(client.id)
                    log.warning("loadbench: worker %s stopped sending heartbeats", client.id)
                    self.write_event("worker_lost", worker=client.id)

    def _end_distributed_run(self, after_s: float) -> None:
        gevent.sleep(after_s)
        runner = self.environment.runner
        assert runner is not None
        # "quit" rather than Locust's "stop": a stopped worker sleeps --stop-timeout before it reads
        # its next message and the master forgets it meanwhile, so a later quit would never reach
        # it. On quit a worker stops its users (our test_stop listener sends the final interval),
        # sends its last stats and exits by itself, remote workers included.
        workers = {client.id for client in runner.clients.all} - self._lost  # type: ignore[attr-defined]
        for node_id in sorted(workers):
            runner.server.send_to_client(Message("quit", None, node_id))  # type: ignore[attr-defined]
        stop_timeout = float(self.environment.stop_timeout or 0)
        deadline = time.monotonic() + stop_timeout + FINAL_REPORTS_WAIT_S
        while not workers <= self._final_from and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if missing := sorted(workers - self._final_from):
            self.write_event("final_reports_missing", workers=missing)
        # A worker sends Locust's own last stats right after our final interval (same socket, in
        # order). Quitting before they arrive would leave Locust's stats.json and HTML a few
        # seconds short of the samples we recorded.
        while not (workers & self._final_from) <= self._stats_after_final and time.monotonic() < deadline:
            gevent.sleep(0.05)
        runner.quit()

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        rows, self._pending = self._pending, []
        data[_ROWS_KEY] = [row.to_json() for row in rows]
        data[_ERRORS_KEY] = self.recorder.errors

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        if client_id in self._final_from:
            self._stats_after_final.add(client_id)
        self._write_worker_rows(client_id, data)

    def _write_worker_rows(self, client_id: str, data: dict[str, Any]) -> None:
        self._worker_errors[client_id] = int(data.get(_ERRORS_KEY) or 0)
        lines = data.get(_ROWS_KEY) or []
        rows = [SampleRow.from_dict(json.loads(line)) for line in lines]
        if rows:
            self._write(rows)

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
