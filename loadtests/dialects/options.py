"""Dialect options: where the real deployments disagree, the suite takes a setting (CONTRACT.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EventStyle = Literal["kebab", "snake"]


class DialectOptions(BaseModel):
    """Per-color protocol settings with CONTRACT.md's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rest_base: str = "/api"  # green: "/api", "/api/v1" or "/v1"
    event_style: EventStyle = "kebab"  # green Socket.IO event names
    ws_path: str = "/api/chat/ws"  # blue: "/api/chat/ws" or "/ws"
    socketio_path: str = "/socket.io"
    token_ttl_s: float | None = Field(default=None, gt=0)  # None: read `exp` from the token
    refresh_margin_s: float = Field(default=60.0, ge=0)  # refresh this long before expiry
    agent_id: str = "000000000000000000000001"  # blue: the built-in "General Assistant"
    upload_limit_bytes: int | None = Field(default=None, gt=0)  # None: 5 MB blue, 10 MB green
    document_limit_bytes: int | None = Field(default=None, gt=0)  # None: none on blue, 10 MB green

    @field_validator("rest_base", "ws_path", "socketio_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/") or (len(value) > 1 and value.endswith("/")):
            raise ValueError("must start with '/' and not end with one, e.g. /api/v1")
        return value

    def event(self, kebab_name: str) -> str:
        """The Socket.IO event name in this deployment's style."""
        return kebab_name.replace("-", "_") if self.event_style == "snake" else kebab_name
