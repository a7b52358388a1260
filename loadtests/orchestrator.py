"""``run(request) -> RunOutcome``: one headless run, start to verdict.

1. plan targets (embedded reference backends or checked external URLs);
2. create the run directory and its manifest (``partial`` until the end);
3. start embedded backends on free loopback ports, wait until ready; probe external ones;
4. start the resource monitor (targets and the generator);
5. run Locust headless in its own process (the workload's locustfile), bounded in time;
6. stop everything, mark the manifest, judge the run and draw its report (``analysis.judge``).

Ctrl-C or SIGTERM at any point stops Locust gracefully, keeps what was measured, marks the run
``partial`` and ends with exit 4. SIGKILL (or the OOM killer) leaves nothing running either: every
child watches this process (``contract.lifeline``), Locust records when it died and
stops (``loadtests.parent_watch``), the backends stop and remove their temporary folders.
Secrets go to child processes through the environment only.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol
from urllib.parse import urlsplit

import psutil

from analysis.history import index_run
from analysis.judge import Judged, judge_run, write_report, write_verdict
from contract.accounts import ENV_JWT_SECRET
from loadtests import metadata
from loadtests.config import ENV_RUN_CONFIG, RunConfig, TargetConfig
from loadtests.credentials import check_credentials
from loadtests.embedded import EmbeddedBackends, run_secrets
from loadtests.errors import EXIT_INFRA, EXIT_INVALID, ConfigError, InfrastructureError, LoadbenchError
from loadtests.live import LiveCheck, LiveJudge
from loadtests.monitor.monitor import ResourceMonitor
from loadtests.monitor.sampler import ProcessTreeSampler, PrometheusSampler, Sampler, listening_pid
from loadtests.monitor.saturation import saturated_generators
from loadtests.profiles import Profile
from loadtests.recorder.rundir import RUN_CONFIG, Manifest, RunDirectory, TargetInfo, iso, iter_resource_rows, utc_now
from loadtests.shapes import CanaryShape, default_canary
from loadtests.swarm import preflight
from loadtests.swarm.storm import StormDriver
from loadtests.targets import TargetPlan, is_loopback, plan_targets

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
LOCUST_STOP_TIMEOUT_S = 5  # users get this long to finish the task in flight when time is up
GRACE_S = 60  # beyond duration + ramp + stop timeout, Locust is stopped from outside
WORKERS_WAIT_S = 60  # a distributed run gives up when its workers have not all connected by then
WORKER_QUIT_S = 10


def free_port() -> int:
    """A free loopback port for the Locust master (another process could take it first: rare,
    and the run then fails with a clear "address in use" from Locust)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RunRequest:
    profile: Profile
    target_mode: str = "both"
    urls: dict[str, str | None] = field(default_factory=dict)
    allow_remote: tuple[str, ...] = ()
    out: Path | None = None
    results_root: Path = Path("results")
    workers: int = 0  # 0: one Locust process; N: a local master and N worker processes
    report: bool = True  # plots/ and report.html after the verdict
    remote_workers: int = 0  # workers on other machines (`loadbench worker --master HOST`)
    web_port: int | None = None  # set: the Locust web UI on this port instead of a headless run
    master_bind: str = "127.0.0.1"
    master_port: int | None = None  # None: a free port (local workers only)
    preflight: bool = True  # run the probe's steps the workload needs before the load

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0

    pids: dict[str, int] = field(default_factory=dict)  # local processes of external targets, by color


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    status: str
    exit_code: int
    wall_s: float
    judged: Judged | None
    reason: str = ""


class RunInterrupted(Exception):
    def __init__(self, signame: str) -> None:
        super().__init__(f"interrupted by {signame}")
        self.signame = signame


