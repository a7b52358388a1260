"""Connections open over time: a gauge per swarm class and process, written per interval.

Latency samples say how long things took; they cannot say how many connections were open at
once. Each swarm class keeps a ``ConnectionGauge`` in every Locust process (O(1) counters, bumped
by the sessions), and ``ConnectionsPlugin`` closes an interval every ``interval_s`` (aligned to
the wall clock, like the recorder) into ``connections.jsonl`` (``RunDirectory.connections_writer``):
one ``ConnectionsRow`` per (target, user_class, process) and interval. Workers send their rows to
the master with Locust's own reports; rows of the same interval from several processes add up.
The concurrent connections held at the end of an interval are the sum of ``open`` over its rows;
that sum, per target, is also written to ``figures.jsonl`` as ``connections_held`` (the figure
the ``connections_held`` SLO and the plots read): by the local runner each interval, and by the
master once every worker that holds connections of that target has reported the interval
(``HeldSums``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.recorder.interval_plugin import IntervalPlugin
from loadtests.recorder.rows import ConnectionsRow
from loadtests.recorder.rundir import RunDirectory
from loadtests.recorder.writers import FiguresWriter, RowsWriter
from loadtests.swarm.connection import FailureKind

log = logging.getLogger(__name__)

HELD = "connections_held"  # the figure's name in figures.jsonl
_ROWS_KEY = "loadbench_connections"
FINAL_MESSAGE = "loadbench_connections_final"
STALE_INTERVALS = 10  # the master writes an interval's sum without a worker that is this far behind


class ConnectionGauge:
    """Counters of one swarm class in one process. Not thread-safe by design: under Locust every
    caller is a greenlet of one OS thread and no method yields."""

    __slots__ = (
        "_closed",
        "_dropped",
        "_failures",
        "_gave_up",
        "_low",
        "_opened",
        "_peak",
        "_reconnected",
        "active",
        "open",
        "target",
        "user_class",
    )

    def __init__(self, target: str, user_class: str) -> None:
        self.target = target
        self.user_class = user_class
        self.open = 0
        self.active = False  # a process whose gauge never saw a connect writes no rows
        self._reset()

    def _reset(self) -> None:
        self._peak = self._low = self.open
        self._opened = self._closed = self._dropped = self._reconnected = self._gave_up = 0
        self._failures: dict[str, int] = {}

    def opened(self) -> None:
        self.active = True
        self.open += 1
        self._opened += 1
        self._peak = max(self._peak, self.open)

    def _down(self) -> None:
        self.open -= 1
        self._low = min(self._low, self.open)

    def closed(self) -> None:
        self._down()
        self._closed += 1

    def dropped(self) -> None:
        self._down()
        self._dropped += 1

    def reconnected(self) -> None:
        self._reconnected += 1

    def gave_up(self) -> None:
        self.active = True
        self._gave_up += 1

    def failed(self, kind: FailureKind) -> None:
        self.active = True
        self._failures[kind] = self._failures.get(kind, 0) + 1

    def rotate(self, t0: float, t1: float, node: str) -> ConnectionsRow | None:
        if not self.active:
            return None
        row = ConnectionsRow(
            t0=round(t0, 3),
            t1=round(t1, 3),
            target=self.target,
            user_class=self.user_class,
            node=node,
            open=self.open,
            peak=self._peak,
            low=self._low,
            opened=self._opened,
            closed=self._closed,
            dropped=self._dropped,
            reconnected=self._reconnected,
            gave_up=self._gave_up,
            failures=dict(self._failures),
        )
        self._reset()
        return row


class HeldSums:
    """Connections held per target and interval, summed over the nodes (sans-IO: rows in, figures
    out). A node's rows of one rotation (one per swarm class, one ``t1``) add up; a busy node may
    rotate twice within one interval slot, and then its later rotation replaces the earlier (adding
    them counted its connections twice: 31,556 of 30,000 in a 2-worker run). An interval is written
    once every node that ever held connections of its target has reported it or a later one (a busy
    node skips slots), or when a node is ``STALE_INTERVALS`` behind; a node missing from it counts
    with its last written count carried forward (the gauge is a level: leaving the node out counted
    its connections as closed, 9,890 of 19,000 in that run)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        # per (target, slot): node -> (its rotation's t1, its open count at t1)
        self._held: dict[tuple[str, int], dict[str, tuple[float, int]]] = {}
        self._nodes: dict[str, set[str]] = {}  # target -> nodes that ever reported it
        self._last: dict[tuple[str, str], int] = {}  # (target, node) -> its count in the last written slot
        self._passed: dict[tuple[str, str], int] = {}  # (target, node) -> the latest slot it reported

    def add(self, rows: list[ConnectionsRow], *, final: bool = False) -> list[tuple[str, float, int]]:
        """Take these rows; return the (target, t, connections held) that are now whole, in order."""
        for row in rows:
            slot = round(row.t1 / self.interval_s)
            reported = self._held.setdefault((row.target, slot), {})
            seen = reported.get(row.node)
            if seen is None or row.t1 > seen[0]:
                reported[row.node] = (row.t1, row.open)
            elif row.t1 == seen[0]:
                reported[row.node] = (row.t1, seen[1] + row.open)
            self._nodes.setdefault(row.target, set()).add(row.node)
            passed = self._passed.get((row.target, row.node), slot)
            self._passed[(row.target, row.node)] = max(passed, slot)
        latest = max((slot for _, slot in self._held), default=0)
        whole = []
        for key in sorted(self._held, key=lambda key: key[1]):
            target, slot = key
            reported = self._held[key]
            # a node that has reported a later slot will never report this one (it skipped it)
            done = all(node in reported or self._passed[(target, node)] > slot for node in self._nodes[target])
            if not (final or done or slot <= latest - STALE_INTERVALS):
                continue
            counts = {node: count for node, (_, count) in reported.items()}
            for node in self._nodes[target] - counts.keys():
                if (target, node) in self._last:
                    counts[node] = self._last[(target, node)]
            for node, count in counts.items():
                self._last[(target, node)] = count
            whole.append((target, slot * self.interval_s, sum(counts.values())))
            del self._held[key]
        return whole


