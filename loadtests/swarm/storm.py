"""Reconnect storms: every connection dropped at once, then the time until the swarm is whole.

A storm kills the embedded reference backend (SIGKILL: a crash, so every socket closes in the
same instant) and starts it again on the same port with the same settings and secrets (tokens
stay valid). Clients see the drop, count it, and reconnect with their bounded back-off. Recovery
is read from the server side: its ``reference_backend_realtime_connections`` gauge, polled until
it is back to the count before the storm. Each storm is a ``reconnect_storm`` line in
``events.jsonl``; the clients' own view is in ``swarm.drop`` and ``swarm.reconnect``.

Only embedded backends can be restarted; the orchestrator notes a storm it could not run.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from reference_backend.process import BackendProcess, start_backend_process
from reference_backend.settings import BackendSettings

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"  # the recorder's run events (loadtests.recorder.plugin.EVENTS)
GAUGE = "reference_backend_realtime_connections"
_GAUGE_LINE = re.compile(rf"^{GAUGE}(?:\{{[^}}]*\}})?\s+([0-9.eE+-]+)\s*$", re.MULTILINE)
POLL_S = 0.1
SPAWN_POLL_S = 0.2


def append_event(run_dir: Path, event: str, *, t: float | None = None, **fields: Any) -> None:
    """One line in ``events.jsonl`` (appends of one short line do not interleave with the
    recorder's own appends from the Locust process)."""
    line = json.dumps({"t": round(time.time() if t is None else t, 3), "event": event, **fields})
    with (run_dir / EVENTS).open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def open_connections(url: str, *, timeout_s: float = 2.0) -> int | None:
    """The backend's count of open real-time connections, or ``None`` if it did not answer."""
    try:
        reply = httpx.get(f"{url}/metrics", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    match = _GAUGE_LINE.search(reply.text) if reply.status_code == 200 else None
    return int(float(match.group(1))) if match else None


def restart_backend(
    backend: BackendProcess,
    *,
    env: Mapping[str, str],
    ready_timeout_s: float = 30,
    down_s: float = 0.0,
    stop: threading.Event | None = None,
) -> BackendProcess:
    """Kill ``backend``, leave it down ``down_s`` (a planted outage), and start it again on the same
    port with the same settings."""
    settings = BackendSettings.model_validate(json.loads(backend.config_path.read_text()))
    settings = settings.model_copy(update={"port": backend.port})
    backend.process.kill()
    backend.process.wait()
    backend.stop()  # reaps nothing more; removes its working directory
    if down_s > 0:
        (stop or threading.Event()).wait(down_s)
    return start_backend_process(settings, env=env, ready_timeout_s=ready_timeout_s)


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
    backend: BackendProcess,
    *,
    env: Mapping[str, str],
    recovery_timeout_s: float,
    ready_timeout_s: float = 30,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    down_s: float = 0.0,
) -> tuple[BackendProcess | None, StormResult]:
    """Restart ``backend`` and wait (bounded) until its connection count is back. Returns the new
    backend (``None`` if it did not start) and the result."""
    before = open_connections(backend.url)
    started_at, t0 = time.time(), clock()
    new: BackendProcess | None = None
    try:
        new = restart_backend(backend, env=env, ready_timeout_s=ready_timeout_s, down_s=down_s, stop=stop)
    except Exception as error:
        log.error("reconnect storm: the %s backend did not come back: %s", backend.color, error)
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
        target=backend.color,
        started_at=round(started_at, 3),
        connections_before=before,
        restart_s=round(restart_s, 3),
        recovered=recovered,
        recovery_s=None if recovery_s is None else round(recovery_s, 3),
        connections_after=after,
        pid_before=backend.pid,
        pid_after=None if new is None else new.pid,
    )
    return new, result


def spawning_completed_at(run_dir: Path) -> float | None:
    path = run_dir / EVENTS
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "spawning_complete":
            return float(event["t"])
    return None


class StormDriver:
    """Runs the profile's storms against the embedded backends while Locust runs (a thread).

    ``backends`` is the orchestrator's own list: a restarted backend replaces its entry, so the
    orchestrator stops the new process at the end; ``on_restart(old, new)`` lets it follow the
    new pid (resource sampling, notes).
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        after_ramp_s: tuple[float, ...],
        backends: list[BackendProcess],
        env: Mapping[str, str],
        recovery_timeout_s: float,
        give_up_after_s: float,
        on_restart: Callable[[BackendProcess, BackendProcess], None] = lambda old, new: None,
        down_s: float = 0.0,
    ) -> None:
        self.down_s = down_s
        self.run_dir = run_dir
        self.after_ramp_s = after_ramp_s
        self.backends = backends
        self.env = env
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
            spawned = spawning_completed_at(self.run_dir)
            self._stop.wait(SPAWN_POLL_S)
        if spawned is None:
            return
        for after in self.after_ramp_s:
            if self._stop.wait(max(0.0, spawned + after - time.time())):
                return
            self._storm_all()

    def _storm_all(self) -> None:
        def one(index: int) -> None:
            old = self.backends[index]
            new, result = run_storm(
                old, env=self.env, recovery_timeout_s=self.recovery_timeout_s, stop=self._stop, down_s=self.down_s
            )
            if new is not None:
                self.backends[index] = new
                self.on_restart(old, new)
            self.results.append(result)
            append_event(self.run_dir, "reconnect_storm", t=result.started_at, **result.as_event())

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(self.backends))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=self.recovery_timeout_s + 60)