@contextmanager
def _interruptible(*, defer: list[str] | None = None) -> Iterator[None]:
    """SIGINT and SIGTERM become ``RunInterrupted`` once; a second signal is ignored so that the
    cleanup that writes the partial run is not itself interrupted. With ``defer``, signals are
    only noted there: writing the results finishes first (they take seconds, and half a verdict
    helps no one)."""
    fired: list[str] = [] if defer is None else defer

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signal.Signals(signum).name)
        if defer is None:
            raise RunInterrupted(fired[0])

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Run:
    """The state of one run while it goes; ``execute`` is the whole life cycle."""

    def __init__(self, request: RunRequest, on_status: Callable[[str], None], secret_env: dict[str, str]) -> None:
        self.request = request
        self.profile = request.profile
        self.say = on_status
        self.embedded = EmbeddedBackends({**os.environ, **secret_env})
        self.locust: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.monitor: ResourceMonitor | None = None
        self.storms: StormDriver | None = None
        self.live: LiveJudge | None = None
        self.notes: list[str] = []
        self.secret_env = secret_env  # for the children's environment only (run_secrets)

    # -- stages -------------------------------------------------------------------------------
    def start_targets(self, plans: list[TargetPlan]) -> list[TargetConfig]:
        """Embedded backends start side by side (each takes about a second), external targets are
        probed; a backend that never becomes ready makes the run invalid."""
        embedded = [plan.color for plan in plans if plan.url is None]
        if embedded:
            self.embedded.start(self.profile, embedded, on_status=self.say)
        targets = []
        for plan in plans:
            dialect = self.profile.dialect(plan.color)
            if plan.url is None:
                url = self.embedded.target(plan.color).url
            else:
                self._probe(plan.color, plan.url)
                url = plan.url
            targets.append(TargetConfig(color=plan.color, url=url, dialect=dialect))
        return targets

    def preflight(self, run_dir: RunDirectory, targets: list[TargetConfig], *, embedded: bool):  # type: ignore[no-untyped-def]
        """The probe's steps this workload needs, on every target; ``compat.json`` in the run."""
        from analysis import compat
        from loadtests.probe.preflight import PreflightTarget, run_preflight

        found = run_preflight(
            self.profile,
            [PreflightTarget(t.color, t.url, t.dialect) for t in targets],
            {**os.environ, **self.secret_env},
            secret=self.secret_env[ENV_JWT_SECRET] if embedded else None,
        )
        run_dir.write_json(compat.COMPAT_FILE, found.document)
        run_dir.write_text(compat.COMPAT_MD, compat.markdown(found.document))
        return found

    def _probe(self, color: str, url: str) -> None:
        import httpx

        try:
            httpx.get(url + "/", timeout=5.0)
        except httpx.HTTPError as error:
            raise InfrastructureError(f"{color} target {url} is unreachable: {type(error).__name__}") from None

    def target_sampler(self, target: TargetConfig) -> Sampler:
        """Embedded: the process we started. External on this machine: the process given by
        ``--<color>-pid`` or the one listening on the URL's port. Elsewhere: its ``/metrics``."""
        if target.color in self.embedded:
            return ProcessTreeSampler(self.embedded.target(target.color).pid, role="target", color=target.color)
        parts = urlsplit(target.url)
        pid = self.request.pids.get(target.color)
        if pid is None and is_loopback(parts.hostname or ""):
            pid = listening_pid(parts.port or (443 if parts.scheme == "https" else 80))
        if pid is not None:
            try:
                return ProcessTreeSampler(pid, role="target", color=target.color)
            except psutil.Error as error:
                raise ConfigError(f"--{target.color}-pid {pid}: {error}") from None
        return PrometheusSampler(f"{target.url}/metrics", role="target", color=target.color)

    def start_monitor(self, run_dir: RunDirectory, targets: list[TargetConfig]) -> None:
        self.monitor = ResourceMonitor(run_dir.resources_writer(), interval_s=1.0)
        for target in targets:
            sampler = self.target_sampler(target)
            if isinstance(sampler, PrometheusSampler) and sampler.sample() is None:
                where = f"no local process and no {sampler.metrics_url}"
                self.notes.append(f"no resource figures for {target.color}: {where}")
                continue
            self.monitor.add(sampler)
        self.monitor.start()

    def start_storms(self, run_dir: RunDirectory, plans: list[TargetPlan]) -> None:
        """Restart the embedded backends while Locust runs: a swarm profile's reconnect storms, and
        the outages a profile plants (``reference_backend.restart_after_ramp_s``)."""
        storm, profile = self.profile.swarm.storm, self.profile
        after_ramp_s = tuple(sorted({*(storm.after_ramp_s if profile.mix.get("SwarmUser") else ()),
                                     *profile.reference_backend.restart_after_ramp_s}))  # fmt: skip
        if not after_ramp_s:
            return
        for plan in plans:
            if plan.url is not None:
                self.notes.append(f"reconnect storm skipped for {plan.color}: an external target is not restarted")

        def restarted(old, new) -> None:  # type: ignore[no-untyped-def]
            if self.monitor is not None:
                self.monitor.add(ProcessTreeSampler(new.pid, role="target", color=new.color))
            self.notes.append(f"reconnect storm: {new.color} backend restarted (pid {old.pid} -> {new.pid})")

        if self.embedded:
            self.storms = StormDriver(
                run_dir=run_dir.path,
                after_ramp_s=after_ramp_s,
                down_s=profile.reference_backend.outage_s,
                targets=self.embedded.targets(),
                restarter=self.embedded,
                recovery_timeout_s=storm.recovery_timeout_s,
                give_up_after_s=profile.ramp_s + profile.duration_s + WORKERS_WAIT_S,
                on_restart=restarted,
            )
            self.storms.start()

    def _locust_env(self, run_dir: RunDirectory) -> dict[str, str]:
        return {**os.environ, **self.secret_env, ENV_RUN_CONFIG: str(run_dir.file(RUN_CONFIG))}

    def _spawn(self, command: list[str], env: dict[str, str], log_path: Path, role: str) -> subprocess.Popen[bytes]:
        with log_path.open("wb") as output:
            proc = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        if self.monitor is not None:
            self.monitor.add(ProcessTreeSampler(proc.pid, role="generator", color=role))
        return proc

    def run_locust(self, run_dir: RunDirectory, config: RunConfig) -> int:
        """Run Locust (one process, or a master with local and remote workers) until it ends by
        itself or the deadline passes; returns the (master's) exit code."""
        profile, request = self.profile, self.request
        workers = request.workers
        locust_dir = run_dir.locust_dir
        if request.web_port is not None:
            face = ["--web-host", "127.0.0.1", "--web-port", str(request.web_port)]
        else:
            face = ["--headless", "--only-summary"]
        command = [
            sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE),
            *face,
            "--users", str(profile.users + config.probe_count),
            "--spawn-rate", str(profile.spawn_rate),
            "--stop-timeout", str(LOCUST_STOP_TIMEOUT_S),
            "--csv", str(locust_dir / "stats"),
            "--html", str(locust_dir / "report.html"),
            "--json-file", str(locust_dir / "stats"),
            "--exit-code-on-error", "0",
            "--loglevel", "INFO",
            "--logfile", str(locust_dir / "locust.log"),
        ]  # fmt: skip
        env = self._locust_env(run_dir)
        port = request.master_port or free_port()
        if request.distributed:
            expected = request.workers + request.remote_workers
            command += [
                "--master", "--master-bind-host", request.master_bind, "--master-bind-port", str(port),
                "--expect-workers", str(expected), "--expect-workers-max-wait", str(WORKERS_WAIT_S),
            ]  # fmt: skip
        elif request.web_port is None:
            command += ["--run-time", f"{math.ceil(profile.duration_s)}s"]
        self.locust = self._spawn(command, env, locust_dir / "output.log", "master" if request.distributed else "")
        for index in range(workers):
            worker = [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
                "--master-host", "127.0.0.1", "--master-port", str(port),
                "--loglevel", "INFO", "--logfile", str(locust_dir / f"worker-{index + 1}.log"),
            ]  # fmt: skip
            self.workers.append(self._spawn(worker, env, locust_dir / f"worker-{index + 1}.out", f"worker-{index + 1}"))
        deadline: float | None = profile.duration_s + profile.ramp_s + LOCUST_STOP_TIMEOUT_S + GRACE_S
        deadline += WORKERS_WAIT_S if request.distributed else 0
        if request.web_port is not None:
            deadline = None  # an interactive session lasts until the user ends it (Ctrl-C)
        try:
            code = self.locust.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.notes.append(f"Locust did not stop within {deadline:.0f} s and was stopped from outside")
            code = self.stop_locust()
        self._stop_workers()
        return code

    def _stop_workers(self) -> None:
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

    def stop_locust(self) -> int:
        proc = self.locust
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else 0
        proc.send_signal(signal.SIGTERM)  # Locust quits gracefully and writes its CSV and HTML
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)

    def stop_all(self) -> None:
        if self.storms is not None:
            self.storms.stop()
        self.stop_locust()
        self._stop_workers()
        if self.monitor is not None:
            self.monitor.stop()
        self.embedded.stop()


