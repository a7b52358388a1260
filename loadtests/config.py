"""What the Locust process needs to know about a run, handed over as ``run-config.json``.

The orchestrator writes it into the run directory and points ``LOADBENCH_RUN_CONFIG`` at it (the
locustfile must know the targets at import time, before Locust parses its arguments, to define
one user class per target). It holds no secrets: passwords come from the environment.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from loadtests.dialects.options import DialectOptions
from loadtests.errors import ConfigError
from loadtests.profiles import Profile, load_profile

ENV_RUN_CONFIG = "LOADBENCH_RUN_CONFIG"
# Set by `loadbench worker`: the run config's folder is the worker's own (a temporary one, made
# before it became Locust by exec), removed when the Locust process exits.
ENV_RUN_CONFIG_OWNED = "LOADBENCH_RUN_CONFIG_OWNED"

# `locust -f loadtests/locustfile.py` with no run config: the contract's default ports, which is
# where `loadbench serve blue` and `loadbench serve green` listen.
EXPLORATORY_TARGETS = {"blue": "http://127.0.0.1:8000", "green": "http://127.0.0.1:5000"}


class TargetConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    color: str
    url: str
    dialect: DialectOptions = DialectOptions()
    weight: int = Field(default=1, ge=0)  # share of the users (both: 1/1; canary: 90/10 …)


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_dir: str | None = None
    profile: Profile
    targets: tuple[TargetConfig, ...]
    # Distributed runs: the master ends the run itself after this long (see recorder.plugin).
    end_after_s: float | None = None
    # Non-loopback hosts the user allowed (--allow-remote): URLs edited in the web UI obey them too.
    allow_remote: tuple[str, ...] = ()
    # The orchestrator's pid: the Locust processes it starts stop when it dies (loadtests.parent_watch).
    parent_pid: int | None = None
    # Locust processes that run users (1, or the workers of a distributed run): an open-model
    # profile's rates are split over them (loadtests.users.open_model).
    processes: int = Field(default=1, ge=1)

    @property
    def probe_count(self) -> int:
        """Users taken by the fixed-count health probes (Locust takes them from the total)."""
        return len(self.targets) if self.profile.health_probe_s else 0

    @property
    def open_model_count(self) -> int:
        """Fixed-count open-model users: one per color and process."""
        return len(self.targets) * self.processes if self.profile.arrivals is not None else 0

    @property
    def locust_users(self) -> int:
        """What Locust's ``--users`` must be: the closed users, the probes and the open-model users."""
        return (self.profile.users if self.profile.mix else 0) + self.probe_count + self.open_model_count

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_run_config(environ: Mapping[str, str] = os.environ) -> RunConfig:
    """The run config named by ``LOADBENCH_RUN_CONFIG``, or the exploratory default."""
    path = environ.get(ENV_RUN_CONFIG)
    if not path:
        profile = load_profile("smoke")
        targets = tuple(
            TargetConfig(color=color, url=url, dialect=profile.dialect(color))
            for color, url in EXPLORATORY_TARGETS.items()
        )
        return RunConfig(profile=profile, targets=targets)
    if environ.get(ENV_RUN_CONFIG_OWNED) == "1":
        atexit.register(shutil.rmtree, Path(path).parent, ignore_errors=True)
    try:
        return RunConfig.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{ENV_RUN_CONFIG}={path}: {error.strerror}") from None
