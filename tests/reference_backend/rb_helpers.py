"""Helpers shared by the reference backend's tests: settings, tokens and a Socket.IO client."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
import socketio
from pydantic import SecretStr

from reference_backend.settings import BackendSettings, LlmSettings, UserSeed, user_id_for

SECRET = "reference-backend-test-secret-0123456789abcdef"
PASSWORD = "reference-backend-test-password"
USER = "loadbench-user-0001"
OTHER_USER = "loadbench-user-0002"
SUPERADMIN = "loadbench-user-superadmin"
BUILTIN_AGENT = "000000000000000000000001"
FAST_LLM = LlmSettings(first_token=20, token_gap=2, chunks=5, words_per_chunk=2)


def make_settings(color: str, **overrides: Any) -> BackendSettings:
    """Small, fast, seeded settings with known secrets; ``overrides`` replace any field."""
    fields: dict[str, Any] = {
        "color": color,
        "jwt_secret": SecretStr(SECRET),
        "users": UserSeed(count=5, password=SecretStr(PASSWORD)),
        "llm": FAST_LLM,
        "seed": 7,
        "gc_freeze_interval_s": 0,
    }
    fields.update(overrides)
    return BackendSettings(**fields)


def mint(claims: dict[str, Any], *, secret: str = SECRET, ttl_s: int = 3600) -> str:
    """A token as the load generator mints it; a negative ``ttl_s`` gives an expired one."""
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + ttl_s, **claims}, secret, algorithm="HS256")


def blue_claims(username: str = USER, role: str = "Admin") -> dict[str, Any]:
    return {"sub": user_id_for(username), "username": username, "nameID": username, "role": role}


def green_claims(username: str = USER, roles: Iterable[str] = ("Admin",)) -> dict[str, Any]:
    return {"sub": user_id_for(username), "username": username, "roles": list(roles)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class SioRecorder:
    """A real python-socketio client whose events land in a queue, to be awaited in order."""

    def __init__(self, events: Iterable[str]) -> None:
        self.client = socketio.Client(reconnection=False)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        for name in {*events, "connected", "error", "connect_error"}:
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(data: Any = None) -> None:
            self._queue.put((name, data))

        return record

    def connect(self, url: str, **kwargs: Any) -> SioRecorder:
        self.client.connect(url, transports=["websocket"], wait_timeout=5, **kwargs)
        return self

    def next(self, timeout: float = 5.0) -> tuple[str, Any]:
        return self._queue.get(timeout=timeout)

    def wait_for(self, event: str, timeout: float = 5.0) -> Any:
        """The data of the next ``event``, skipping others; ``queue.Empty`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            name, data = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if name == event:
                return data

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
        self.client.shutdown()
