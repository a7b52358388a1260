"""The composition root of the Locust side: from a ``RunConfig`` to concrete user classes and
listeners. The locustfile only calls ``define_workload``.

One concrete class per (user class, target): ``ChatUser_blue``, ``ChatUser_green``. Each simulated
user therefore sticks to one color, Locust's own dispatcher splits users by the classes' weights
(``both``: even; canary: by share), and the web UI lists the colors apart.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from locust import User, between, constant_pacing
from locust.env import Environment

from loadtests import parent_watch
from loadtests.config import RunConfig, TargetConfig, load_run_config
from loadtests.credentials import CredentialPool, TokenMinter, admin_account, load_accounts, token_minter
from loadtests.live import LIVE_SLO
from loadtests.recorder.format import ARRIVALS
from loadtests.recorder.plugin import RecorderPlugin
from loadtests.recorder.response import ResponseTimePlugin
from loadtests.recorder.schedule import ArrivalsPlugin, ScheduleGauge
from loadtests.shapes import CanaryShape, shape_class
from loadtests.swarm.gauge import ConnectionsPlugin
from loadtests.users import AdminReader, AgentRunnerUser, ChatUser, HealthProbe, PlatformUser, UploaderUser
from loadtests.users.open_model import OpenModelUser
from loadtests.users.swarm import SwarmUser, swarm_class_attributes
from loadtests.webui import add_arguments, install_slo_tab

log = logging.getLogger(__name__)

# This process's open-model arrival counters, shared by the colors' OpenModelUsers (arrivals.jsonl).
SCHEDULE = ScheduleGauge()

USER_CLASSES: dict[str, type[PlatformUser] | type[SwarmUser]] = {
    "ChatUser": ChatUser,
    "UploaderUser": UploaderUser,
    "AgentRunnerUser": AgentRunnerUser,
    "AdminReader": AdminReader,
    "SwarmUser": SwarmUser,
}
# The profile section whose think time paces each class.
THINK_TIME_SECTION = {
    "ChatUser": "chat",
    "UploaderUser": "uploader",
    "AgentRunnerUser": "agents",
    "AdminReader": "admin",
}


def _concrete(
    base: type[User], target: TargetConfig, config: RunConfig, *, suffix: str = "", **attrs: object
) -> type[User]:
    name = f"{base.__name__}_{target.color}{suffix}"
    return type(
        name,
        (base,),
        {
            "abstract": False,
            "target": target,
            "profile": config.profile,
            "host": target.url,
            "allow_remote": config.allow_remote,
            **attrs,
        },
    )


def _class_attrs(config: RunConfig, target: TargetConfig, base: type[User], pools: _Pools) -> dict[str, object]:
    profile = config.profile
    if issubclass(base, SwarmUser):  # paces itself on its connection: no think time, no pool
        return swarm_class_attributes(target, config, pools.password, pools.environ)
    return {
        "wait_time": between(*getattr(profile, THINK_TIME_SECTION[base.__name__]).think_time_s),
        "credentials": pools.admins if base is AdminReader else pools.users,
        "minter": pools.minter,
    }


@dataclass
class _Pools:
    users: CredentialPool
    admins: CredentialPool
    minter: TokenMinter | None
    password: str
    environ: Mapping[str, str]


def user_classes(config: RunConfig, environ: Mapping[str, str] = os.environ) -> dict[str, type[User]]:
    """One concrete class per (user class, target) — and, for a canary shape, per stage, with the
    stage's split in the weights (Locust reads weights per class, so a split is a set of classes)."""
    return _workload(config, environ)[0]


