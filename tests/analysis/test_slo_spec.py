"""SLOs as data: validation, overrides and SLO files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from loadtests.errors import ConfigError
from loadtests.slo_spec import DEFAULT_SLOS, SloConfigError, SloSpec, load_slo_file, percentile_of, resolve_slos

BASE = {"name": "x", "metric": "*", "comparison": "<", "threshold": 1}


def test_the_defaults_are_the_migrations_ten() -> None:
    assert [s.name for s in DEFAULT_SLOS] == [
        "http_p95", "server_memory", "server_cpu", "connections_held", "error_rate",
        "connection_success", "chat_complete", "upload_success", "auth_success", "availability",
    ]  # fmt: skip
    by_name = {s.name: s for s in DEFAULT_SLOS}
    assert (by_name["http_p95"].statistic, by_name["http_p95"].threshold, by_name["http_p95"].kind) == (
        "p95",
        200,
        "http",
    )
    assert (by_name["server_memory"].threshold, by_name["server_cpu"].threshold) == (512, 50)
    assert (by_name["connections_held"].comparison, by_name["connections_held"].threshold) == (">", 1000)
    assert by_name["error_rate"].threshold == 0.1 and by_name["availability"].threshold == 99.9
    assert by_name["chat_complete"].threshold == 2000


@pytest.mark.parametrize(
    ("statistic", "percentile"), [("p50", 50.0), ("p99.9", 99.9), ("p99.99", 99.99), ("p100", 100.0), ("max", None)]
)
def test_percentile_statistics(statistic: str, percentile: float | None) -> None:
    assert percentile_of(statistic) == percentile
    SloSpec.model_validate({**BASE, "statistic": statistic})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"statistic": "p101"}, "unknown statistic"),
        ({"statistic": "median"}, "unknown statistic"),
        ({"statistic": "slope"}, "does not apply to source samples"),
        ({"statistic": "error_rate", "source": "resources", "metric": "rss_mb"}, "does not apply to source resources"),
        ({"statistic": "max", "source": "resources", "metric": "heap"}, "resources metric"),
        ({"statistic": "max", "source": "run", "kind": "http"}, "select samples only"),
        ({"statistic": "p95", "outcome": "ok"}, "rate statistic only"),
        ({"statistic": "p95", "window": {"since_s": 10, "until_s": 5}}, "since_s must be before"),
        ({"statistic": "p95", "windw": "steady"}, "Extra inputs"),
    ],
)
def test_bad_specs_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SloSpec.model_validate({**BASE, **fields})


def test_overrides_and_drops_apply_to_the_base() -> None:
    specs = resolve_slos({"override": {"http_p95": {"threshold": 300, "min_samples": 5}}, "drop": ["upload_success"]})
    by_name = {s.name: s for s in specs}
    assert by_name["http_p95"].threshold == 300 and by_name["http_p95"].min_samples == 5
    assert by_name["http_p95"].kind == "http"  # untouched fields keep the default
    assert "upload_success" not in by_name and len(specs) == 9
    with pytest.raises(SloConfigError, match="no default SLO named 'nope'"):
        resolve_slos({"drop": ["nope"]})
    with pytest.raises(SloConfigError, match="unknown key 'overide'"):
        resolve_slos({"overide": {}})
    with pytest.raises(SloConfigError, match=r"slos\[http_p95\]: threshold"):
        resolve_slos({"override": {"http_p95": {"threshold": "fast"}}})


def test_names_identify_checks() -> None:
    with pytest.raises(SloConfigError, match="appears twice"):
        resolve_slos([{**BASE, "statistic": "p95"}, {**BASE, "statistic": "p99"}])


def test_slo_file_forms(tmp_path: Path) -> None:
    listed = tmp_path / "list.yaml"
    listed.write_text("- {name: fast_chat, metric: chat.*, statistic: p99, comparison: '<', threshold: 500}\n")
    (spec,) = load_slo_file(listed)
    assert (spec.name, spec.statistic) == ("fast_chat", "p99")
    base = resolve_slos({"drop": ["availability"]})
    override = tmp_path / "override.yaml"
    override.write_text("override: {http_p95: {threshold: 150}}\n")
    assert {s.name: s.threshold for s in load_slo_file(override, base)}["http_p95"] == 150
    profile_style = tmp_path / "profile.yaml"
    profile_style.write_text("slos: {drop: [http_p95]}\n")
    assert "http_p95" not in {s.name for s in load_slo_file(profile_style)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("override: {availability: {threshold: 1}}\n")
    with pytest.raises(ConfigError, match="no SLO of this run named 'availability'"):
        load_slo_file(bad, base)
    with pytest.raises(ConfigError, match="cannot read SLO file"):
        load_slo_file(tmp_path / "missing.yaml")
