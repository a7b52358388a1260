"""``loadbench worker`` before it becomes Locust: the secrets it needs, its open files."""

from __future__ import annotations

import pytest

from loadtests.config import RunConfig, TargetConfig
from loadtests.errors import ConfigError
from loadtests.profiles import parse_profile
from loadtests.worker import exec_worker


def _config(auth: dict[str, str]) -> RunConfig:
    profile = parse_profile(
        {"name": "w", "duration_s": 10, "users": 10, "spawn_rate": 10, "mix": {"SwarmUser": 1}, "auth": auth},
        source="test",
    )
    return RunConfig(run_dir=None, profile=profile, targets=(TargetConfig(color="green", url="http://127.0.0.1:9"),))


@pytest.mark.parametrize(
    ("auth", "missing"),
    [({"mode": "mint"}, "LOADBENCH_JWT_SECRET"), ({"mode": "password"}, "LOADBENCH_USER_PASSWORD")],
)
def test_a_worker_without_the_secret_its_auth_mode_needs_is_refused(
    auth: dict[str, str], missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LOADBENCH_JWT_SECRET", "LOADBENCH_USER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=missing):
        exec_worker(_config(auth), master_host="127.0.0.1", master_port=5557)
