"""What a run was asked to do (``RunRequest``) and what it will do about it (``RunPlan``), decided
before anything starts: the profile as run, its targets, the secrets external targets must bring,
and whether this machine can hold the load (open files).

Every refusal here is a ``ConfigError`` (exit 2) with nothing started and nothing written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.credentials import check_credentials
from loadtests.errors import ConfigError
from loadtests.profiles import Profile
from loadtests.shapes import CanaryShape, default_canary
from loadtests.swarm import preflight
from loadtests.targets import TargetPlan, is_loopback, plan_targets


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
    # Asked every ``look_every_s`` while the load runs (``loadbench gate``): a reason to end it
    # early, or None to go on. It reads the run directory it is given.
    early_stop: Callable[[Path], str | None] | None = None
    look_every_s: float = 10.0

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0

    pids: dict[str, int] = field(default_factory=dict)  # local processes of external targets, by color


@dataclass(frozen=True)
class RunPlan:
    profile: Profile  # as run: ``--target canary`` gives it a canary shape
    targets: tuple[TargetPlan, ...]

    @property
    def colors(self) -> list[str]:
        return [plan.color for plan in self.targets]

    @property
    def embedded(self) -> list[str]:
        """The colors served by the embedded reference backends (no URL given)."""
        return [plan.color for plan in self.targets if plan.url is None]

    def is_embedded(self, color: str) -> bool:
        return color in self.embedded


def plan_run(
    request: RunRequest, environ: Mapping[str, str], *, on_status: Callable[[str], None] = lambda message: None
) -> RunPlan:
    """The run's plan, or a ``ConfigError`` before anything starts."""
    profile = request.profile
    if request.target_mode == "canary" and not isinstance(profile.shape, CanaryShape):
        # --target canary follows the profile's canary split, or the migration's default one.
        profile = profile.model_copy(update={"shape": default_canary(profile.duration_s)})
    plan = RunPlan(profile, tuple(plan_targets(request.target_mode, request.urls, allow_remote=request.allow_remote)))
    if len(plan.embedded) < len(plan.targets):
        # External targets bring their own secrets: missing ones are a usage error now, not a
        # Locust process failing later.
        check_credentials(profile.auth, environ, admins=bool(profile.mix.get("AdminReader")))
    if request.remote_workers and plan.embedded:
        raise ConfigError(
            "remote workers cannot reach the embedded backends (they listen on this machine's loopback): "
            "give --blue-url/--green-url addresses the worker machines can reach"
        )
    _ensure_open_files(plan, request.workers, request.remote_workers, on_status)
    return plan


def _on_loopback(target: TargetPlan) -> bool:
    return target.url is None or is_loopback(urlsplit(target.url).hostname or "")


def _ensure_open_files(
    plan: RunPlan, local_workers: int, remote_workers: int, on_status: Callable[[str], None]
) -> None:
    """Refuse what this machine cannot hold before anything starts (raising the soft limit when it can)."""
    profile = plan.profile
    processes = local_workers + remote_workers
    swarm = preflight.plan_for(
        users=profile.users,
        mix=profile.mix,
        target_weights={color: 1 for color in plan.colors},
        processes=processes,
        embedded=tuple(plan.embedded),
        # distributed: the master holds no users, the remote workers hold their share elsewhere
        local_processes=local_workers if processes else None,
        sources=profile.swarm.sources,
        loopback_targets=all(_on_loopback(target) for target in plan.targets),
        client_kb=preflight.CLIENT_KB_PER_CONNECTION[profile.swarm.engine],
    )
    if swarm is not None:
        checked = preflight.ensure(swarm)
        if checked.raised_soft_to is not None:
            on_status(f"open-file soft limit raised to {checked.raised_soft_to} for {swarm.connections} connections")
    else:  # any run: an open-file limit too low for it is said now, not as a backend's traceback
        needed = preflight.run_files_needed(
            users=profile.users + len(plan.targets), processes=processes, embedded=bool(plan.embedded)
        )
        if (raised := preflight.ensure_open_files(needed)) is not None:
            on_status(f"open-file soft limit raised to {raised}")
