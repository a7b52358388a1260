"""Every user class, in-process under Locust, against both reference colors and each dialect variant."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import pytest
from locust.env import Environment
from locust.event import Events

from contract.accounts import ENV_JWT_SECRET, ENV_USER_PASSWORD
from loadtests.config import RunConfig, TargetConfig
from loadtests.dialects.options import DialectOptions
from loadtests.profiles import parse_profile
from loadtests.workload import user_classes
from reference_backend.process import BackendProcess


class Hook:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.events.append(kwargs)

    def names(self, outcome: str | None = None) -> set[str]:
        return {e["name"] for e in self.events if outcome is None or e["context"]["outcome"] == outcome}

    def failures(self) -> list[tuple[str, str]]:
        """(name, outcome) of every event that failed (an expected refusal is not a failure)."""
        return [
            (e["name"], e["context"]["outcome"])
            for e in self.events
            if e["context"]["outcome"] not in ("ok", "refused")
        ]

    def outcomes(self, name: str) -> set[str]:
        return {e["context"]["outcome"] for e in self.events if e["name"] == name}


FAST = {"chat": {"think_time_s": [0.05, 0.1]}, "uploader": {"think_time_s": [0.05, 0.1], "sizes_kb": [2, 8]},
        "agents": {"think_time_s": [0.05, 0.1]}, "admin": {"think_time_s": [0.05, 0.1]}}  # fmt: skip


def run_users(
    backend: BackendProcess,
    secrets_env: dict[str, str],
    mix: dict[str, int],
    *,
    users: int = 2,
    seconds: float = 2.5,
    dialect: DialectOptions | None = None,
    extra: dict[str, Any] | None = None,
    spawn_rate: float | None = None,
    until: Callable[[Hook], bool] | None = None,
) -> Hook:
    profile = parse_profile(
        {"name": "t", "duration_s": 30, "users": users, "spawn_rate": users, "mix": mix, "health_probe_s": None,
         **FAST, **(extra or {})},
        source="test",
    )  # fmt: skip
    target = TargetConfig(color=backend.color, url=backend.url, dialect=dialect or DialectOptions())
    config = RunConfig(profile=profile, targets=(target,))
    classes = list(user_classes(config, environ=secrets_env).values())
    hook, events = Hook(), Events()
    events.request.add_listener(hook)
    runner = Environment(user_classes=classes, events=events).create_local_runner()
    runner.start(users, spawn_rate=spawn_rate or users)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until is not None and until(hook)):
        gevent.sleep(0.1)
    runner.quit()
    return hook


@pytest.fixture(params=["blue", "green"])
def backend(request: pytest.FixtureRequest) -> BackendProcess:
    return request.getfixturevalue(request.param)


def test_chat_user(backend: BackendProcess, secrets_env: dict[str, str]) -> None:
    hook = run_users(backend, secrets_env, {"ChatUser": 1})
    expected = {"auth.login", "chat.connect", "chat.history", "chat.first_token", "chat.complete"}
    assert expected <= hook.names("ok"), hook.names()
    assert hook.failures() == []


def test_uploader_user(backend: BackendProcess, secrets_env: dict[str, str]) -> None:
    hook = run_users(
        backend, secrets_env, {"UploaderUser": 1}, extra={"uploader": {**FAST["uploader"], "over_limit_share": 0.3}}
    )
    assert {"collection.create", "upload.file", "collection.document"} <= hook.names("ok"), hook.names()
    assert "refused" in hook.outcomes("upload.file")  # over-limit files refused, as expected
    assert not {"error", "soft_failure"} & {e["context"]["outcome"] for e in hook.events}
    if backend.color == "green":
        assert "collection.search" in hook.names("ok")


def test_agent_runner_user(backend: BackendProcess, secrets_env: dict[str, str]) -> None:
    hook = run_users(backend, secrets_env, {"AgentRunnerUser": 1})
    assert {"agent.create", "agent.list", "agent.run", "agent.first_token"} <= hook.names("ok"), hook.names()
    assert hook.failures() == []


def test_admin_reader(backend: BackendProcess, secrets_env: dict[str, str]) -> None:
    wanted = {"auth.login", "stats.total", "stats.daily", "admin.list"}
    # Its tasks are weighted random picks: on a busy box 2.5 s may hold too few to see each one.
    hook = run_users(
        backend, secrets_env, {"AdminReader": 1}, users=1, seconds=15, until=lambda h: wanted <= h.names("ok")
    )
    assert wanted <= hook.names("ok"), hook.names()
    assert hook.failures() == []


@pytest.mark.parametrize(
    ("color", "settings", "dialect"),
    [
        ("green", {"rest_base": "/api/v1"}, DialectOptions(rest_base="/api/v1")),
        ("green", {"rest_base": "/v1", "event_style": "snake"}, DialectOptions(rest_base="/v1", event_style="snake")),
        ("blue", {}, DialectOptions(ws_path="/ws")),
    ],
)
def test_dialect_variants(
    color: str, settings: dict[str, str], dialect: DialectOptions, start_backend, secrets_env
) -> None:
    backend = start_backend(color, **settings)
    hook = run_users(backend, secrets_env, {"ChatUser": 2, "AgentRunnerUser": 1}, users=3, dialect=dialect)
    assert {"chat.complete", "agent.run", "chat.connect"} <= hook.names("ok"), hook.names()
    assert hook.failures() == []


def test_minted_tokens_need_no_login(backend: BackendProcess, secrets_env: dict[str, str]) -> None:
    hook = run_users(backend, secrets_env, {"ChatUser": 1}, extra={"auth": {"mode": "mint", "role": "Students"}})
    assert "auth.login" not in hook.names()
    assert {"chat.complete", "chat.history"} <= hook.names("ok")


def test_a_short_token_life_is_refreshed_not_relogged(start_backend, secrets_env: dict[str, str]) -> None:
    backend = start_backend("green", access_token_ttl_s=3)
    hook = run_users(backend, secrets_env, {"ChatUser": 1}, users=1, seconds=6,
                     dialect=DialectOptions(refresh_margin_s=2))  # fmt: skip
    assert "auth.refresh" in hook.names("ok")
    assert len([e for e in hook.events if e["name"] == "auth.login"]) == 1


def test_soft_failures_and_rate_limits_are_failures(start_backend, secrets_env: dict[str, str]) -> None:
    # A day-long window: windows are aligned to the epoch (as green's Redis keys are), and a
    # minute-long one ended inside the 5 s run often enough to let the second call through.
    backend = start_backend(
        "green",
        faults={"soft_failure_rate": 0.5, "paths": ["/api/chats"], "rate_limit": True,
                "rate_limits": [{"prefix": "/api/auth/me", "limit": 1, "window_s": 86400}]},
    )  # fmt: skip
    hook = run_users(backend, secrets_env, {"ChatUser": 1}, users=2, seconds=5)
    assert "soft_failure" in hook.outcomes("chat.history") | hook.outcomes("chat.create")
    assert "rate_limited" in hook.outcomes("auth.me")
    failed = [e for e in hook.events if e["context"]["outcome"] in ("soft_failure", "rate_limited")]
    assert failed and all(e["exception"] is not None for e in failed)


def test_missing_password_is_a_clear_error(green: BackendProcess) -> None:
    from loadtests.errors import ConfigError

    profile = parse_profile({"name": "t", "duration_s": 5, "users": 1, "spawn_rate": 1}, source="test")
    config = RunConfig(profile=profile, targets=(TargetConfig(color="green", url=green.url),))
    with pytest.raises(ConfigError, match=ENV_USER_PASSWORD):
        user_classes(config, environ={})
    mint = parse_profile(
        {"name": "t", "duration_s": 5, "users": 1, "spawn_rate": 1, "auth": {"mode": "mint"}}, source="t"
    )
    with pytest.raises(ConfigError, match=ENV_JWT_SECRET):
        user_classes(RunConfig(profile=mint, targets=config.targets), environ={})


def test_users_sharing_one_account_do_not_trip_over_each_others_chats(
    blue: BackendProcess, secrets_env: dict[str, str]
) -> None:
    # One account, four chatters joining a second apart, each keeping a single chat: every new
    # chat deletes the user's previous one. A chatter that adopted the account's history would read chats another user
    # deleted and record 404s the server was right to send.
    hook = run_users(
        blue, secrets_env, {"ChatUser": 1}, users=4, seconds=8, spawn_rate=1,
        extra={"auth": {"pool_size": 1}, "chat": {**FAST["chat"], "max_open_chats": 1}},
    )  # fmt: skip
    assert "chat.delete" in hook.names("ok")
    assert hook.failures() == []


# Routes each color has and the ci mix must take (issue 12, item 9), with the metric names they
# are recorded under; only the frequent ones are required of a short test run.
COVERED = {
    "blue": {"chat.pin", "chat.clear_memory", "chat.rename", "chat.get", "chat.delete", "admin.memory_stats",
             "agent.get", "agent.from_template", "agent.rate", "collection.update", "collection.document_delete",
             "chat.rtt", "auth.refresh"},
    "green": {"chat.clear_memory", "chat.memory_stats", "collection.stats", "collection.document_delete",
              "collection.update", "agent.get", "chat.rtt", "auth.refresh"},
}  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("color", ["blue", "green"])
def test_the_ci_mix_records_no_failed_sample(color: str, start_backend, secrets_env: dict[str, str]) -> None:
    # CONTRACT.md exactly, no planted fault: not one sample may fail. Tokens live 6 s, so users
    # refresh (and green's sockets reopen with the new token) several times in the run.
    from loadtests.profiles import load_profile

    ci = load_profile("ci")
    backend = start_backend(color, access_token_ttl_s=6)
    uploader = {**ci.uploader.model_dump(), **FAST["uploader"]}
    hook = run_users(backend, secrets_env, dict(ci.mix), users=11, seconds=10, extra={"uploader": uploader})
    assert hook.failures() == [], hook.failures()[:10]
    missing = COVERED[color] - hook.names("ok")
    assert not missing, missing
    others = {
        "blue": ("chat.memory_stats", "collection.stats", "collection.search"),
        "green": ("chat.get", "chat.delete", "chat.pin", "chat.rename", "admin.memory_stats", "agent.rate"),
    }
    assert not set(others[color]) & hook.names(), "a step this color has no route for was sent"  # fmt: skip


def test_each_worker_starts_its_own_block_of_accounts() -> None:
    from loadtests.credentials import Account, CredentialPool

    accounts = [Account(f"u{n}") for n in range(10)]
    first = CredentialPool(accounts, block=3)
    second = CredentialPool(accounts, block=3)
    assert [first.next(0).username for _ in range(3)] == ["u0", "u1", "u2"]
    assert [second.next(1).username for _ in range(3)] == ["u3", "u4", "u5"]
    # A pool smaller than the load is shared, round robin, rather than refused.
    assert [CredentialPool(accounts[:2], block=3).next(1).username] == ["u1"]