def _distributed_notes(run_dir: RunDirectory) -> list[str]:
    """What the master saw go wrong with its workers (``events.jsonl``), for the manifest."""
    notes = []
    for event in run_dir.read_events():
        if event["event"] == "worker_lost":
            notes.append(f"worker {event.get('worker')} was lost mid-run; Locust moved its users to the others")
        elif event["event"] == "final_reports_missing":
            workers = ", ".join(event.get("workers", []))
            notes.append(f"no final interval from worker(s) {workers}: their last second is missing")
    return notes


def _locust_failure(run_dir: RunDirectory) -> str:
    log = run_dir.locust_dir / "output.log"
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    for line in reversed(lines):
        if "loadbench:" in line or "Error" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


class RunObserver(Protocol):
    """Who watches a run as it goes (the terminal's live view); every method is optional to act on."""

    def opened(self, run_dir: Path, colors: list[str], total_s: float) -> None: ...
    def phase(self, name: str) -> None: ...
    def slos(self, checks: list[LiveCheck]) -> None: ...
    def closed(self) -> None: ...


def run(
    request: RunRequest,
    *,
    on_status: Callable[[str], None] = lambda message: None,
    observer: RunObserver | None = None,
) -> RunOutcome:
    started = time.monotonic()
    profile = request.profile
    if request.target_mode == "canary" and not isinstance(profile.shape, CanaryShape):
        # --target canary follows the profile's canary split, or the migration's default one.
        profile = profile.model_copy(update={"shape": default_canary(profile.duration_s)})
    plans = plan_targets(request.target_mode, request.urls, allow_remote=request.allow_remote)
    if any(plan.url is not None for plan in plans):
        # External targets bring their own secrets: missing ones are a usage error now, not a
        # Locust process failing later.
        check_credentials(profile.auth, os.environ, admins=bool(profile.mix.get("AdminReader")))
    if request.remote_workers and any(plan.url is None for plan in plans):
        raise ConfigError(
            "remote workers cannot reach the embedded backends (they listen on this machine's loopback): "
            "give --blue-url/--green-url addresses the worker machines can reach"
        )
    swarm = preflight.plan_for(
        users=profile.users,
        mix=profile.mix,
        target_weights={plan.color: 1 for plan in plans},
        processes=request.workers + request.remote_workers,
        embedded=tuple(plan.color for plan in plans if plan.url is None),
    )
    if swarm is not None:  # refuse what this machine cannot hold before anything starts
        checked = preflight.ensure(swarm)
        if checked.raised_soft_to is not None:
            on_status(f"open-file soft limit raised to {checked.raised_soft_to} for {swarm.connections} connections")
    else:  # any run: an open-file limit too low for it is said now, not as a backend's traceback
        needed = preflight.run_files_needed(
            users=profile.users + len(plans),
            processes=request.workers + request.remote_workers,
            embedded=any(plan.url is None for plan in plans),
        )
        if (raised := preflight.ensure_open_files(needed)) is not None:
            on_status(f"open-file soft limit raised to {raised}")
    secret_env = run_secrets(profile, os.environ)
    run_dir = RunDirectory.create(
        out=request.out, results_root=request.results_root, profile=profile.name, target=request.target_mode
    )
    manifest = Manifest(
        run_id=uuid.uuid4().hex,
        profile_name=profile.name,
        profile=profile.model_dump(mode="json"),
        target_mode=request.target_mode,
        started_at=iso(utc_now()),
        interval_s=profile.interval_s,
        versions=metadata.versions(),
        git_sha=metadata.git_sha(),
        host=metadata.host(),
    )
    run_dir.write_manifest(manifest)
    on_status(f"run directory {run_dir.path}")
    if observer is not None:
        observer.opened(run_dir.path, [plan.color for plan in plans], profile.duration_s)
        observer.phase("starting targets")
    state = _Run(request, on_status, secret_env)
    status, exit_code, reason = "complete", 0, ""
    preflight_stopped = False
    try:
        with _interruptible():
            try:
                targets = state.start_targets(plans)
                manifest = manifest.model_copy(
                    update={
                        "targets": [
                            TargetInfo(
                                color=t.color,
                                url=t.url,
                                embedded=plan.url is None,
                                dialect=t.dialect.model_dump(mode="json"),
                                pid=state.embedded.target(t.color).pid if t.color in state.embedded else None,
                            )
                            for t, plan in zip(targets, plans, strict=True)
                        ]
                    }
                )
                run_dir.write_manifest(manifest)
                if request.preflight:
                    if observer is not None:
                        observer.phase("preflight")
                    on_status("preflight: the steps this workload needs, once per color")
                    found = state.preflight(run_dir, targets, embedded=any(plan.url is None for plan in plans))
                    manifest = manifest.model_copy(update={"preflight_notes": found.notes})
                    run_dir.write_manifest(manifest)
                    for note in found.notes:
                        on_status(note)
                    if found.stop is not None:
                        preflight_stopped = True
                        error_class = InfrastructureError if found.exit_code == EXIT_INFRA else ConfigError
                        raise error_class(found.stop)
                config = RunConfig(
                    run_dir=str(run_dir.path),
                    profile=profile,
                    targets=tuple(targets),
                    end_after_s=None if request.web_port is not None or not request.distributed else profile.duration_s,
                    allow_remote=request.allow_remote,
                    parent_pid=os.getpid(),
                )
                config.write(run_dir.file(RUN_CONFIG))
                state.start_monitor(run_dir, targets)
                # The web UI's SLO tab and the terminal's live view read the live judgement.
                state.live = LiveJudge(run_dir, on_update=observer.slos if observer is not None else None)
                state.live.start()
                state.start_storms(run_dir, plans)
                processes = f" on {request.workers} worker processes" if request.workers else ""
                if request.remote_workers:
                    processes += f" + {request.remote_workers} remote (master on {request.master_bind})"
                if request.web_port is not None:
                    on_status(
                        f"web UI on http://127.0.0.1:{request.web_port} ({profile.name}: "
                        f"{', '.join(f'{t.color} {t.url}' for t in targets)}); Ctrl-C ends the session"
                    )
                else:
                    on_status(
                        f"running {profile.name}: {profile.users} users over {', '.join(t.color for t in targets)} "
                        f"for {profile.duration_s:g} s (ramp {profile.ramp_s:g} s){processes}"
                    )
                manifest = manifest.model_copy(update={"steady_state_from": time.time() + profile.ramp_s})
                run_dir.write_manifest(manifest)
                if observer is not None:
                    observer.phase("ramping")
                code = state.run_locust(run_dir, config)
                if code != 0:
                    status, exit_code = "partial", EXIT_INFRA
                    reason = f"Locust exited with code {code}: {_locust_failure(run_dir)}"
            finally:
                on_status("stopping")
                if observer is not None:
                    observer.phase("cooling down")
                state.stop_all()
                if state.monitor is not None and state.monitor.write_error:
                    state.notes.append(state.monitor.write_error)
                state.notes.extend(_distributed_notes(run_dir))
            if status == "complete" and (saturated := saturated_generators(iter_resource_rows(run_dir))):
                status, exit_code, reason = "invalid", EXIT_INVALID, "; ".join(saturated)
    except RunInterrupted as interrupted:
        if request.web_port is None:
            status, exit_code, reason = "partial", EXIT_INFRA, str(interrupted)
        # else: Ctrl-C is how an interactive session ends; what it measured is judged as usual
    except LoadbenchError as error:
        # A run the preflight stopped never started: nothing in it can be judged.
        stopped = error.exit_code == 3 or preflight_stopped
        status, exit_code, reason = ("invalid" if stopped else "partial"), error.exit_code, str(error)
    if reason:
        state.notes.append(reason)
    run_dir.write_manifest(
        manifest.model_copy(
            update={
                "status": status,
                "ended_at": iso(utc_now()),
                "notes": state.notes,
                "invalid_reason": reason if status == "invalid" else None,
                "exit_code": exit_code,
            }
        )
    )
    judged = None
    late_signals: list[str] = []
    with _interruptible(defer=late_signals):
        if status != "invalid" or run_dir.file("samples.jsonl").exists():
            on_status("analysing")
            if observer is not None:
                observer.phase("analysing")
            judged = judge_run(run_dir.path)
            write_verdict(judged)
            if request.report:
                on_status("drawing plots and report.html")
                write_report(judged)
            if exit_code == 0:
                exit_code = judged.verdict.exit_code
        if late_signals:
            exit_code = EXIT_INFRA
            reason = f"interrupted by {late_signals[0]} while writing results (they were written in full)"
        run_dir.update_manifest(exit_code=exit_code)
        if (problem := index_run(run_dir.path, judged.run if judged else None)) is not None:
            on_status(problem)  # the run's result stands; only its history entry is missing
    if observer is not None:
        observer.closed()
    return RunOutcome(run_dir.path, status, exit_code, time.monotonic() - started, judged, reason)
