"""Wiring of the recorder into a Locust environment (local, master or worker).

- every process: the ``request`` listener records into an ``IntervalRecorder`` (O(1), no I/O);
- per interval, the rows go to ``samples.jsonl`` the way every per-interval plugin's do
  (``loadtests.recorder.interval_plugin``): the local runner appends them, workers send them to
  the master with Locust's own reports and the master appends them. Lines of the same series and
  interval from several workers add up at analysis time, so merged percentiles are those of the
  union of samples.

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
from locust.runners import STATE_MISSING

from loadtests.recorder.interval import IntervalRecorder
from loadtests.recorder.interval_plugin import IntervalPlugin
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import RunDirectory
from loadtests.recorder.writers import RowsWriter

log = logging.getLogger(__name__)

_ROWS_KEY = "loadbench_rows"
_ERRORS_KEY = "loadbench_recorder_errors"
FINAL_MESSAGE = "loadbench_final"
FINAL_REPORTS_WAIT_S = 15.0


class RecorderPlugin(IntervalPlugin[SampleRow]):
    rows_key = _ROWS_KEY
    final_message = FINAL_MESSAGE

    def __init__(
        self,
        environment: Environment,
        *,
        run_dir: Path | None,
        interval_s: float = 1.0,
        end_after_s: float | None = None,
    ) -> None:
        self.end_after_s = end_after_s
        self._final_from: set[str] = set()
        self._stats_after_final: set[str] = set()
        self._ender: gevent.Greenlet | None = None
        self._watcher: gevent.Greenlet | None = None
        self._users: gevent.Greenlet | None = None
        self._lost: set[str] = set()
        self.recorder = IntervalRecorder()
        self._writer: RowsWriter[SampleRow] | None = None
        self._write_failed = False
        self._worker_errors: dict[str, int] = {}
        super().__init__(environment, run_dir=run_dir, interval_s=interval_s)
        environment.events.request.add_listener(self.on_request)
        environment.events.spawning_complete.add_listener(self.on_spawning_complete)
        # Added at init, so before any listener a user class adds later (the swarm's paced close):
        # the moment stamped is when the load began to stop, the steady state's end.
        environment.events.test_stopping.add_listener(self.on_test_stopping)

    def _ensure_writer(self) -> RowsWriter[SampleRow] | None:
        if self._writer is None and self.run_dir is not None and not self.is_worker:
            self._writer = RunDirectory(self.run_dir).samples_writer()
        return self._writer

    def write(self, rows: list[SampleRow]) -> None:
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
        if self.run_dir is None or self.is_worker or self._write_failed:
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
    def rotate(self) -> list[SampleRow]:
        return self.recorder.rotate()

    def begin(self) -> None:
        self.recorder.rotate()  # drop anything recorded before the test (none expected)

    def decode(self, line: str) -> SampleRow:
        return SampleRow.from_dict(json.loads(line))

    def report_fields(self) -> dict[str, Any]:
        return {_ERRORS_KEY: self.recorder.errors}

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

    def on_test_start(self, **kwargs: Any) -> None:
        if self.is_master:
            self._ensure_writer()
            self.write_event("test_start")
            if self.end_after_s is not None and self._ender is None:
                self._ender = gevent.spawn(self._end_distributed_run, self.end_after_s)
            if self._watcher is None:
                self._watcher = gevent.spawn(self._watch_workers)
            if self._users is None:
                self._users = gevent.spawn(self._users_loop)
            return
        super().on_test_start(**kwargs)
        if self._users is None and not self.is_worker:
            self._users = gevent.spawn(self._users_loop)
        self.write_event("test_start")

    def on_spawning_complete(self, user_count: int, **_: Any) -> None:
        # Full collections of a heap holding thousands of users dominate tail latencies
        # (research/feasibility.md): collect once, then keep the long-lived objects out of GC.
        gc.collect()
        gc.freeze()
        self.write_event("spawning_complete", user_count=user_count)

    def on_test_stopping(self, **_: Any) -> None:
        self.write_event("test_stopping")

    def on_test_stop(self, **kwargs: Any) -> None:
        if self._users is not None:
            self._users.kill(block=False)
            self._users = None
        super().on_test_stop(**kwargs)  # a worker sends its last interval now
        self.write_event("test_stop", recorder_errors=self.recorder.errors + sum(self._worker_errors.values()))

    # -- distributed ---------------------------------------------------------------------------
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
        workers = self._live_workers()
        for node_id in sorted(workers):
            runner.server.send_to_client(Message("quit", None, node_id))  # type: ignore[attr-defined]
        stop_timeout = float(self.environment.stop_timeout or 0)
        self.await_final_reports(stop_timeout + FINAL_REPORTS_WAIT_S, workers=workers)
        runner.quit()

    def _live_workers(self) -> set[str]:
        return {client.id for client in self.environment.runner.clients.all} - self._lost  # type: ignore[union-attr]

    def await_final_reports(self, timeout_s: float, *, workers: set[str] | None = None) -> None:
        """Master: wait (at most ``timeout_s``) until every worker has sent its final interval and,
        right after it, Locust's own last stats; a worker that never does is named in events.jsonl."""
        workers = self._live_workers() if workers is None else workers
        deadline = time.monotonic() + timeout_s
        while not workers <= self._final_from and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if missing := sorted(workers - self._final_from):
            self.write_event("final_reports_missing", workers=missing)
        # A worker sends Locust's own last stats right after our final interval (same socket, in
        # order). Quitting before they arrive would leave Locust's stats.json and HTML a few
        # seconds short of the samples we recorded.
        while not (workers & self._final_from) <= self._stats_after_final and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def received(self, node: str, rows: list[SampleRow], data: dict[str, Any], *, final: bool) -> None:
        if final:
            self._final_from.add(node)
        elif node in self._final_from:
            self._stats_after_final.add(node)
        self._worker_errors[node] = int(data.get(_ERRORS_KEY) or 0)
        if rows:
            self.write(rows)

    def on_quitting(self, **_: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
