"""Per-phase deadlines of a simulated user: one value object, the profile's ``timeouts:`` section
and what the client obeys alike.

Kept apart from ``loadtests.client``: the profile needs it, and importing the client would import
Locust, whose import patches the standard library with gevent (the orchestrator must stay a
plain multi-threaded process).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_TIMEOUT_S = 3600.0  # the longest deadline a profile may set (README, "Profiles")


class Timeouts(BaseModel):
    """Per-phase deadlines in seconds (like ``httpx.Timeout``, one per thing waited for).

    Strict like the rest of the profile (``loadtests.profiles``): an unknown key, a deadline that
    is not positive or beyond ``MAX_TIMEOUT_S``, or a non-finite number is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    connect_s: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S)
    http_s: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S)
    exchange_s: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S)  # ping/pong, join, create_room
    first_token_s: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S)
    complete_s: float = Field(default=60.0, gt=0, le=MAX_TIMEOUT_S)


DEFAULT_TIMEOUTS = Timeouts()
