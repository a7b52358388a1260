"""Live SLO state while a run goes: the same analysis code as the final verdict, re-run on the run
directory every few seconds in the orchestrator (a real thread, outside Locust's gevent loop, so
judging never stalls the load), written to ``live-slo.json`` for the web UI's SLO tab and the
terminal's live view.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import LoadbenchError
from loadtests.recorder.rundir import RunDirectory

log = logging.getLogger(__name__)

LIVE_SLO = "live-slo.json"
DEFAULT_PERIOD_S = 5.0


@dataclass(frozen=True)
class LiveCheck:
    name: str
    target: str
    statistic: str
    observed: float | None
    threshold: str
    samples: int
    state: str  # "pass", "fail" or "no verdict"

    def row(self) -> dict[str, Any]:
        observed = "-" if self.observed is None else f"{self.observed:.4g}"
        return {"check": self.name, "target": self.target, "statistic": self.statistic, "observed": observed,
                "threshold": self.threshold, "samples": self.samples, "state": self.state}  # fmt: skip


def judge_now(run_dir: Path) -> list[LiveCheck]:
    """The run's SLOs evaluated on what is in its directory at this moment."""
    from analysis.judge import judge_run

    verdict = judge_run(run_dir).verdict
    checks = []
    for check in verdict.checks:
        state = {True: "pass", False: "fail", None: "no verdict"}[check.passed]
        threshold = f"{check.comparison} {check.threshold:g} {check.unit}".strip()
        checks.append(
            LiveCheck(check.name, check.target, check.statistic, check.observed, threshold, check.samples, state)
        )
    return checks


class LiveJudge:
    def __init__(
        self,
        run_dir: RunDirectory,
        *,
        period_s: float = DEFAULT_PERIOD_S,
        on_update: Callable[[list[LiveCheck]], None] | None = None,
    ) -> None:
        self._run_dir = run_dir
        self._period_s = period_s
        self._on_update = on_update
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latest: list[LiveCheck] = []

    def tick(self) -> list[LiveCheck]:
        try:
            checks = judge_now(self._run_dir.path)
        except (LoadbenchError, OSError, ValueError, KeyError) as error:
            log.debug("live judging skipped: %s", error)  # an early or half-written run: next time
            return self.latest
        self.latest = checks
        body = {"t": round(time.time(), 3), "checks": [check.row() for check in checks]}
        self._run_dir.write_text(LIVE_SLO, json.dumps(body) + "\n")
        if self._on_update is not None:
            self._on_update(checks)
        return checks

    def _loop(self) -> None:
        period = self._period_s
        while not self._stop.wait(period):
            started = time.monotonic()
            self.tick()
            # A long run takes longer to judge: never spend more than a third of the time on it.
            period = max(self._period_s, 3 * (time.monotonic() - started))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="live-judge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
