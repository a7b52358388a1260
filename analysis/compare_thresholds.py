"""The numbers a comparison's verdicts depend on: ``Thresholds``, a validated, frozen model.

The command line's ``--threshold NAME=VALUE`` syntax is the CLI's (``loadtests.cli``): it hands
``Thresholds.with_overrides`` a mapping of names to values, which this module converts to each
field's type and validates. The notebook passes the same mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from loadtests.errors import ConfigError

__all__ = ["DEFAULT_CRITICAL", "JUDGED", "LADDER", "Thresholds"]

LADDER = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9)  # shown with intervals; 50/95/99 are judged
JUDGED = (50.0, 95.0, 99.0)
DEFAULT_CRITICAL = ("latency:chat.complete", "latency:http", "errors:overall", "memory:peak", "memory:slope")


@dataclass(frozen=True)
class Thresholds:
    """Every number a verdict depends on; ``loadbench compare --threshold NAME=VALUE`` sets them."""

    alpha: float = 0.05  # false-alarm budget of the whole scorecard (see ``correction``)
    correction: Literal["bonferroni", "none"] = "bonferroni"
    confidence: float = 0.95  # level of the intervals shown to readers
    bootstrap: int = 2000  # at least this many replicates; more when the decision level needs it
    max_bootstrap: int = 20000
    seed: int = 20261126
    min_samples: int = 30  # ok samples per side for a latency verdict
    min_tail: int = 5  # samples beyond a percentile, per side, for it to be judged
    ratio_p50: float = 1.05
    ratio_p95: float = 1.05
    ratio_p99: float = 1.10
    shape_ratio: float = 1.10
    min_diff_ms: float = 1.0  # a smaller latency difference is never practical
    equivalence_ms: float = 2.0  # `same`: p95 B/A within ±(ratio_p95 - 1), or B - A within ± this
    min_judged: int = 30  # ok + failed samples per side for an error-rate verdict
    error_rate_pp: float = 0.1  # percentage points (the default error-rate SLO is < 0.1 %)
    min_resource_samples: int = 5
    memory_peak_ratio: float = 1.20
    memory_peak_mb: float = 32.0
    memory_slope_mb_per_min: float = 2.0
    cpu_peak_ratio: float = 1.20
    cpu_peak_pct: float = 10.0
    cpu_slope_pct_per_min: float = 2.0
    slope_blocks: int = 6  # batch means: blocks of the steady state whose slopes give the uncertainty
    max_inconclusive_share: float = 0.5
    critical: tuple[str, ...] = DEFAULT_CRITICAL

    def ratio_for(self, percentile: float) -> float:
        return {50.0: self.ratio_p50, 95.0: self.ratio_p95, 99.0: self.ratio_p99}[percentile]

    def with_overrides(self, settings: Mapping[str, str]) -> Thresholds:
        """A copy with ``settings`` applied and validated: ``{"ratio_p95": "1.1"}``; a tuple field
        takes a comma-separated text (``{"critical": "latency:http,errors:overall"}``)."""
        if not isinstance(settings, Mapping):
            raise TypeError("with_overrides takes a mapping of names to values (the CLI parses NAME=VALUE)")
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, text in settings.items():
            if name not in known:
                raise ConfigError(f"--threshold {name}: unknown; known: {', '.join(known)}")
            current = getattr(self, name)
            try:
                if isinstance(current, tuple):
                    changes[name] = tuple(part.strip() for part in str(text).split(",") if part.strip())
                elif isinstance(current, bool):
                    changes[name] = str(text).lower() in ("1", "true", "yes")
                elif isinstance(current, int):
                    changes[name] = int(text)
                elif isinstance(current, float):
                    changes[name] = float(text)
                else:
                    changes[name] = str(text)
            except ValueError:
                raise ConfigError(f"--threshold {name}={text}: not a {type(current).__name__}") from None
        updated = replace(self, **changes)
        if updated.correction not in ("bonferroni", "none"):
            raise ConfigError("--threshold correction: bonferroni or none")
        if not 0 < updated.alpha < 1 or not 0 < updated.confidence < 1:
            raise ConfigError("--threshold alpha and confidence must lie between 0 and 1")
        if updated.bootstrap < 1000 or updated.max_bootstrap < updated.bootstrap:
            raise ConfigError("--threshold bootstrap must be at least 1000 and at most max_bootstrap")
        if updated.slope_blocks < 2 or updated.min_samples < 2:
            raise ConfigError("--threshold slope_blocks and min_samples must be at least 2")
        return updated
