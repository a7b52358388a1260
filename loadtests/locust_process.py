"""The Locust process of a run: one headless process, or a master with local and remote workers,
started on the workload's locustfile, bounded in time, and stopped gracefully from outside.

Locust finds the run through ``LOADBENCH_RUN_CONFIG`` (``loadtests.config``) and gets the run's
secrets through its environment only. Its own output goes to ``locust/`` in the run directory.
"""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from loadtests.config import ENV_RUN_CONFIG, RunConfig
from loadtests.planning import RunRequest
from loadtests.profiles import Profile
from loadtests.recorder.format import RUN_CONFIG
from loadtests.recorder.rundir import RunDirectory

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
LOCUST_STOP_TIMEOUT_S = 5  # users get this long to finish the task in flight when time is up
GRACE_S = 60  # beyond duration + ramp + stop timeout, Locust is stopped from outside
WORKERS_WAIT_S = 60  # a distributed run gives up when its workers have not all connected by then
WORKER_QUIT_S = 10


def free_port() -> int:
    """A free loopback port for the Locust master (another process could take it first: rare,
    and the run then fails with a clear "address in use" from Locust)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocustProcess:
    """Locust for one run. ``on_spawn(pid, role)`` is told of every process started (the resource
    monitor samples them as generators); ``notes`` gets what went wrong (the manifest's notes)."""

    def __init__(
        self,
        request: RunRequest,
        profile: Profile,
        run_dir: RunDirectory,
        *,
        env: Mapping[str, str],
        on_spawn: Callable[[int, str], None],
        notes: list[str],
    ) -> None:
        self.request = request
        self.profile = profile
        self.run_dir = run_dir
        self.env = {**env, ENV_RUN_CONFIG: str(run_dir.file(RUN_CONFIG))}
        self.on_spawn = on_spawn
        self.notes = notes
        self.master: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, command: list[str], log_path: Path, role: str) -> subprocess.Popen[bytes]:
        with log_path.open("wb") as output:
            proc = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.on_spawn(proc.pid, role)
        return proc

    def _command(self, config: RunConfig, port: int) -> list[str]:
        profile, request = self.profile, self.request
        locust_dir = self.run_dir.locust_dir
        if request.web_port is not None:
            face = ["--web-host", "127.0.0.1", "--web-port", str(request.web_port)]
        else:
            face = ["--headless", "--only-summary"]
        command = [
            sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE),
            *face,
            "--users", str(config.locust_users),
            "--spawn-rate", str(profile.spawn_rate),
            "--stop-timeout", str(LOCUST_STOP_TIMEOUT_S),
            "--csv", str(locust_dir / "stats"),
            "--html", str(locust_dir / "report.html"),
            "--json-file", str(locust_dir / "stats"),
            "--exit-code-on-error", "0",
            "--loglevel", "INFO",
            "--logfile", str(locust_dir / "locust.log"),
        ]  # fmt: skip
        if request.distributed:
            expected = request.workers + request.remote_workers
            command += [
                "--master", "--master-bind-host", request.master_bind, "--master-bind-port", str(port),
                "--expect-workers", str(expected), "--expect-workers-max-wait", str(WORKERS_WAIT_S),
            ]  # fmt: skip
        elif request.web_port is None:
            command += ["--run-time", f"{math.ceil(profile.duration_s)}s"]
        return command

    def _deadline(self) -> float | None:
        """How long Locust may take before it is stopped from outside (``None``: the web UI's
        interactive session lasts until the user ends it, with Ctrl-C)."""
        if self.request.web_port is not None:
            return None
        profile = self.profile
        deadline = profile.duration_s + profile.ramp_s + LOCUST_STOP_TIMEOUT_S + GRACE_S
        return deadline + (WORKERS_WAIT_S if self.request.distributed else 0)

    def run(self, config: RunConfig) -> int:
        """Run Locust (one process, or a master with local and remote workers) until it ends by
        itself or the deadline passes; returns the (master's) exit code."""
        request = self.request
        locust_dir = self.run_dir.locust_dir
        port = request.master_port or free_port()
        self.master = self._spawn(
            self._command(config, port), locust_dir / "output.log", "master" if request.distributed else ""
        )
        for index in range(request.workers):
            worker = [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
                "--master-host", "127.0.0.1", "--master-port", str(port),
                "--loglevel", "INFO", "--logfile", str(locust_dir / f"worker-{index + 1}.log"),
            ]  # fmt: skip
            self.workers.append(self._spawn(worker, locust_dir / f"worker-{index + 1}.out", f"worker-{index + 1}"))
        deadline = self._deadline()
        try:
            code = self._wait(deadline)
        except subprocess.TimeoutExpired:
            self.notes.append(f"Locust did not stop within {deadline:.0f} s and was stopped from outside")
            code = self.stop_master()
        self.stop_workers()
        return code

    def _wait(self, deadline: float | None) -> int:
        """The master's exit code; with ``request.early_stop``, asked every ``look_every_s``
        whether to end the load now (Locust then quits as on SIGTERM: stats written, exit 0)."""
        assert self.master is not None
        early_stop = self.request.early_stop
        if early_stop is None:
            return self.master.wait(timeout=deadline)
        ends = None if deadline is None else time.monotonic() + deadline
        while True:
            step = (
                self.request.look_every_s if ends is None else min(self.request.look_every_s, ends - time.monotonic())
            )
            if step <= 0:
                raise subprocess.TimeoutExpired(self.master.args, deadline or 0)
            try:
                return self.master.wait(timeout=step)
            except subprocess.TimeoutExpired:
                if ends is not None and time.monotonic() >= ends:
                    raise
            if (reason := early_stop(self.run_dir.path)) is not None:
                self.notes.append(reason)
                return self.stop_master()

    def stop_workers(self) -> None:
        # Locust's master forgets workers once they report "stopped", so its quit message never
        # reaches them: once the master is gone (their final intervals already delivered), the
        # workers are told to quit here, all at once, and killed if they do not.
        running = [worker for worker in self.workers if worker.poll() is None]
        for worker in running:
            worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WORKER_QUIT_S
        for worker in running:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=5)

    def stop_master(self) -> int:
        proc = self.master
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else 0
        proc.send_signal(signal.SIGTERM)  # Locust quits gracefully and writes its CSV and HTML
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop whatever still runs: the master first (gracefully), then the workers."""
        self.stop_master()
        self.stop_workers()


def distributed_notes(run_dir: RunDirectory) -> list[str]:
    """What the master saw go wrong with its workers (``events.jsonl``), for the manifest."""
    notes = []
    for event in run_dir.read_events():
        if event["event"] == "worker_lost":
            notes.append(f"worker {event.get('worker')} was lost mid-run; Locust moved its users to the others")
        elif event["event"] == "final_reports_missing":
            workers = ", ".join(event.get("workers", []))
            notes.append(f"no final interval from worker(s) {workers}: their last second is missing")
    return notes


def locust_failure(run_dir: RunDirectory) -> str:
    """The line of Locust's output that says why it failed (or its last line)."""
    log = run_dir.locust_dir / "output.log"
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    for line in reversed(lines):
        if "loadbench:" in line or "Error" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"
