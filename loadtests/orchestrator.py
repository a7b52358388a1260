"""``run(request) -> RunOutcome``: one headless run, start to verdict.

1. plan: the profile as run, its targets, secrets and open files (``loadtests.planning``);
2. create the run directory and its manifest (``partial`` until the end);
3. start embedded backends on free loopback ports, wait until ready; probe external ones
   (``loadtests.run_targets``, ``loadtests.embedded``); the preflight checks the workload's steps;
4. start the resource monitor (targets and the generator) and the planned restarts;
5. run Locust headless in its own process (the workload's locustfile), bounded in time
   (``loadtests.locust_process``);
6. stop everything, mark the manifest, judge the run and draw its report (``analysis.judge``).

Ctrl-C or SIGTERM at any point stops Locust gracefully, keeps what was measured, marks the run
``partial`` and ends with exit 4 (``loadtests.interrupts``). SIGKILL (or the OOM killer) leaves
nothing running either: every child watches this process (``contract.lifeline``), Locust records
when it died and stops (``loadtests.parent_watch``), the backends stop and remove their temporary
folders. Secrets go to child processes through the environment only.

The environment and the clock are parameters (the real ones by default): nothing below ``run``
reads ``os.environ``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from contract.accounts import ENV_JWT_SECRET
from loadtests import metadata
from loadtests.config import RunConfig, TargetConfig
from loadtests.embedded import run_secrets
from loadtests.errors import EXIT_INFRA, EXIT_INVALID, ConfigError, InfrastructureError, LoadbenchError
from loadtests.interrupts import RunInterrupted, interruptible
from loadtests.live import LiveCheck, LiveJudge
from loadtests.locust_process import WORKERS_WAIT_S, LocustProcess, distributed_notes, locust_failure
from loadtests.monitor.saturation import saturated_generators
from loadtests.planning import RunPlan, RunRequest, plan_run
from loadtests.recorder.format import RUN_CONFIG, iso
from loadtests.recorder.lateness import pacing_problems
from loadtests.recorder.rundir import SAMPLES, Manifest, RunDirectory, iter_resource_rows
from loadtests.run_targets import RunTargets

if TYPE_CHECKING:
    from analysis.judge import Judged

__all__ = ["Clock", "RunObserver", "RunOutcome", "RunRequest", "run"]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    status: str
    exit_code: int
    wall_s: float
    judged: Judged | None
    reason: str = ""


@dataclass(frozen=True)
class Clock:
    """Where a run reads the time: ``monotonic`` for durations, ``epoch`` for time stamps."""

    monotonic: Callable[[], float] = time.monotonic
    epoch: Callable[[], float] = time.time

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), UTC)


SYSTEM_CLOCK = Clock()


class RunObserver(Protocol):
    """Who watches a run as it goes (the terminal's live view); every method is optional to act on."""

    def opened(self, run_dir: Path, colors: list[str], total_s: float) -> None: ...
    def phase(self, name: str) -> None: ...
    def slos(self, checks: list[LiveCheck]) -> None: ...
    def closed(self) -> None: ...


class _Run:
    """One run while it goes: ``measure`` (targets, preflight, monitor, Locust) inside the signal
    handling, then ``finish`` (the manifest's last word) and ``judge``."""

    def __init__(
        self,
        request: RunRequest,
        plan: RunPlan,
        run_dir: RunDirectory,
        *,
        environ: Mapping[str, str],
        secret_env: dict[str, str],
        on_status: Callable[[str], None],
        observer: RunObserver | None,
        clock: Clock,
    ) -> None:
        self.request = request
        self.plan = plan
        self.profile = plan.profile
        self.run_dir = run_dir
        self.say = on_status
        self.observer = observer
        self.clock = clock
        self.secret_env = secret_env  # for the children's environment only (run_secrets)
        self.env = {**environ, **secret_env}  # the children's environment
        self.notes: list[str] = []
        self.targets = RunTargets(self.profile, env=self.env, pids=request.pids, on_status=on_status, notes=self.notes)
        self.locust = LocustProcess(
            request, self.profile, run_dir, env=self.env, on_spawn=self.targets.watch_generator, notes=self.notes
        )
        self.live: LiveJudge | None = None
        self.manifest = self._first_manifest()
        self.status, self.exit_code, self.reason = "complete", 0, ""
        self.preflight_stopped = False

    # -- the manifest -------------------------------------------------------------------------
    def _first_manifest(self) -> Manifest:
        profile = self.profile
        return Manifest(
            run_id=uuid.uuid4().hex,
            profile_name=profile.name,
            profile=profile.model_dump(mode="json"),
            target_mode=self.request.target_mode,
            started_at=iso(self.clock.utc()),
            interval_s=profile.interval_s,
            versions=metadata.versions(),
            git_sha=metadata.git_sha(),
            host=metadata.host(),
        )

    def _record(self, **changes: Any) -> None:
        """Change the manifest and write it (atomically: a killed run leaves the last one whole)."""
        if changes:
            self.manifest = self.manifest.model_copy(update=changes)
        self.run_dir.write_manifest(self.manifest)

    def _phase(self, name: str) -> None:
        if self.observer is not None:
            self.observer.phase(name)

    def _end(self, status: str, exit_code: int, reason: str) -> None:
        self.status, self.exit_code, self.reason = status, exit_code, reason

    # -- measuring ----------------------------------------------------------------------------
    def measure(self) -> None:
        """Everything up to the end of the load; an interrupt or a refusal ends the run
        ``partial`` (or ``invalid`` when nothing could be judged) with its exit code."""
        try:
            with interruptible():
                try:
                    self._measure()
                finally:
                    self._stop()
                if self.status == "complete" and (saturated := saturated_generators(iter_resource_rows(self.run_dir))):
                    self._end("invalid", EXIT_INVALID, "; ".join(saturated))
                arrivals = self.profile.arrivals
                if self.status == "complete" and arrivals is not None:
                    late = pacing_problems(self.run_dir.read_arrivals(), bound_ms=arrivals.pacing_error_ms)
                    if late:
                        self._end("invalid", EXIT_INVALID, "; ".join(late))
        except RunInterrupted as interrupted:
            if self.request.web_port is None:
                self._end("partial", EXIT_INFRA, str(interrupted))
            # else: Ctrl-C is how an interactive session ends; what it measured is judged as usual
        except LoadbenchError as error:
            # A run the preflight stopped never started: nothing in it can be judged.
            stopped = error.exit_code == 3 or self.preflight_stopped
            self._end("invalid" if stopped else "partial", error.exit_code, str(error))
        if self.reason:
            self.notes.append(self.reason)

    def _measure(self) -> None:
        profile = self.profile
        targets = self.targets.start(self.plan.targets)
        self._record(targets=self.targets.infos(targets))
        if self.request.preflight:
            self._preflight(targets)
        config = self._run_config(targets)
        self.targets.start_monitor(self.run_dir, targets)
        # The web UI's SLO tab and the terminal's live view read the live judgement.
        self.live = LiveJudge(self.run_dir, on_update=self.observer.slos if self.observer is not None else None)
        self.live.start()
        self.targets.start_storms(
            self.run_dir, self.plan.targets, give_up_after_s=profile.ramp_s + profile.duration_s + WORKERS_WAIT_S
        )
        self._announce(targets)
        self._record(steady_state_from=self.clock.epoch() + profile.ramp_s)
        self._phase("ramping")
        code = self.locust.run(config)
        if code != 0:
            self._end("partial", EXIT_INFRA, f"Locust exited with code {code}: {locust_failure(self.run_dir)}")

    def _preflight(self, targets: list[TargetConfig]) -> None:
        """The probe's steps this workload needs, on every target; ``compat.json`` in the run. A
        step that cannot work stops the run here, before the load."""
        from analysis import compat
        from loadtests.probe.preflight import PreflightTarget, run_preflight

        self._phase("preflight")
        self.say("preflight: the steps this workload needs, once per color")
        found = run_preflight(
            self.profile,
            [PreflightTarget(t.color, t.url, t.dialect) for t in targets],
            self.env,
            secret=self.secret_env[ENV_JWT_SECRET] if self.plan.embedded else None,
        )
        self.run_dir.write_json(compat.COMPAT_FILE, found.document)
        self.run_dir.write_text(compat.COMPAT_MD, compat.markdown(found.document))
        self._record(preflight_notes=found.notes)
        for note in found.notes:
            self.say(note)
        if found.stop is not None:
            self.preflight_stopped = True
            error_class = InfrastructureError if found.exit_code == EXIT_INFRA else ConfigError
            raise error_class(found.stop)

    def _run_config(self, targets: list[TargetConfig]) -> RunConfig:
        """What the Locust processes read (``LOADBENCH_RUN_CONFIG``), written into the run."""
        request = self.request
        config = RunConfig(
            run_dir=str(self.run_dir.path),
            profile=self.profile,
            targets=tuple(targets),
            end_after_s=None if request.web_port is not None or not request.distributed else self.profile.duration_s,
            allow_remote=request.allow_remote,
            parent_pid=os.getpid(),
            processes=(request.workers + request.remote_workers) if request.distributed else 1,
        )
        config.write(self.run_dir.file(RUN_CONFIG))
        return config

    def _announce(self, targets: list[TargetConfig]) -> None:
        request, profile = self.request, self.profile
        processes = f" on {request.workers} worker processes" if request.workers else ""
        if request.remote_workers:
            processes += f" + {request.remote_workers} remote (master on {request.master_bind})"
        if request.web_port is not None:
            self.say(
                f"web UI on http://127.0.0.1:{request.web_port} ({profile.name}: "
                f"{', '.join(f'{t.color} {t.url}' for t in targets)}); Ctrl-C ends the session"
            )
        else:
            self.say(
                f"running {profile.name}: {profile.users} users over {', '.join(t.color for t in targets)} "
                f"for {profile.duration_s:g} s (ramp {profile.ramp_s:g} s){processes}"
            )

    def _stop(self) -> None:
        self.say("stopping")
        self._phase("cooling down")
        self.targets.stop_storms()
        self.locust.stop()
        self.targets.stop()
        monitor = self.targets.monitor
        if monitor is not None and monitor.write_error:
            self.notes.append(monitor.write_error)
        self.notes.extend(distributed_notes(self.run_dir))

    # -- finishing and judging ----------------------------------------------------------------
    def finish(self) -> None:
        """The manifest's last word on how the run went (the verdict adds its exit code)."""
        self._record(
            status=self.status,
            ended_at=iso(self.clock.utc()),
            notes=self.notes,
            invalid_reason=self.reason if self.status == "invalid" else None,
            exit_code=self.exit_code,
        )

    def judge(self) -> Judged | None:
        """Judge what was measured (a run stopped before its load has nothing to judge), write the
        verdict and the report, add the run to the index. Signals wait until all is written."""
        # Imported here, not at the top: pandas and the analysis cost ~0.4 s, which a refused
        # profile or an unreachable target should not wait for.
        from analysis.history import index_run
        from analysis.judge import judge_run, write_report, write_verdict

        judged = None
        late_signals: list[str] = []
        with interruptible(defer=late_signals):
            if self.status != "invalid" or self.run_dir.file(SAMPLES).exists():
                self.say("analysing")
                self._phase("analysing")
                judged = judge_run(self.run_dir.path)
                write_verdict(judged)
                if self.request.report:
                    self.say("drawing plots and report.html")
                    write_report(judged)
                if self.exit_code == 0:
                    self.exit_code = judged.verdict.exit_code
            if late_signals:
                self.exit_code = EXIT_INFRA
                self.reason = f"interrupted by {late_signals[0]} while writing results (they were written in full)"
            self.run_dir.update_manifest(exit_code=self.exit_code)
            if (problem := index_run(self.run_dir.path, judged.run if judged else None)) is not None:
                self.say(problem)  # the run's result stands; only its history entry is missing
        return judged


def run(
    request: RunRequest,
    *,
    on_status: Callable[[str], None] = lambda message: None,
    observer: RunObserver | None = None,
    environ: Mapping[str, str] = os.environ,
    clock: Clock = SYSTEM_CLOCK,
) -> RunOutcome:
    started = clock.monotonic()
    plan = plan_run(request, environ, on_status=on_status)
    secret_env = run_secrets(plan.profile, environ)
    run_dir = RunDirectory.create(
        out=request.out, results_root=request.results_root, profile=plan.profile.name, target=request.target_mode
    )
    state = _Run(
        request,
        plan,
        run_dir,
        environ=environ,
        secret_env=secret_env,
        on_status=on_status,
        observer=observer,
        clock=clock,
    )
    run_dir.write_manifest(state.manifest)
    on_status(f"run directory {run_dir.path}")
    if observer is not None:
        observer.opened(run_dir.path, plan.colors, plan.profile.duration_s)
        observer.phase("starting targets")
    state.measure()
    state.finish()
    judged = state.judge()
    if observer is not None:
        observer.closed()
    return RunOutcome(run_dir.path, state.status, state.exit_code, clock.monotonic() - started, judged, state.reason)
