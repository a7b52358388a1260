"""``comparison.json``: its schema version and its encoder, ``to_json`` (results/README.md documents
every field); and the names of the files ``compare_report.write_comparison`` writes.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from analysis.compare_model import Comparison
from analysis.compare_words import conclusion

__all__ = ["COMPARISON_HTML", "COMPARISON_JSON", "COMPARISON_MD", "SCHEMA_VERSION", "to_json"]

# 1: the first; 2 (2026-12-06): `same` needs equivalence shown (TOST), metrics gain `equivalence`,
# quantiles `equivalence_ci`/`equivalence_diff_ci`; a metric that was `same` may now be `inconclusive`.
SCHEMA_VERSION = 2
COMPARISON_JSON = "comparison.json"
COMPARISON_MD = "comparison.md"
COMPARISON_HTML = "comparison.html"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, tuples lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(comparison: Comparison) -> dict[str, Any]:
    """``comparison.json`` (schema version 2; results/README.md documents every field)."""
    data = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": comparison.generated_at,
        "design": comparison.design,
        "a": asdict(comparison.a),
        "b": asdict(comparison.b),
        "forced": comparison.forced,
        "mismatches": [asdict(m) for m in comparison.mismatches],
        "warnings": comparison.warnings,
        "thresholds": asdict(comparison.thresholds),
        "family": asdict(comparison.family),
        "scorecard": asdict(comparison.scorecard),
        "metrics": [asdict(metric) for metric in comparison.metrics],
        "not_compared": [asdict(item) for item in comparison.not_compared],
        "only_in_a": comparison.only_in_a,
        "only_in_b": comparison.only_in_b,
        "conclusion": conclusion(comparison),
    }
    return _clean(data)
