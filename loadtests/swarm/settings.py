"""The ``swarm:`` section of a profile: how the connection swarm behaves once its users exist.

How many connections and how fast they open are the profile's ``users`` (with ``SwarmUser`` in the
mix) and ``spawn_rate``: one Locust user holds one connection, so Locust's ramp is the connect
ramp, its web UI shows the swarm, and distributed mode spreads it over worker processes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ReconnectSettings(_Strict):
    """The explicit, bounded reconnect after a drop (the library's own reconnection is off, and its
    default, ``reconnection_attempts=0``, would retry forever). Defaults are the Socket.IO client's
    (``reconnectionDelay`` 1 s, ``reconnectionDelayMax`` 5 s, ``randomizationFactor`` 0.5), so a
    reconnect storm has the herd shape real browsers give it."""

    max_attempts: int = Field(default=10, ge=0, le=1000)  # 0: a dropped connection stays dropped
    delay_s: float = Field(default=1.0, ge=0, le=600)
    max_delay_s: float = Field(default=5.0, ge=0, le=600)
    randomization: float = Field(default=0.5, ge=0, le=1)
    deadline_s: float = Field(default=120.0, gt=0, le=3600)  # give up this long after the drop

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds before reconnect attempt ``attempt`` (0-based); ``jitter`` is uniform in [-1, 1]."""
        base = min(self.delay_s * (2**attempt), self.max_delay_s)
        return max(0.0, base * (1 + self.randomization * jitter))


class StormSettings(_Strict):
    """Reconnect storms: the embedded backend is killed and restarted on the same port, which drops
    every connection at once; the run records how long the swarm takes to be whole again. Only
    embedded targets can be restarted (an external target is left alone, with a note)."""

    after_ramp_s: tuple[float, ...] = ()  # seconds after spawning completes; one storm each
    recovery_timeout_s: float = Field(default=120.0, gt=0, le=3600)

    @field_validator("after_ramp_s")
    @classmethod
    def _ordered(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(t < 0 or t > 7 * 24 * 3600 for t in value) or list(value) != sorted(value):
            raise ValueError("must be non-negative, at most a week, and ascending, e.g. [20, 60]")
        return value


class FanoutSettings(_Strict):
    """Rooms of ``room_size`` connections (in spawn order, within one Locust process); the first
    member of each room sends a time-stamped message every ``interval_s`` and every other member
    records its delay (``swarm.fanout``); the last receiver's delay is ``swarm.fanout_last``."""

    room_size: int = Field(default=10, ge=2, le=10_000)
    interval_s: float = Field(default=5.0, gt=0, le=3600)
    rooms: int | None = Field(default=None, ge=1)  # rooms per process; None: every connection is in one
    timeout_s: float = Field(default=10.0, gt=0, le=600)  # a receiver later than this is a timeout


class SwarmSettings(_Strict):
    # asyncio: every connection on one asyncio loop beside Locust's (``loadtests.swarm.engine``,
    # ~3x lighter); gevent: python-socketio's sync client in each user's greenlet (the engine
    # before issue 15, kept for comparison and for targets it alone has been tried against).
    engine: Literal["asyncio", "gevent"] = "asyncio"
    # asyncio engine: handshakes in flight at once, and none started while its loop is this late
    max_connecting: int = Field(default=64, ge=1, le=10_000)
    max_loop_lag_ms: float = Field(default=50.0, gt=0, le=10_000)
    # ... nor while the whole process (Locust's thread and the engine's) has used this much of a
    # core over the last half second: the generator keeps headroom below the 90 % that invalidates a run
    max_cpu_pct: float = Field(default=65.0, gt=0, le=6400)
    close_rate_per_s: float = Field(default=4000.0, gt=0, le=1_000_000)  # teardown: closes a second
    # asyncio engine: the local addresses connections are made from, in turn (none: the kernel's
    # choice). Each source address has its own ephemeral ports towards one target ip:port (28,232
    # by default), so two lift a swarm past that from one machine, as Gatling's localAddresses do;
    # any 127.x.y.z is this machine's loopback, other addresses must be assigned to an interface.
    source_addresses: tuple[IPvAnyAddress, ...] = Field(default=(), max_length=256)
    # auth.mode password: the swarm logs in this many accounts once per process and shares their
    # tokens (auth.mode mint: every connection gets its own minted token; loadtests.swarm.tokens)
    accounts: int = Field(default=1, ge=1, le=100_000)
    connect_timeout_s: float = Field(default=30.0, gt=0, le=600)
    ping_interval_s: tuple[float, float] = (10.0, 30.0)  # each connection pings at a random pace in here
    ping_timeout_s: float = Field(default=10.0, gt=0, le=600)
    churn_per_min: float = Field(default=0.0, ge=0, le=60)  # share of connections closed and reopened a minute
    reconnect: ReconnectSettings = ReconnectSettings()
    storm: StormSettings = StormSettings()
    fanout: FanoutSettings | None = None

    @field_validator("ping_interval_s")
    @classmethod
    def _interval(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0 or value[0] > value[1] or value[1] > 3600:
            raise ValueError("must be [min, max] with 0 < min <= max <= 3600")
        return value

    @model_validator(mode="after")
    def _delays(self) -> SwarmSettings:
        if self.reconnect.delay_s > self.reconnect.max_delay_s:
            raise ValueError("reconnect.delay_s must not exceed reconnect.max_delay_s")
        if self.source_addresses and self.engine != "asyncio":
            raise ValueError("source_addresses needs engine: asyncio (the gevent engine's client cannot bind)")
        return self

    @property
    def sources(self) -> tuple[str, ...]:
        """``source_addresses`` as strings, in order."""
        return tuple(str(address) for address in self.source_addresses)
