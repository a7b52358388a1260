"""``loadbench worker``: a Locust worker on another machine, joining a master started with
``loadbench run --remote-workers N --master-bind 0.0.0.0``.

The worker derives the same user classes as the master from the same profile and target URLs
(class names and weights must match), and sends its exact histograms to the master, which writes
the one run directory. Its password comes from the environment, like everywhere else.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import tempfile
from pathlib import Path

from loadtests.config import ENV_RUN_CONFIG, ENV_RUN_CONFIG_OWNED, RunConfig, TargetConfig
from loadtests.credentials import check_credentials
from loadtests.errors import ConfigError
from loadtests.locust_process import LOCUSTFILE
from loadtests.profiles import load_profile
from loadtests.swarm.preflight import ensure_open_files
from loadtests.targets import plan_targets

MAX_WORKER_FILES = 1 << 20  # a swarm worker's soft open-file limit: the hard limit, at most this


def worker_config(
    profile_name: str, target_mode: str, urls: dict[str, str | None], allow_remote: tuple[str, ...]
) -> RunConfig:
    profile = load_profile(profile_name)
    plans = plan_targets(target_mode, urls, allow_remote=allow_remote)
    missing = [plan.color for plan in plans if plan.url is None]
    if missing:
        raise ConfigError(
            f"a remote worker needs the URL of every target it drives: give --{missing[0]}-url "
            "(the same URLs the master was given)"
        )
    targets = tuple(TargetConfig(color=p.color, url=p.url or "", dialect=profile.dialect(p.color)) for p in plans)
    return RunConfig(run_dir=None, profile=profile, targets=targets)


def exec_worker(config: RunConfig, *, master_host: str, master_port: int) -> None:
    """Replace this process with a Locust worker (signals then reach Locust directly)."""
    profile = config.profile
    # the secrets this workload needs: a password for auth.mode password, the JWT secret for mint
    check_credentials(profile.auth, os.environ, admins=bool(profile.mix.get("AdminReader")))
    if profile.mix.get("SwarmUser"):
        # A worker does not know its share of the swarm (the master splits it): take every open
        # file the hard limit allows, which the Locust process inherits (the soft limit is often
        # 1,024 while one swarm worker holds up to ~19,700 sockets).
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        with contextlib.suppress(ConfigError):  # too low a hard limit: the connects will say so
            ensure_open_files(min(hard, MAX_WORKER_FILES))
    folder = Path(tempfile.mkdtemp(prefix="loadbench-worker-"))
    path = folder / "run-config.json"
    config.write(path)
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
        "--master-host", master_host, "--master-port", str(master_port), "--loglevel", "INFO",
    ]  # fmt: skip
    os.execve(sys.executable, command, {**os.environ, ENV_RUN_CONFIG: str(path), ENV_RUN_CONFIG_OWNED: "1"})
