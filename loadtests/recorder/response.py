"""Response times from the intended start, for open-model runs: ``samples-response.jsonl``.

``samples.jsonl`` keeps every sample's *service* time, from the moment the request was sent. In an
open-model run each operation also has an intended start (its planned arrival), and the user's
wait begins there: the *response* time is the service time plus how late the operation started
(the generator's own lateness and the wait for a free slot: ``Timer.lag_ns``, carried as
``context["lag_us"]``). Counting only the service time is the coordinated omission wrk2 and
HdrHistogram correct for: a saturated client or a full pool would hide exactly the delays a slow
server causes.

``ResponseTimePlugin`` records every sample a second time, latency plus lag (a closed-model
sample's lag is 0: its response time is its service time), into its own ``IntervalRecorder``,
and writes the rows the way the recorder does (``IntervalPlugin``: local runner, workers'
reports, master). Create it before the ``RecorderPlugin``: a worker's final rows then leave before
the recorder's final message, after which the master quits.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from locust.env import Environment

from loadtests.recorder.interval import IntervalRecorder
from loadtests.recorder.interval_plugin import IntervalPlugin
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import RunDirectory
from loadtests.recorder.writers import RowsWriter

log = logging.getLogger(__name__)

_ROWS_KEY = "loadbench_response_rows"
FINAL_MESSAGE = "loadbench_response_final"


class ResponseTimePlugin(IntervalPlugin[SampleRow]):
    rows_key = _ROWS_KEY
    final_message = FINAL_MESSAGE

    def __init__(self, environment: Environment, *, run_dir: Path | None, interval_s: float = 1.0) -> None:
        self.recorder = IntervalRecorder()
        self._writer: RowsWriter[SampleRow] | None = None
        self._failed = False
        super().__init__(environment, run_dir=run_dir, interval_s=interval_s)
        environment.events.request.add_listener(self.on_request)

    def on_request(
        self,
        name: str,
        response_time: float | None,
        response_length: int | None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        try:
            ctx = context or {}
            key = (ctx["target"], ctx["kind"], name, ctx["user_class"], ctx["outcome"])
            latency = None if response_time is None else round(response_time * 1000) + int(ctx.get("lag_us") or 0)
            self.recorder.record(key, latency, response_length or 0)
        except Exception:  # a sample not fired through loadtests.timing has no intended start
            self.recorder.errors += 1

    def rotate(self) -> list[SampleRow]:
        return self.recorder.rotate()

    def begin(self) -> None:
        self.recorder.rotate()

    def decode(self, line: str) -> SampleRow:
        return SampleRow.from_dict(json.loads(line))

    def write(self, rows: list[SampleRow]) -> None:
        if self.run_dir is None or self.is_worker or self._failed or not rows:
            return
        try:
            if self._writer is None:
                self._writer = RunDirectory(self.run_dir).samples_writer("response")
            self._writer.write(rows)
        except OSError as error:  # the recorder's own writer stops the run on a full disk
            self._failed = True
            log.error("loadbench: cannot write the response times: %s", error.strerror)

    def on_quitting(self, **_: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
