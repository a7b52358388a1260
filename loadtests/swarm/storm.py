"""Reconnect storms: every connection dropped at once, then the time until the swarm is whole.

A storm has a target killed (SIGKILL: a crash, so every socket closes in the same instant) and
started again at the same URL with the same settings and secrets (tokens stay valid). Clients see
the drop, count it, and reconnect with their bounded back-off. Recovery is read from the server
side: its gauge of open real-time connections (``contract.accounts.REALTIME_CONNECTIONS_GAUGE``),
polled until it is back to the count before the storm. Each storm is a ``reconnect_storm`` event in the run directory
(``RunDirectory.append_storm``); the clients' own view is in ``swarm.drop`` and ``swarm.reconnect``.

Restarting a target is the orchestrator's job: the driver is handed a ``TargetRestarter`` and
knows nothing of how a target runs (``loadtests.embedded`` restarts the embedded backends; an
external target is not restarted, and the orchestrator notes the storm it could not run).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from contract.accounts import REALTIME_CONNECTIONS_GAUGE
from loadtests.recorder.rundir import RunDirectory

log = logging.getLogger(__name__)

GAUGE = REALTIME_CONNECTIONS_GAUGE
_GAUGE_LINE = re.compile(rf"^{GAUGE}(?:\{{[^}}]*\}})?\s+([0-9.eE+-]+)\s*$", re.MULTILINE)
POLL_S = 0.1
SPAWN_POLL_S = 0.2


@dataclass(frozen=True)
class RunningTarget:
    """A target as a storm sees it: its color, where it answers, and its process."""

    color: str
    url: str
    pid: int


class TargetRestarter(Protocol):
    """Restarts a target the run started itself (the orchestrator's side implements it)."""

    def restart(self, color: str, *, down_s: float = 0.0, stop: threading.Event | None = None) -> RunningTarget:
        """Kill ``color``'s target (SIGKILL: a crash), leave it down ``down_s`` (cut short by
        ``stop``) and start it again at the same URL with the same settings; the new process.
        Raises when it does not come back."""
        ...


def open_connections(url: str, *, timeout_s: float = 2.0) -> int | None:
    """The backend's count of open real-time connections, or ``None`` if it did not answer."""
    try:
        reply = httpx.get(f"{url}/metrics", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    match = _GAUGE_LINE.search(reply.text) if reply.status_code == 200 else None
    return int(float(match.group(1))) if match else None


@dataclass(frozen=True)
class StormResult:
    target: str
    started_at: float  # epoch s: the kill
    connections_before: int | None
    restart_s: float  # kill → the new process answers
    recovered: bool | None  # None: nothing to recover to (no count before the storm)
    recovery_s: float | None  # kill → the count before the storm is reached again
    connections_after: int | None
    pid_before: int
    pid_after: int | None

    def as_event(self) -> dict[str, Any]:
        fields = asdict(self)
        fields.pop("started_at")
        return fields


def run_storm(
    target: RunningTarget,
    restarter: TargetRestarter,
    *,
    recovery_timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    down_s: float = 0.0,
) -> tuple[RunningTarget | None, StormResult]:
    """Have ``target`` restarted and wait (bounded) until its connection count is back. Returns the
    new target (``None`` if it did not start) and the result."""
    before = open_connections(target.url)
    started_at, t0 = time.time(), clock()
    new: RunningTarget | None = None
    try:
        new = restarter.restart(target.color, down_s=down_s, stop=stop)
    except Exception as error:
        log.error("reconnect storm: the %s backend did not come back: %s", target.color, error)
    restart_s = clock() - t0
    recovered: bool | None = None
    recovery_s: float | None = None
    after: int | None = None
    if new is not None and before:
        deadline = t0 + recovery_timeout_s
        recovered = False
        while clock() < deadline and not (stop is not None and stop.is_set()):
            after = open_connections(new.url)
            if after is not None and after >= before:
                recovered, recovery_s = True, clock() - t0
                break
            time.sleep(POLL_S)
    result = StormResult(
        target=target.color,
        started_at=round(started_at, 3),
        connections_before=before,
        restart_s=round(restart_s, 3),
        recovered=recovered,
        recovery_s=None if recovery_s is None else round(recovery_s, 3),
        connections_after=after,
        pid_before=target.pid,
        pid_after=None if new is None else new.pid,
    )
    return new, result


class StormDriver:
    """Runs the profile's storms against ``targets`` while Locust runs (a thread).

    ``restarter`` restarts them (the orchestrator's embedded backends); ``on_restart(old, new)``
    lets the orchestrator follow the new pid (resource sampling, notes).
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        after_ramp_s: tuple[float, ...],
        targets: Sequence[RunningTarget],
        restarter: TargetRestarter,
        recovery_timeout_s: float,
        give_up_after_s: float,
        on_restart: Callable[[RunningTarget, RunningTarget], None] = lambda old, new: None,
        down_s: float = 0.0,
    ) -> None:
        self.down_s = down_s
        self.run_dir = RunDirectory(run_dir)  # this thread's own reader and writer of the run's events
        self.after_ramp_s = after_ramp_s
        self.targets = list(targets)
        self.restarter = restarter
        self.recovery_timeout_s = recovery_timeout_s
        self.give_up_after_s = give_up_after_s
        self.on_restart = on_restart
        self.results: list[StormResult] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconnect-storms", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 45) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        deadline = time.monotonic() + self.give_up_after_s
        spawned = None
        while spawned is None and time.monotonic() < deadline and not self._stop.is_set():
            spawned = self.run_dir.spawning_completed_at()
            self._stop.wait(SPAWN_POLL_S)
        if spawned is None:
            return
        for after in self.after_ramp_s:
            if self._stop.wait(max(0.0, spawned + after - time.time())):
                return
            self._storm_all()

    def _storm_all(self) -> None:
        def one(index: int) -> None:
            old = self.targets[index]
            new, result = run_storm(
                old, self.restarter, recovery_timeout_s=self.recovery_timeout_s, stop=self._stop, down_s=self.down_s
            )
            if new is not None:
                self.targets[index] = new
                self.on_restart(old, new)
            self.results.append(result)
            self.run_dir.append_storm(t=result.started_at, **result.as_event())

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(self.targets))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=self.recovery_timeout_s + 60)
