"""`loadbench run` end to end: real backends, real Locust, a shortened profile."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared_runs import CleanRun

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


def test_loadbench_run_writes_a_judged_run_directory(clean_paired_run: CleanRun) -> None:
    code, printed, out = clean_paired_run.code, clean_paired_run.printed, clean_paired_run.out
    assert code == 0, printed
    assert "verdict: PASSED" in printed and "chat.first_token" in printed

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["status"] == "complete"
    assert {t["color"] for t in manifest["targets"]} == {"blue", "green"}
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["passed"] is True and verdict["exit_code"] == 0 and verdict["checks"]
    assert (out / "locust" / "stats_stats.csv").exists()
    assert (out / "summary.md").read_text().startswith("## loadbench fault-clean")

    run = load_run(out)
    for color in ("blue", "green"):
        for name in ("chat.first_token", "chat.complete", "auth.login", "chat.connect", "health"):
            rows = select(run.samples, target=color, name=name)
            assert rows["count"].sum() > 0, (color, name)
        # The simulated LLM waits a constant 200 ms before the first chunk: the p50 must show it.
        rows = select(run.samples, target=color, name="chat.first_token")
        first = percentile_ms(ok_histogram(rows, run.histograms), 50)
        assert first is not None and 200 <= first < 260, (color, first)
    resources = run.resources
    assert set(resources[resources["role"] == "target"]["color"]) == {"blue", "green"}
    assert (resources["role"] == "generator").any()
    assert_counts_match_locust(out)


def assert_counts_match_locust(out: Path) -> None:
    """Every request event reached the recorder: our counts equal Locust's own final counts."""
    ours: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in (out / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        ours[(f"{row['target']}/{row['kind']}", row["name"])] += row["count"]
    locust = {(e["method"], e["name"]): e["num_requests"] for e in json.loads((out / "locust/stats.json").read_text())}
    assert dict(ours) == locust


def test_two_workers_merge_into_one_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "e2e.yaml"
    profile.write_text(SHORT_PROFILE)
    out = tmp_path / "run"
    code = main(
        ["run", "--profile", str(profile), "--target", "green", "--out", str(out), "--workers", "2", "--no-report"]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "on 2 worker processes" in printed
    events = [json.loads(line)["event"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert "final_reports_missing" not in events and "spawning_complete" in events
    assert_counts_match_locust(out)
    generators = load_run(out).resources.query("role == 'generator'")["color"]
    assert {"master", "worker-1", "worker-2"} <= set(generators)


def test_sigint_mid_run_leaves_a_readable_partial_run(tmp_path: Path) -> None:
    profile = tmp_path / "long.yaml"
    profile.write_text(SHORT_PROFILE.replace("duration_s: 8", "duration_s: 120"))
    out = tmp_path / "run"
    command = ["run", "--profile", str(profile), "--target", "blue", "--out", str(out), "--no-report"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 60
    while not (samples.exists() and samples.stat().st_size > 2000) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, (stdout, stderr)
    assert "interrupted by SIGINT" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["ended_at"]
    run = load_run(out)
    assert run.samples["count"].sum() > 0
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["run_status"] == "partial" and any("partial" in note for note in verdict["notes"])
    assert (out / "locust" / "stats.json").exists()  # Locust was stopped gracefully and wrote its stats


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


def test_external_loopback_target_is_sampled_by_its_listening_port(
    tmp_path: Path, green, pool_password: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from contract.accounts import ENV_USER_PASSWORD

    monkeypatch.setenv(ENV_USER_PASSWORD, pool_password)
    profile = tmp_path / "e2e.yaml"
    profile.write_text(SHORT_PROFILE.replace("duration_s: 8", "duration_s: 4").replace("users: 4", "users: 2"))
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--profile",
            str(profile),
            "--target",
            "green",
            "--green-url",
            green.url,
            "--out",
            str(out),
            "--no-report",
        ]
    )
    assert code in (0, 3), capsys.readouterr().out  # a 4 s run may be too short for some checks: not the point
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["targets"][0]["embedded"] is False and manifest["targets"][0]["url"] == green.url
    targets = load_run(out).resources.query("role == 'target'")
    assert not targets.empty and set(targets["pids"].astype(str)) == {str(green.pid)}


def test_a_saturated_generator_makes_the_run_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import loadtests.orchestrator as orchestrator

    finding = "load generator locust stayed at ≥ 90 % CPU for 12 s (peak 99 %): add --workers or lower the load"
    monkeypatch.setattr(orchestrator, "saturated_generators", lambda rows: [finding])
    profile = tmp_path / "e2e.yaml"
    profile.write_text(SHORT_PROFILE.replace("duration_s: 8", "duration_s: 3"))
    out = tmp_path / "run"
    assert main(["run", "--profile", str(profile), "--target", "blue", "--out", str(out), "--no-report"]) == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "invalid" and "90 % CPU" in manifest["invalid_reason"]
    assert json.loads((out / "verdict.json").read_text())["exit_code"] == 3
    assert "add --workers" in capsys.readouterr().err


def test_remote_worker_recipe_on_one_machine(
    tmp_path: Path, green, pool_password: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`loadbench run --remote-workers 1` + `loadbench worker --master …`, both on loopback."""
    from contract.accounts import ENV_USER_PASSWORD
    from loadtests.locust_process import free_port

    monkeypatch.setenv(ENV_USER_PASSWORD, pool_password)
    profile = tmp_path / "e2e.yaml"
    profile.write_text(SHORT_PROFILE.replace("duration_s: 8", "duration_s: 5"))
    port = free_port()
    targets = ["--profile", str(profile), "--target", "green", "--green-url", green.url]
    master = ["--master", "127.0.0.1", "--master-port", str(port)]
    (tmp_path / "worker-tmp").mkdir()
    worker = subprocess.Popen(
        [sys.executable, "-m", "loadtests.cli", "worker", *master, *targets],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, ENV_USER_PASSWORD: pool_password, "TMPDIR": str(tmp_path / "worker-tmp")},
    )
    out = tmp_path / "run"
    try:
        code = main(
            ["run", *targets, "--out", str(out), "--remote-workers", "1", "--master-port", str(port), "--no-report"]
        )
        worker_exit = worker.wait(timeout=30)  # the master tells it to quit
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code in (0, 3), capsys.readouterr().out
    assert worker_exit == 0
    assert list((tmp_path / "worker-tmp").iterdir()) == []  # the worker's run config went with it
    assert_counts_match_locust(out)
    assert load_run(out).samples["count"].sum() > 0
