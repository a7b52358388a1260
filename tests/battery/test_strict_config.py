"""Profiles and SLO files refuse what they should (issue 13, item 6): finite numbers only, documented
upper bounds, strict YAML (a key given twice, an alias), and no boolean read as a number. Each
refusal is exit 2 with one line naming the file and the YAML path, before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_runs import cli, copy_run, small_run

GOOD = """\
version: 1
name: strict
duration_s: 4
users: 2
spawn_rate: 2
chat: {think_time_s: [0.1, 0.2]}
timeouts: {connect_s: 2, http_s: 2, exchange_s: 2, first_token_s: 3, complete_s: 3}
"""

PROFILE_CASES = {
    "NaN think time": (GOOD.replace("[0.1, 0.2]", "[.nan, 0.2]"), r"chat\.think_time_s\.0: nan is not a finite number"),
    "infinite timeout": (GOOD.replace("http_s: 2", "http_s: .inf"), r"timeouts.http_s: inf is not a finite number"),
    "timeout of a year": (GOOD.replace("http_s: 2", "http_s: 31536000"), r"timeouts.http_s: Input should be less"),
    "huge number": (GOOD.replace("duration_s: 4", "duration_s: 1.0e+400"), r"duration_s: inf is not a finite number"),
    "10 GB upload": (GOOD + "uploader: {sizes_kb: [10485760]}\n", r"uploader.sizes_kb"),
    "users: true": (GOOD.replace("users: 2", "users: true"), r"users: a boolean is not a number"),
    "think time true": (GOOD.replace("[0.1, 0.2]", "[true, 2]"), r"chat.think_time_s.0: a boolean is not a number"),
    "duration yes": (GOOD.replace("duration_s: 4", "duration_s: 4\nduration_s: 8"), r"'duration_s' appears twice"),
    "duplicate nested key": (GOOD.replace("http_s: 2,", "http_s: 2, http_s: 3,"), r"'http_s' appears twice at line 7"),
    "spawn_rate 1e-300": (GOOD.replace("spawn_rate: 2", "spawn_rate: 1e-300"), r"spawn_rate: Input should be greater"),
    "version true": (GOOD.replace("version: 1", "version: true"), r"version: a boolean is not a number"),
    "alias": (GOOD + "admin: &a {stats_days: 3}\nagents: *a\n", r"aliases \(\*a\) are not accepted at line 9"),
    "NaN SLO threshold": (
        GOOD + "slos: {override: {http_p95: {threshold: .nan}}}\n",
        r"slos.override.http_p95.threshold: nan is not a finite number",
    ),
    "infinite SLO threshold": (
        GOOD + "slos: [{name: x, metric: '*', statistic: p95, comparison: '<', threshold: -.inf}]\n",
        r"slos\.0\.threshold: -inf is not a finite number",
    ),
    "boolean SLO threshold": (
        GOOD + "slos: {override: {http_p95: {threshold: true}}}\n",
        r"threshold: a boolean is not a number",
    ),
    "huge latency fault": (
        GOOD + "reference_backend: {faults: {latency: {kind: lognormal, ms: 100, sigma: 1000}}}\n",
        r"reference_backend.faults.latency.sigma",
    ),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_a_bad_profile_is_refused_with_one_line(case: str, tmp_path: Path) -> None:
    import re

    text, pattern = PROFILE_CASES[case]
    path = tmp_path / "p.yaml"
    path.write_text(text)
    result = cli("run", "--profile", path, "--out", tmp_path / "run")
    assert result.code == 2, (result.code, result.stdout[-500:], result.stderr[-1500:])
    assert len(result.lines) == 1, result.stderr
    assert re.search(pattern, result.lines[0]), (pattern, result.lines[0])
    assert "p.yaml" in result.lines[0] or "profile p" in result.lines[0], result.lines[0]
    assert not (tmp_path / "run").exists()


def test_every_shipped_profile_still_loads() -> None:
    from loadtests.profiles import available_profiles, load_profile

    for name in available_profiles():
        load_profile(name)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run(tmp_path_factory.mktemp("base") / "run")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("override: {http_p95: {threshold: .nan}}\n", "override.http_p95.threshold: nan is not a finite number"),
        ("override: {http_p95: {threshold: .inf}}\n", "override.http_p95.threshold: inf is not a finite number"),
        ("override: {http_p95: {threshold: true}}\n", "threshold: a boolean is not a number"),
        ("override: {http_p95: {min_samples: true}}\n", "min_samples: a boolean is not a number"),
        ("drop: [upload_success]\ndrop: [availability]\n", "'drop' appears twice at line 2"),
    ],
)
def test_a_bad_slo_file_is_refused_and_no_nan_reaches_the_verdict(
    text: str, pattern: str, base: Path, tmp_path: Path
) -> None:
    run = copy_run(base, tmp_path / "run")
    slo = tmp_path / "strict.yaml"
    slo.write_text(text)
    result = cli("check", run, "--slo", slo)
    assert result.code == 2 and len(result.lines) == 1, result.stderr
    assert pattern in result.lines[0] and "strict.yaml" in result.lines[0], result.lines[0]
    assert not (run / "verdict.json").exists()


def test_a_manifest_whose_format_version_is_true_is_refused(base: Path, tmp_path: Path) -> None:
    run = copy_run(base, tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["format_version"] = True
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = cli("check", run)
    assert result.code == 3 and len(result.lines) == 1, result.stderr
    assert "manifest.json" in result.lines[0] and "format_version" in result.lines[0], result.lines[0]
