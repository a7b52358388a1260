"""The reference backend's knobs a profile sets: the simulated LLM's timing, the faults it plants
(latency, errors, soft failures, memory growth, rate limits, contract deviations) and green's rate
limits. Profiles (the suite) validate them when they are loaded; the reference backend is built from
them. Both import this module; it imports neither.
"""

from __future__ import annotations

import math
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_DELAY_MS = 3_600_000.0  # an hour: the longest simulated delay (profiles embed these settings)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Distribution(_Frozen):
    """A non-negative duration in milliseconds, drawn from a named distribution.

    ``kind`` picks the shape; ``ms`` is its centre (the value for ``constant``, the mean for
    ``normal`` and ``exponential``, the median for ``lognormal``). ``uniform`` needs ``low_ms`` and
    ``high_ms``; ``normal`` takes ``sd_ms``; ``lognormal`` takes ``sigma``. In YAML a bare number is a
    constant: ``first_token: 300``.
    """

    kind: Literal["constant", "uniform", "normal", "lognormal", "exponential"] = "constant"
    ms: float = Field(default=0.0, ge=0, le=MAX_DELAY_MS)
    low_ms: float | None = Field(default=None, ge=0, le=MAX_DELAY_MS)
    high_ms: float | None = Field(default=None, ge=0, le=MAX_DELAY_MS)
    sd_ms: float = Field(default=0.0, ge=0, le=MAX_DELAY_MS)
    sigma: float = Field(default=0.0, ge=0, le=5)  # lognormal: e**(5 * 4) ≈ 5e8 times the median at 4 sigma

    @model_validator(mode="before")
    @classmethod
    def _bare_number_is_constant(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"kind": "constant", "ms": value}
        return value

    @model_validator(mode="after")
    def _check_parameters(self) -> Distribution:
        if self.kind == "uniform" and (self.low_ms is None or self.high_ms is None or self.low_ms > self.high_ms):
            raise ValueError("a uniform distribution needs low_ms <= high_ms")
        return self

    @property
    def median_ms(self) -> float:
        if self.kind == "uniform":
            assert self.low_ms is not None and self.high_ms is not None
            return (self.low_ms + self.high_ms) / 2
        if self.kind == "exponential":
            return self.ms * math.log(2)
        return self.ms

    def sample(self, rng: random.Random) -> float:
        """One draw in milliseconds, never negative."""
        if self.kind == "constant":
            return self.ms
        if self.kind == "uniform":
            assert self.low_ms is not None and self.high_ms is not None
            return rng.uniform(self.low_ms, self.high_ms)
        if self.kind == "normal":
            return max(0.0, rng.gauss(self.ms, self.sd_ms))
        if self.kind == "lognormal":
            return 0.0 if self.ms == 0 else rng.lognormvariate(math.log(self.ms), self.sigma)
        return 0.0 if self.ms == 0 else rng.expovariate(1.0 / self.ms)


class LlmSettings(_Frozen):
    """The simulated LLM that streams chat and agent answers."""

    first_token: Distribution = Distribution(kind="lognormal", ms=300, sigma=0.1)
    token_gap: Distribution = Distribution(kind="normal", ms=20, sd_ms=4)
    chunks: int = Field(default=16, ge=1, le=10_000)
    words_per_chunk: int = Field(default=3, ge=1, le=100)


class RateLimitRule(_Frozen):
    """A fixed-window limit per client IP on request paths starting with ``prefix`` (green style)."""

    prefix: str
    limit: int = Field(ge=1)
    window_s: float = Field(gt=0)


# green's limiter as the real deployment mounts it (CONTRACT.md, "Limits that shape a load test").
GREEN_RATE_LIMITS: tuple[RateLimitRule, ...] = (
    RateLimitRule(prefix="/api/auth", limit=5, window_s=900),
    RateLimitRule(prefix="/api/chat", limit=30, window_s=60),
    RateLimitRule(prefix="/api/upload", limit=10, window_s=60),
    RateLimitRule(prefix="/health", limit=300, window_s=60),
    RateLimitRule(prefix="/api", limit=60, window_s=60),
)


class Deviations(_Frozen):
    """Differences from CONTRACT.md planted on purpose, so that the compatibility probe and the
    preflight can be shown to name each kind. The defaults plant none: the reference backend then
    speaks its color's contract exactly, no route more, no route less.

    Routes are written ``"METHOD /path"`` as the app declares them, green's relative to its REST
    base (``"POST /chats/{chat_id}/ask"``), blue's in full (``"POST /api/chat/{chat_id}/pin"``).
    """

    missing_routes: tuple[str, ...] = ()  # answered as a route the app does not have (404/405)
    # Real-time messages the server does not handle: green events with no handler (unanswered),
    # blue frame types treated as unknown (a first frame of that type is closed with 1007).
    missing_events: tuple[str, ...] = ()
    dropped_fields: tuple[str, ...] = ()  # "METHOD /path key.sub" removed from that route's JSON replies
    status: dict[str, int] = Field(default_factory=dict)  # "METHOD /path" -> status of its successes
    foreign_error_format: bool = False  # error bodies in the other color's format
    # The two real defects CONTRACT.md names, planted only on request:
    hash_in_user_replies: bool = False  # blue: the login reply and /auth/me carry the password hash
    refresh_without_claims: bool = False  # green: the refreshed access token carries only `sub`
    # blue checks bcrypt synchronously in its async login handler: every login holds the event loop.
    login_cpu_ms: float = Field(default=0.0, ge=0, le=10_000)

    @property
    def any(self) -> bool:
        return self != Deviations()


class FaultSettings(_Frozen):
    """Faults the suite must catch. The defaults plant none.

    ``paths`` limits latency, errors, soft failures, memory growth and CPU burn to request paths
    starting with one of the prefixes (empty: every path). ``drop_end_rate`` and ``stream_latency``
    act on streamed answers (chat and agent runs) instead, and ``connect_failure_rate`` on
    real-time connections (blue's WebSocket handshake, green's Socket.IO connect).
    """

    latency: Distribution | None = None
    error_rate: float = Field(default=0.0, ge=0, le=1)
    soft_failure_rate: float = Field(default=0.0, ge=0, le=1)
    memory_growth_kb_per_request: float = Field(default=0.0, ge=0, le=10 * 1024)  # a planted leak: ≤ 10 MB a request
    rate_limit: bool = False
    rate_limits: tuple[RateLimitRule, ...] = GREEN_RATE_LIMITS
    drop_end_rate: float = Field(default=0.0, ge=0, le=1)
    stream_latency: Distribution | None = None
    # CPU time spent per HTTP request, in a background task (the work a request triggers): server
    # CPU grows with the request rate. Spent in slices between which the loop serves requests.
    cpu_burn_ms_per_request: float = Field(default=0.0, ge=0, le=10_000)
    connect_failure_rate: float = Field(default=0.0, ge=0, le=1)  # real-time connections refused
    paths: tuple[str, ...] = ()
    deviations: Deviations = Deviations()  # differences from the contract (see ``Deviations``)
    # Seed of the faults' random stream (None: the backend's seed, or random). With a seed, the n-th
    # faulted request or connection always gets the same decision: tests can count on it.
    seed: int | None = None

    def applies_to(self, path: str) -> bool:
        return not self.paths or any(path.startswith(p) for p in self.paths)