def _workload(
    config: RunConfig, environ: Mapping[str, str]
) -> tuple[dict[str, type[User]], list[list[type[User]]] | None]:
    profile = config.profile
    accounts = load_accounts(profile.auth, environ)
    admins = [admin_account(profile.auth, environ)] if profile.mix.get("AdminReader") else accounts
    minter = token_minter(profile.auth, environ)
    password = environ.get(profile.auth.password_env, "")
    canary = profile.shape if isinstance(profile.shape, CanaryShape) else None
    classes: dict[str, type[User]] = {}
    stages: list[list[type[User]]] = [[] for _ in canary.stages] if canary else [[]]
    for target in config.targets:
        # A worker's block of accounts: its closed users' and its open-model slots'.
        block = profile.users + (profile.arrivals.max_in_flight if profile.arrivals is not None else 0)
        pools = _Pools(CredentialPool(accounts, block=block), CredentialPool(admins), minter, password, environ)
        for index, stage_classes in enumerate(stages):
            share = canary.share(index, target.color) if canary else 1
            for class_name, weight in profile.mix.items():
                if weight * target.weight * share == 0:
                    continue
                base = USER_CLASSES[class_name]
                suffix = f"_s{index + 1}" if canary else ""
                cls = _concrete(
                    base, target, config, suffix=suffix, weight=weight * target.weight * share,
                    **_class_attrs(config, target, base, pools),
                )  # fmt: skip
                classes[cls.__name__] = cls
                stage_classes.append(cls)
        if profile.arrivals is not None:
            open_model = _concrete(
                OpenModelUser, target, config, fixed_count=config.processes, credentials=pools.users,
                minter=minter, processes=config.processes, gauge=SCHEDULE,
            )  # fmt: skip
            classes[open_model.__name__] = open_model
            for stage_classes in stages:
                stage_classes.append(open_model)
        if profile.health_probe_s:
            probe = _concrete(
                HealthProbe,
                target,
                config,
                fixed_count=1,
                wait_time=constant_pacing(profile.health_probe_s),
                credentials=pools.users,
                minter=minter,
            )
            classes[probe.__name__] = probe
            for stage_classes in stages:
                stage_classes.append(probe)
    return classes, (stages if canary else None)


def define_workload(events, environ: Mapping[str, str] = os.environ) -> dict[str, type]:  # type: ignore[no-untyped-def]
    """Read the run config, register the recorder, and return the user classes (and the load
    shape, if the profile has one) for the locustfile to expose."""
    config = load_run_config(environ)
    run_dir = Path(config.run_dir) if config.run_dir else None
    if run_dir is None:
        log.warning("no run directory: exact recording is off (use `loadbench run` or `loadbench ui`)")

    classes, stages = _workload(config, environ)
    profile = config.profile
    shape = None
    if profile.shape is not None:
        shape = shape_class(
            profile.shape,
            users=profile.users,
            spawn_rate=profile.spawn_rate,
            duration_s=profile.duration_s,
            classes_by_stage=stages,
            ends_run=config.end_after_s is None,
        )
    gauges = [cls.swarm.gauge for cls in classes.values() if issubclass(cls, SwarmUser)]

    def on_init(environment: Environment, **_: object) -> None:
        if config.profile.arrivals is not None:  # before the recorder, as the gauges (their finals first)
            environment.loadbench_response = ResponseTimePlugin(  # type: ignore[attr-defined]
                environment, run_dir=run_dir, interval_s=config.profile.interval_s
            )
            environment.loadbench_arrivals = ArrivalsPlugin(  # type: ignore[attr-defined]
                environment, gauge=SCHEDULE, run_dir=run_dir, interval_s=config.profile.interval_s
            )
        if gauges:  # before the recorder: a worker's last connection counts must leave first
            environment.loadbench_connections = ConnectionsPlugin(  # type: ignore[attr-defined]
                environment, gauges=gauges, run_dir=run_dir, interval_s=config.profile.interval_s
            )
        recorder = environment.loadbench_recorder = RecorderPlugin(  # type: ignore[attr-defined]
            environment, run_dir=run_dir, interval_s=config.profile.interval_s, end_after_s=config.end_after_s
        )
        if run_dir is not None:
            arrivals = run_dir / ARRIVALS if config.profile.arrivals is not None else None
            install_slo_tab(environment, run_dir / LIVE_SLO, arrivals)
        if config.parent_pid is not None:  # started by loadbench run: never outlive it
            parent_watch.install(
                environment, parent_pid=config.parent_pid, run_dir=run_dir, await_finals=recorder.await_final_reports
            )

    events.init.add_listener(on_init)
    events.init_command_line_parser.add_listener(lambda parser, **_: add_arguments(parser, config))
    return {**classes, **({shape.__name__: shape} if shape is not None else {})}
