"""SLOs as data: what to measure, how to summarise it, and the line it must stay on the right of.

The defaults are the migration's table (CONTRACT.md, "The migration's success metrics"). Profiles
carry their own list or override fields of the defaults by name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Statistic = Literal["p50", "p75", "p90", "p95", "p99", "p99.9", "max", "mean", "error_rate", "success_rate", "slope"]
Comparison = Literal["<", "<=", ">", ">="]
Source = Literal["samples", "resources", "run"]

PERCENTILES: dict[str, float] = {"p50": 50, "p75": 75, "p90": 90, "p95": 95, "p99": 99, "p99.9": 99.9}


class SloSpec(BaseModel):
    """One check. ``metric`` is a glob over sample names (``chat.*``), a resource column
    (``rss_mb``, ``cpu_pct``) when ``source`` is ``resources``, or a run-level figure
    (``connections_held``) when ``source`` is ``run``. Latency statistics are in milliseconds and
    use only ``ok`` samples; rates are in percent. Each target is judged on its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_.-]+$")
    description: str = ""
    source: Source = "samples"
    metric: str
    kind: Literal["http", "ws", "sio", "any"] = "any"
    statistic: Statistic
    comparison: Comparison
    threshold: float
    unit: str = ""
    window: Literal["steady", "whole"] = "steady"
    min_samples: int = Field(default=20, ge=1)
    required: bool = True  # too few samples: no verdict, and exit 3 when required

    def holds(self, observed: float) -> bool:
        return {
            "<": observed < self.threshold,
            "<=": observed <= self.threshold,
            ">": observed > self.threshold,
            ">=": observed >= self.threshold,
        }[self.comparison]


DEFAULT_SLOS: tuple[SloSpec, ...] = (
    SloSpec(
        name="http_p95",
        description="HTTP response time, 95th percentile",
        metric="*",
        kind="http",
        statistic="p95",
        comparison="<",
        threshold=200,
        unit="ms",
    ),
    SloSpec(
        name="server_memory",
        description="server memory (RSS of the whole process tree)",
        source="resources",
        metric="rss_mb",
        statistic="max",
        comparison="<",
        threshold=512,
        unit="MB",
        window="whole",  # a peak during the ramp-up is still a peak
        min_samples=3,
    ),
    SloSpec(
        name="server_cpu",
        description="server CPU (mean over the window; 100 % = one core)",
        source="resources",
        metric="cpu_pct",
        statistic="mean",
        comparison="<",
        threshold=50,
        unit="%",
        min_samples=3,
    ),
    SloSpec(
        name="connections_held",
        description="concurrent WebSocket / Socket.IO connections held (swarm)",
        source="run",
        metric="connections_held",
        statistic="max",
        comparison=">",
        threshold=1000,
        unit="connections",
        min_samples=1,
        required=False,
    ),
    SloSpec(
        name="error_rate",
        description="error rate over every sample",
        metric="*",
        statistic="error_rate",
        comparison="<",
        threshold=0.1,
        unit="%",
        min_samples=100,
    ),
    SloSpec(
        name="connection_success",
        description="real-time connection success rate",
        metric="*.connect",
        statistic="success_rate",
        comparison=">",
        threshold=99,
        unit="%",
        window="whole",  # connections open during the ramp-up: judge them all
        min_samples=5,
    ),
    SloSpec(
        name="chat_complete",
        description="chat complete response time, 95th percentile",
        metric="chat.complete",
        statistic="p95",
        comparison="<",
        threshold=2000,
        unit="ms",
    ),
    SloSpec(
        name="upload_success",
        description="file upload success rate",
        metric="upload.*",
        statistic="success_rate",
        comparison=">",
        threshold=99,
        unit="%",
        required=False,
    ),
    SloSpec(
        name="auth_success",
        description="authentication success rate",
        metric="auth.*",
        statistic="success_rate",
        comparison=">",
        threshold=99,
        unit="%",
        window="whole",  # users log in once, during the ramp-up
        min_samples=5,
    ),
    SloSpec(
        name="availability",
        description="availability: health probe every second",
        metric="health",
        statistic="success_rate",
        comparison=">",
        threshold=99.9,
        unit="%",
        min_samples=10,
    ),
)