class ConnectionsPlugin(IntervalPlugin[ConnectionsRow]):
    """Wires gauges into a Locust environment: local runner writes, workers report, master writes.

    Create it before the ``RecorderPlugin``: listeners fire in the order they were added, so a
    worker's final rows leave before the recorder's final message, after which the master quits.
    """

    rows_key = _ROWS_KEY
    final_message = FINAL_MESSAGE

    def __init__(
        self, environment: Environment, *, gauges: list[ConnectionGauge], run_dir: Path | None, interval_s: float
    ) -> None:
        self.gauges = gauges
        self._writer: RowsWriter[ConnectionsRow] | None = None
        self._figures: FiguresWriter | None = None
        self._sums = HeldSums(interval_s)  # the master's connections_held, over the nodes
        self._started = time.time()
        super().__init__(environment, run_dir=run_dir, interval_s=interval_s)

    @property
    def _node(self) -> str:
        runner = self.environment.runner
        return runner.client_id if isinstance(runner, WorkerRunner) else "local"

    def write(self, rows: list[ConnectionsRow], *, final: bool = False) -> None:
        if self.run_dir is None or self.is_worker:
            return
        if rows:
            if self._writer is None:
                self._writer = RunDirectory(self.run_dir).connections_writer()
            self._writer.write(rows)
        self._write_held(rows, final=final)

    def _write_held(self, rows: list[ConnectionsRow], *, final: bool) -> None:
        for target, t, value in self._sums.add(rows, final=final):
            if self._figures is None:
                assert self.run_dir is not None
                self._figures = RunDirectory(self.run_dir).figures_writer()
            self._figures.write(target, HELD, value, t=t)

    def begin(self) -> None:
        self._started = time.time()

    def rotate(self) -> list[ConnectionsRow]:
        now = time.time()
        start, self._started = self._started, now
        return [row for gauge in self.gauges if (row := gauge.rotate(start, now, self._node)) is not None]

    def decode(self, line: str) -> ConnectionsRow:
        return ConnectionsRow.from_dict(json.loads(line))

    def on_quitting(self, **_: Any) -> None:
        self.write([], final=True)
        for writer in (self._writer, self._figures):
            if writer is not None:
                writer.close()
        self._writer = self._figures = None
