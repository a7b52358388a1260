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
from pathlib import Path

from locust import User, between, constant_pacing
from locust.env import Environment

from loadtests.config import RunConfig, TargetConfig, load_run_config
from loadtests.errors import ConfigError
from loadtests.recorder.plugin import RecorderPlugin
from loadtests.users import ChatUser, HealthProbe, PlatformUser
from loadtests.users.base import CredentialPool

log = logging.getLogger(__name__)

USER_CLASSES: dict[str, type[PlatformUser]] = {"ChatUser": ChatUser}


def _concrete(base: type[PlatformUser], target: TargetConfig, config: RunConfig, **attrs: object) -> type[User]:
    name = f"{base.__name__}_{target.color}"
    return type(
        name,
        (base,),
        {"abstract": False, "target": target, "profile": config.profile, "host": target.url, **attrs},
    )


def user_classes(config: RunConfig, password: str) -> dict[str, type[User]]:
    profile = config.profile
    think = between(*profile.chat.think_time_s)
    classes: dict[str, type[User]] = {}
    for target in config.targets:
        pool = CredentialPool(profile.auth.usernames(), password)
        for class_name, weight in profile.mix.items():
            if weight * target.weight == 0:
                continue
            cls = _concrete(
                USER_CLASSES[class_name],
                target,
                config,
                weight=weight * target.weight,
                wait_time=think,
                credentials=pool,
            )
            classes[cls.__name__] = cls
        if profile.health_probe_s:
            probe = _concrete(
                HealthProbe,
                target,
                config,
                fixed_count=1,
                wait_time=constant_pacing(profile.health_probe_s),
                credentials=pool,
            )
            classes[probe.__name__] = probe
    return classes


def probe_count(config: RunConfig) -> int:
    """Users taken by the fixed-count probes (Locust takes them from the total user count)."""
    return len(config.targets) if config.profile.health_probe_s else 0


def define_workload(events, environ: Mapping[str, str] = os.environ) -> dict[str, type[User]]:  # type: ignore[no-untyped-def]
    """Read the run config, register the recorder, and return the user classes to expose."""
    config = load_run_config(environ)
    password = environ.get(config.profile.auth.password_env, "")
    if not password:
        raise ConfigError(
            f"set {config.profile.auth.password_env} to the password of the seeded user pool "
            "(loadbench run does this for the embedded backends)"
        )
    run_dir = Path(config.run_dir) if config.run_dir else None
    if run_dir is None:
        log.warning("no run directory: exact recording is off (use `loadbench run` or `loadbench ui`)")

    def on_init(environment: Environment, **_: object) -> None:
        environment.loadbench_recorder = RecorderPlugin(  # type: ignore[attr-defined]
            environment, run_dir=run_dir, interval_s=config.profile.interval_s, end_after_s=config.end_after_s
        )

    events.init.add_listener(on_init)
    return user_classes(config, password)
