"""`loadbench run` end to end: real backends, real Locust, a shortened profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.load import load_run
from analysis.stats import ok_histogram, percentile_ms, select
from loadtests.cli import main

pytestmark = pytest.mark.e2e

SHORT_PROFILE = """\
version: 1
name: e2e
description: shortened smoke for the test suite
duration_s: 8
users: 4
spawn_rate: 4
mix: {ChatUser: 1}
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.3]}
reference_backend:
  llm:
    first_token: 200
    token_gap: 5
    chunks: 6
slos:
  override:
    error_rate: {min_samples: 10}
    chat_complete: {min_samples: 5}
    http_p95: {min_samples: 5}
    connection_success: {min_samples: 1}
    auth_success: {min_samples: 1}
"""


def test_loadbench_run_writes_a_judged_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "e2e.yaml"
    profile.write_text(SHORT_PROFILE)
    out = tmp_path / "run"
    code = main(["run", "--profile", str(profile), "--target", "both", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "verdict: PASSED" in printed and "chat.first_token" in printed

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["status"] == "complete"
    assert {t["color"] for t in manifest["targets"]} == {"blue", "green"}
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["passed"] is True and verdict["exit_code"] == 0 and verdict["checks"]
    assert (out / "locust" / "stats_stats.csv").exists()
    assert (out / "summary.md").read_text().startswith("## loadbench e2e")

    run = load_run(out)
    for color in ("blue", "green"):
        for name in ("chat.first_token", "chat.complete", "auth.login", "chat.connect", "health"):
            rows = select(run.samples, target=color, name=name)
            assert rows["count"].sum() > 0, (color, name)
        # The simulated LLM waits a constant 200 ms before the first chunk: the p50 must show it.
        first = percentile_ms(ok_histogram(select(run.samples, target=color, name="chat.first_token")), 50)
        assert first is not None and 200 <= first < 260, (color, first)
    resources = run.resources
    assert set(resources[resources["role"] == "target"]["color"]) == {"blue", "green"}
    assert (resources["role"] == "generator").any()


def test_bad_profile_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text(SHORT_PROFILE.replace("users: 4", "users: 0"))
    assert main(["run", "--profile", str(profile), "--out", str(tmp_path / "never")]) == 2
    assert "users" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_remote_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--target", "green", "--green-url", "http://10.9.8.7:5000", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "--allow-remote 10.9.8.7" in capsys.readouterr().err


def test_check_on_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 3
    assert "manifest.json is missing" in capsys.readouterr().err
