"""The targets of one run while it goes: embedded backends started (external ones checked), the
resource monitor sampling them and the load generators, the restarts a profile plans (reconnect
storms, outages), and stopping all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import psutil

from loadtests.config import TargetConfig
from loadtests.embedded import EmbeddedBackends
from loadtests.errors import ConfigError, InfrastructureError
from loadtests.monitor.monitor import ResourceMonitor
from loadtests.monitor.sampler import ProcessTreeSampler, PrometheusSampler, Sampler, listening_pid
from loadtests.profiles import Profile
from loadtests.recorder.rundir import RunDirectory, TargetInfo
from loadtests.swarm.storm import RunningTarget, StormDriver
from loadtests.targets import TargetPlan, is_loopback


class RunTargets:
    """``env`` is the children's whole environment (the run's secrets included); ``pids`` the local
    processes of external targets, by color; ``notes`` gets what the manifest should say."""

    def __init__(
        self,
        profile: Profile,
        *,
        env: Mapping[str, str],
        pids: Mapping[str, int],
        on_status: Callable[[str], None],
        notes: list[str],
    ) -> None:
        self.profile = profile
        self.pids = pids
        self.say = on_status
        self.notes = notes
        self.embedded = EmbeddedBackends(env)
        self.monitor: ResourceMonitor | None = None
        self.storms: StormDriver | None = None

    # -- start --------------------------------------------------------------------------------
    def start(self, plans: Sequence[TargetPlan]) -> list[TargetConfig]:
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
                _reachable(plan.color, plan.url)
                url = plan.url
            targets.append(TargetConfig(color=plan.color, url=url, dialect=dialect))
        return targets

    def infos(self, targets: Sequence[TargetConfig]) -> list[TargetInfo]:
        """The targets as the manifest records them."""
        return [
            TargetInfo(
                color=t.color,
                url=t.url,
                embedded=t.color in self.embedded,
                dialect=t.dialect.model_dump(mode="json"),
                pid=self.embedded.target(t.color).pid if t.color in self.embedded else None,
            )
            for t in targets
        ]

    # -- resources ----------------------------------------------------------------------------
    def sampler(self, target: TargetConfig) -> Sampler:
        """Embedded: the process we started. External on this machine: the process given by
        ``--<color>-pid`` or the one listening on the URL's port. Elsewhere: its ``/metrics``."""
        if target.color in self.embedded:
            return ProcessTreeSampler(self.embedded.target(target.color).pid, role="target", color=target.color)
        parts = urlsplit(target.url)
        pid = self.pids.get(target.color)
        if pid is None and is_loopback(parts.hostname or ""):
            pid = listening_pid(parts.port or (443 if parts.scheme == "https" else 80))
        if pid is not None:
            try:
                return ProcessTreeSampler(pid, role="target", color=target.color)
            except psutil.Error as error:
                raise ConfigError(f"--{target.color}-pid {pid}: {error}") from None
        return PrometheusSampler(f"{target.url}/metrics", role="target", color=target.color)

    def start_monitor(self, run_dir: RunDirectory, targets: Sequence[TargetConfig]) -> None:
        self.monitor = ResourceMonitor(run_dir.resources_writer(), interval_s=1.0)
        for target in targets:
            sampler = self.sampler(target)
            if isinstance(sampler, PrometheusSampler) and sampler.sample() is None:
                where = f"no local process and no {sampler.metrics_url}"
                self.notes.append(f"no resource figures for {target.color}: {where}")
                continue
            self.monitor.add(sampler)
        self.monitor.start()

    def watch_generator(self, pid: int, role: str) -> None:
        """Sample a load-generating process (a Locust master, worker or single process)."""
        if self.monitor is not None:
            self.monitor.add(ProcessTreeSampler(pid, role="generator", color=role))

    # -- planned restarts ---------------------------------------------------------------------
    def start_storms(self, run_dir: RunDirectory, plans: Sequence[TargetPlan], *, give_up_after_s: float) -> None:
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

        def restarted(old: RunningTarget, new: RunningTarget) -> None:
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
                give_up_after_s=give_up_after_s,
                on_restart=restarted,
            )
            self.storms.start()

    # -- stop ---------------------------------------------------------------------------------
    def stop_storms(self) -> None:
        if self.storms is not None:
            self.storms.stop()

    def stop(self) -> None:
        """Stop sampling, then the embedded backends (after the load has stopped)."""
        if self.monitor is not None:
            self.monitor.stop()
        self.embedded.stop()


def _reachable(color: str, url: str) -> None:
    import httpx

    try:
        httpx.get(url + "/", timeout=5.0)
    except httpx.HTTPError as error:
        raise InfrastructureError(f"{color} target {url} is unreachable: {type(error).__name__}") from None
