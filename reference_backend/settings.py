"""Settings of the reference backend: one frozen value object per concern (the knobs a profile
sets live in ``contract.knobs``, the names both sides agree on in ``contract.accounts``).

The reference backend is built from these settings and nothing else (no module globals, no
``os.environ`` read deep inside): ``BackendSettings.from_environ`` is the one place that reads the
environment, and only for secrets, so that secrets never travel on a command line.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from contract.accounts import BUILTIN_AGENT_ID, DEFAULT_PORTS, ENV_JWT_SECRET, ENV_USER_PASSWORD, user_id_for
from contract.knobs import (
    GREEN_RATE_LIMITS,
    MAX_DELAY_MS,
    Deviations,
    Distribution,
    FaultSettings,
    LlmSettings,
    RateLimitRule,
)

Color = Literal["blue", "green"]
EventStyle = Literal["kebab", "snake"]

MB = 1024 * 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class UserSeed(_Frozen):
    """The seeded user pool: ``count`` users named ``<prefix><n:04d>`` sharing one password,
    plus one SuperAdmin (``<prefix>superadmin``) for admin pages."""

    count: int = Field(default=200, ge=1, le=100_000)
    prefix: str = "loadbench-user-"
    role: Literal["Students", "Staffs", "Admin", "SuperAdmin"] = "Admin"
    password: SecretStr = SecretStr("")

    def usernames(self) -> list[str]:
        return [f"{self.prefix}{n:04d}" for n in range(1, self.count + 1)]

    @property
    def superadmin(self) -> str:
        return f"{self.prefix}superadmin"


class StorageLimits(_Frozen):
    """Caps that keep the in-memory store bounded however long a run lasts (oldest evicted first)."""

    max_chats: int = 20_000
    max_messages_per_chat: int = 200
    max_agents: int = 5_000
    max_collections: int = 2_000
    max_documents: int = 20_000
    max_chunks_per_collection: int = 5_000
    max_uploads: int = 20_000
    max_chunks: int = 100_000  # over all collections: one collection's cap times max_collections is gigabytes
    max_refresh_tokens: int = 50_000  # green refresh tokens held at once


class BackendSettings(_Frozen):
    """Everything one reference backend process is built from."""

    color: Color
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    rest_base: str = "/api"  # green only: "/api", "/api/v1" or "/v1"
    event_style: EventStyle = "kebab"  # green only: Socket.IO event names
    jwt_secret: SecretStr = SecretStr("")
    access_token_ttl_s: int | None = Field(default=None, ge=1)  # None: 1 day (blue), 15 min (green)
    refresh_token_ttl_s: int = Field(default=7 * 24 * 3600, ge=1)
    users: UserSeed = UserSeed()
    llm: LlmSettings = LlmSettings()
    faults: FaultSettings = FaultSettings()
    limits: StorageLimits = StorageLimits()
    upload_max_bytes: int | None = Field(default=None, ge=1)  # None: 10 MB
    document_max_bytes: int = Field(default=10 * MB, ge=1)
    # how often the heap is frozen after a young collection (state._freeze_periodically); 0: never
    gc_freeze_interval_s: float = Field(default=10.0, ge=0)
    seed: int | None = None

    @model_validator(mode="after")
    def _check_rest_base(self) -> BackendSettings:
        if not self.rest_base.startswith("/") or self.rest_base.endswith("/"):
            raise ValueError("rest_base must start with '/' and not end with one, e.g. /api or /api/v1")
        return self

    @property
    def token_ttl_s(self) -> int:
        if self.access_token_ttl_s is not None:
            return self.access_token_ttl_s
        return 24 * 3600 if self.color == "blue" else 15 * 60

    @property
    def upload_limit_bytes(self) -> int:
        if self.upload_max_bytes is not None:
            return self.upload_max_bytes
        return 10 * MB  # both colors (blue's was 5 MB only in builds before July 2025)

    def with_secrets_from(self, environ: Mapping[str, str]) -> BackendSettings:
        """Fill the JWT secret and the pool password from the environment; a secret left empty is
        replaced by a random one (so a bare ``loadbench serve`` is never guessable)."""
        secret = environ.get(ENV_JWT_SECRET) or self.jwt_secret.get_secret_value() or secrets.token_hex(32)
        password = environ.get(ENV_USER_PASSWORD) or self.users.password.get_secret_value() or secrets.token_hex(12)
        users = self.users.model_copy(update={"password": SecretStr(password)})
        return self.model_copy(update={"jwt_secret": SecretStr(secret), "users": users})


__all__ = [
    "BUILTIN_AGENT_ID",
    "DEFAULT_PORTS",
    "ENV_JWT_SECRET",
    "ENV_USER_PASSWORD",
    "GREEN_RATE_LIMITS",
    "MAX_DELAY_MS",
    "MB",
    "BackendSettings",
    "Color",
    "Deviations",
    "Distribution",
    "EventStyle",
    "FaultSettings",
    "LlmSettings",
    "RateLimitRule",
    "StorageLimits",
    "UserSeed",
    "user_id_for",
]
