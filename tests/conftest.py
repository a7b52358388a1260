"""Shared fixtures. Locust patches the standard library with gevent when it is imported; doing it
here first keeps every test in one consistent (patched) world, as Locust's own tests do.

The ``e2e`` marker is checked, not trusted, so that the fast lane (``pytest -m "not e2e"``) stays
fast: a test that uses a fixture starting servers is marked here, and a test without the marker
that starts a process or listens on a socket fails, saying so."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from shared_runs import CleanRun, start_clean_paired_run  # noqa: E402

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
def clean_paired_run(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """One short clean run on both colors for the whole session (tests/shared_runs.py): read its
    outputs, never change them (copy it first)."""
    return start_clean_paired_run(tmp_path_factory.mktemp("clean-paired"))


@pytest.fixture(scope="session")
def blue(start_backend: StartBackend) -> BackendProcess:
    return start_backend("blue")


@pytest.fixture(scope="session")
def green(start_backend: StartBackend) -> BackendProcess:
    return start_backend("green")


# Fixtures that start servers (here, in tests/battery/conftest.py and the modules' own).
SERVER_FIXTURES = frozenset({"start_backend", "blue", "green", "backend", "stub", "blue_walk", "clean_paired_run"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _e2e_is_declared(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("e2e") is not None:
        return

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process or a server: mark it e2e")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(socket.socket, "listen", refuse)
