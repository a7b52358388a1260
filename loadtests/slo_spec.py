"""SLOs as data: what to measure, how to summarise it, and the line it must stay on the right of.

The defaults are the migration's table (CONTRACT.md, "The migration's success metrics"). A profile
(or ``loadbench check --slo FILE``) carries its own list, or changes the defaults by name with
``{override: {name: {field: value}}, drop: [name]}``; ``resolve_slos`` does both, once.

A spec selects data, then reduces it to one number per target:
  source   samples (latency and outcome counts), resources (resources.csv columns) or run
           (run-level gauges of figures.jsonl, e.g. the swarm's ``connections_held``)
  metric   a glob over sample names (``chat.*``), a resource column or a figure name
  target   glob over targets (each matching target is judged on its own); kind, user_class and
           outcome narrow samples further
  window   ``steady`` (after the ramp-up), ``whole``, or ``{since_s, until_s, relative_to}``
  statistic  p50 … p99.9 (any ``pNN.N``), max, mean (latency: ms over ``ok`` samples only),
           rate (samples per second), slope (per minute, least squares), error_rate and
           success_rate (percent of ok + failures; an expected ``refused`` counts as neither)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loadtests.untrusted import boolean_as_number

Comparison = Literal["<", "<=", ">", ">="]
Source = Literal["samples", "resources", "run"]

PERCENTILE_PATTERN = re.compile(r"^p(100|[0-9]{1,2}(\.[0-9]+)?)$")
NAMED_STATISTICS = ("max", "mean", "rate", "slope", "error_rate", "success_rate")
RESOURCE_METRICS = ("rss_mb", "cpu_pct", "connections")
# Which statistics make sense for which source (anything else is a configuration error).
_ALLOWED = {
    "samples": ("percentile", "max", "mean", "rate", "error_rate", "success_rate"),
    "resources": ("percentile", "max", "mean", "slope"),
    "run": ("percentile", "max", "mean", "slope"),
}
PERCENTILES: dict[str, float] = {"p50": 50, "p75": 75, "p90": 90, "p95": 95, "p99": 99, "p99.9": 99.9}
MAX_WINDOW_S = 7 * 24 * 3600.0  # a custom window's bounds: the longest run (profiles.MAX_DURATION_S)
MAX_THRESHOLD = 1e15  # any threshold's magnitude: finite, and far beyond any latency, rate or size
SLO_FILE_MAX_BYTES = 1024 * 1024


def percentile_of(statistic: str) -> float | None:
    """``p99.9`` → 99.9; ``None`` for the named statistics."""
    match = PERCENTILE_PATTERN.match(statistic)
    return float(match.group(1)) if match else None


class WindowSpec(BaseModel):
    """A custom window in seconds from the run's start (``relative_to: start``) or from the end
    of the ramp-up (``relative_to: steady``); an open end means the run's edge."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    since_s: float | None = Field(default=None, ge=0, le=MAX_WINDOW_S)
    until_s: float | None = Field(default=None, ge=0, le=MAX_WINDOW_S)
    relative_to: Literal["start", "steady"] = "start"

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.since_s is not None and self.until_s is not None and self.since_s >= self.until_s:
            raise ValueError("window: since_s must be before until_s")
        return self


WindowChoice = Literal["steady", "whole"] | WindowSpec


