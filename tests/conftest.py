"""Shared fixtures. Locust patches the standard library with gevent when it is imported; doing it
here first keeps every test in one consistent (patched) world, as Locust's own tests do."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import secrets  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from reference_backend.process import BackendProcess, start_backend_process  # noqa: E402
from reference_backend.settings import (  # noqa: E402
    ENV_JWT_SECRET,
    ENV_USER_PASSWORD,
    BackendSettings,
    Distribution,
    LlmSettings,
    UserSeed,
)

FAST_LLM = LlmSettings(first_token=Distribution(ms=40), token_gap=Distribution(ms=2), chunks=5)


@pytest.fixture(scope="session")
def secrets_env() -> dict[str, str]:
    return {ENV_JWT_SECRET: secrets.token_hex(16), ENV_USER_PASSWORD: "pw-" + secrets.token_hex(6)}


@pytest.fixture(scope="session")
def pool_password(secrets_env: dict[str, str]) -> str:
    return secrets_env[ENV_USER_PASSWORD]


StartBackend = Callable[..., BackendProcess]


@pytest.fixture(scope="session")
def start_backend(secrets_env: dict[str, str]) -> Iterator[StartBackend]:
    """Start a reference backend process (real uvicorn, free loopback port); stopped at the end."""
    started: list[BackendProcess] = []

    def start(color: str, **overrides: Any) -> BackendProcess:
        settings = BackendSettings.model_validate(
            {"color": color, "llm": FAST_LLM, "users": UserSeed(count=20), "gc_freeze_interval_s": 0, **overrides}
        )
        backend = start_backend_process(settings, env={**os.environ, **secrets_env}, ready_timeout_s=30)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()


@pytest.fixture(scope="session")
def blue(start_backend: StartBackend) -> BackendProcess:
    return start_backend("blue")


@pytest.fixture(scope="session")
def green(start_backend: StartBackend) -> BackendProcess:
    return start_backend("green")