class SloSpec(BaseModel):
    """One check (see the module docstring for what each field selects). Numbers are finite
    (a NaN threshold would always fail, an infinite one always pass) and within bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=r"^[a-z0-9_.-]+$")
    description: str = ""
    source: Source = "samples"
    metric: str
    target: str = "*"
    kind: Literal["http", "ws", "sio", "any"] = "any"
    user_class: str = "*"
    outcome: str = "*"  # only for ``rate``: e.g. ``ok`` for successful requests per second
    statistic: str
    comparison: Comparison
    threshold: float = Field(ge=-MAX_THRESHOLD, le=MAX_THRESHOLD)
    unit: str = ""
    window: WindowChoice = "steady"
    min_samples: int = Field(default=20, ge=1, le=10**12)
    required: bool = True  # too few samples: no verdict, and exit 3 when required
    # The check applies to a target only if it has samples whose name matches this glob (any
    # window): connections_held needs a swarm, upload_success needs uploaders.
    when: str | None = None

    @field_validator("statistic")
    @classmethod
    def _known_statistic(cls, value: str) -> str:
        if value not in NAMED_STATISTICS and not PERCENTILE_PATTERN.match(value):
            raise ValueError(f"unknown statistic {value!r}; use p50 … p99.9, {', '.join(NAMED_STATISTICS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SloSpec:
        family = "percentile" if percentile_of(self.statistic) is not None else self.statistic
        if family not in _ALLOWED[self.source]:
            raise ValueError(f"statistic {self.statistic} does not apply to source {self.source}")
        if self.source == "resources" and self.metric not in RESOURCE_METRICS:
            raise ValueError(f"resources metric must be one of {', '.join(RESOURCE_METRICS)}")
        if self.source != "samples" and (self.kind != "any" or self.user_class != "*"):
            raise ValueError("kind and user_class select samples only")
        if self.outcome != "*" and self.statistic != "rate":
            raise ValueError("outcome selects samples for the rate statistic only")
        return self

    @property
    def percentile(self) -> float | None:
        return percentile_of(self.statistic)

    def holds(self, observed: float) -> bool:
        return {
            "<": observed < self.threshold,
            "<=": observed <= self.threshold,
            ">": observed > self.threshold,
            ">=": observed >= self.threshold,
        }[self.comparison]

    def selector(self) -> dict[str, Any]:
        """What the check looked at, for the verdict (defaults left out only where they mean "all")."""
        window = self.window if isinstance(self.window, str) else self.window.model_dump()
        chosen: dict[str, Any] = {"source": self.source, "target": self.target, "window": window}
        if self.source == "samples":
            chosen.update(kind=self.kind, user_class=self.user_class)
            if self.outcome != "*":
                chosen["outcome"] = self.outcome
        return chosen


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
        window="whole",
        min_samples=1,
        when="swarm.*",
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
        when="*.connect",
    ),
    SloSpec(
        name="chat_complete",
        description="chat complete response time, 95th percentile",
        metric="chat.complete",
        statistic="p95",
        comparison="<",
        threshold=2000,
        unit="ms",
        when="chat.*",
    ),
    SloSpec(
        name="upload_success",
        description="file upload success rate",
        metric="upload.*",
        statistic="success_rate",
        comparison=">",
        threshold=99,
        unit="%",
        when="upload.*",
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
        when="auth.*",
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
        when="health",
    ),
)


class SloConfigError(ValueError):
    """An SLO list or override that cannot be applied (the caller names where it came from)."""


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def expand_overrides(
    spec: Mapping[str, Any], base: Iterable[SloSpec], *, base_label: str = "default SLO"
) -> list[dict[str, Any]]:
    """``{override: {name: {field: value}}, drop: [name]}`` applied to ``base``, as plain data."""
    unknown = set(spec) - {"override", "drop"}
    if unknown:
        raise SloConfigError(f"slos: unknown key {sorted(unknown)[0]!r}; use a list, or override/drop")
    overrides = spec.get("override") or {}
    drop = spec.get("drop") or []
    if not isinstance(overrides, Mapping) or not isinstance(drop, list):
        raise SloConfigError("slos: override must be a mapping of SLO names, drop a list of SLO names")
    base = tuple(base)
    names = {slo.name for slo in base}
    for name in [*overrides, *drop]:
        if name not in names:
            raise SloConfigError(f"slos: no {base_label} named {name!r}; known: {', '.join(sorted(names))}")
    return [
        {**slo.model_dump(exclude_defaults=True), **(overrides.get(slo.name) or {})}
        for slo in base
        if slo.name not in set(drop)
    ]


def resolve_slos(
    data: Any, base: Iterable[SloSpec] = DEFAULT_SLOS, *, base_label: str = "default SLO"
) -> tuple[SloSpec, ...]:
    """A list of specs, or overrides of ``base``; raises ``SloConfigError`` naming the problem."""
    if isinstance(data, Mapping):
        data = expand_overrides(data, base, base_label=base_label)
    if not isinstance(data, list):
        raise SloConfigError("slos: expected a list of SLOs or {override, drop}")
    specs = []
    for position, item in enumerate(data):
        label = item.get("name", position) if isinstance(item, Mapping) else position
        try:
            spec = item if isinstance(item, SloSpec) else SloSpec.model_validate(item)
        except ValidationError as error:
            raise SloConfigError(f"slos[{label}]: {_first_error(error)}") from None
        smuggled = boolean_as_number(item, spec.model_dump()) if isinstance(item, Mapping) else None
        if smuggled:  # pydantic reads `threshold: true` as 1
            raise SloConfigError(f"slos[{label}]: {smuggled}: a boolean is not a number")
        specs.append(spec)
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise SloConfigError(f"slos: {spec.name!r} appears twice; names identify checks")
        seen.add(spec.name)
    return tuple(specs)


def load_slo_file(path: Path, base: Iterable[SloSpec] = DEFAULT_SLOS) -> tuple[SloSpec, ...]:
    """A YAML file holding a list of SLOs or ``{override, drop}`` on ``base`` (the run's own SLOs),
    read as untrusted input: a regular file under 1 MiB, strict YAML, finite numbers only."""
    from loadtests.errors import ConfigError
    from loadtests.untrusted import UntrustedInputError, loads_yaml, read_text

    try:
        text = read_text(path, limit=SLO_FILE_MAX_BYTES)
    except UntrustedInputError as error:
        raise ConfigError(f"cannot read SLO file: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read SLO file {path}: {error.strerror}") from None
    try:
        data = loads_yaml(text)
    except ValueError as error:
        raise ConfigError(f"SLO file {path.name}: {error}") from None
    if isinstance(data, Mapping) and "slos" in data and set(data) == {"slos"}:
        data = data["slos"]  # a profile-style file: {slos: ...}
    try:
        return resolve_slos(data, base, base_label="SLO of this run")
    except SloConfigError as error:
        raise ConfigError(f"SLO file {path.name}: {error}") from None
