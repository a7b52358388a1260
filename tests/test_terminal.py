"""The terminal experience: CI-log status lines, the final table, --json, --quiet, doctor."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.live import LiveCheck
from loadtests.progress import ColorStatus, RunWatcher, Snapshot
from loadtests.recorder.histogram import new_histogram
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import RunDirectory
from loadtests.terminal import status_line

ROOT = Path(__file__).resolve().parents[1]
PROFILE = """\
version: 1
name: terminal
duration_s: 8
users: 4
spawn_rate: 4
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.3]}
slos: {override: {error_rate: {min_samples: 10}, chat_complete: {min_samples: 5}, http_p95: {min_samples: 5},
                  connection_success: {min_samples: 1}, auth_success: {min_samples: 1}}}
"""


def run_cli(*args: str, timeout: float = 120, preexec=None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "loadtests.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        preexec_fn=preexec,
    )  # fmt: skip


def test_status_line_reads_in_one_line() -> None:
    snapshot = Snapshot(
        phase="steady state",
        elapsed_s=30,
        total_s=120,
        colors={
            "blue": ColorStatus(users=5, rps=12.5, p95_ms={"http p95": 3.2, "complete p95": 640.0}, failures={}),
            "green": ColorStatus(
                users=5,
                connections=1000,
                rps=11.0,
                p95_ms={"complete p95": 2310.0},
                failures={"error": 2, "rate_limited": 3},
            ),
        },
        slos=[
            LiveCheck("chat_complete", "green", "p95", 2310.0, "< 2000 ms", 40, "fail"),
            LiveCheck("http_p95", "blue", "p95", 3.2, "< 200 ms", 90, "pass"),
        ],
    )
    line = status_line(snapshot)
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith("[  30/120 s] steady state")
    assert "green: 5 users 1000 conns 11.0 req/s" in line and "complete p95 2.31 s" in line
    assert "errors 2 429s 3" in line
    assert "SLO 1 pass 1 fail 0 pending (chat_complete[green])" in line


def test_watcher_reads_only_what_was_appended(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path)
    clock = [1000.0]
    watcher = RunWatcher(tmp_path, ["blue"], total_s=60, clock=lambda: clock[0])
    histogram = new_histogram()
    for value in range(1000, 101_000, 1000):  # 1 … 100 ms
        histogram.record_value(value)
    row = SampleRow(995.0, 996.0, "blue", "http", "chat.history", "ChatUser", "ok", 100, 100, 0, 0,
                    histogram.encode().decode())  # fmt: skip
    run.samples_writer().write([row])
    run.append_event("test_start", t=990.0)
    first = watcher.poll()
    assert first.colors["blue"].samples == 100 and first.phase == "ramping"
    assert first.colors["blue"].p95_ms["http p95"] == pytest.approx(95.0, rel=0.001)
    with (tmp_path / "samples.jsonl").open("a") as handle:
        handle.write('{"t0": 996.0, "t1"')  # a line being written: not read yet
    assert watcher.poll().colors["blue"].samples == 100
    clock[0] = 1020.0  # the row left the ten-second window; the totals stay
    later = watcher.poll()
    assert later.colors["blue"].p95_ms["http p95"] is None and later.colors["blue"].samples == 100


@pytest.mark.e2e
def test_a_ci_log_reads_line_by_line_and_json_matches_the_verdict(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE)
    log = run_cli(
        "run", "--profile", str(profile), "--out", str(tmp_path / "log"), "--no-report", "--status-every", "2"
    )
    assert log.returncode == 0, log.stdout[-3000:] + log.stderr[-2000:]
    assert "\x1b" not in log.stdout  # no control characters in a CI log
    status = [line for line in log.stdout.splitlines() if line.startswith("[") and "req/s" in line]
    assert status and all("blue:" in line and "green:" in line and "SLO" in line for line in status)
    for phase in ("phase: starting targets", "phase: ramping", "phase: analysing"):
        assert phase in log.stdout
    assert "key metrics" in log.stdout and "chat.complete" in log.stdout and "verdict: PASSED" in log.stdout

    profile.write_text(PROFILE.replace("duration_s: 8", "duration_s: 4"))  # the JSON needs no status line
    quiet = run_cli("run", "--profile", str(profile), "--out", str(tmp_path / "quiet"), "--no-report", "--json")
    result = json.loads(quiet.stdout)  # stdout holds the JSON alone
    assert result["verdict"] == json.loads((tmp_path / "quiet" / "verdict.json").read_text())
    assert result["exit_code"] == quiet.returncode == result["verdict"]["exit_code"]


@pytest.mark.e2e
def test_doctor_reports_a_lowered_open_file_limit() -> None:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, 2048))

    result = run_cli("doctor", "--connections", "5000", preexec=lower, timeout=60)
    assert result.returncode == 2
    row = next(line for line in result.stdout.splitlines() if "open files" in line)
    assert "soft 512, hard 2048" in row and "FAIL" in row and "--workers 3" in row
    assert "fix open files" in result.stderr

    fine = run_cli("doctor", "--connections", "100", timeout=60)
    assert fine.returncode == 0 and "locust" in fine.stdout


def test_an_open_model_runs_target_and_achieved_rates_are_shown(tmp_path: Path) -> None:
    from loadtests.recorder.rows import ArrivalsRow
    from loadtests.recorder.rundir import RunDirectory

    directory = RunDirectory(tmp_path)
    writer = directory.arrivals_writer()
    for second in range(5):
        t0 = 1000.0 + second
        writer.write([ArrivalsRow(t0, t0 + 1, "green", "history_read", 20, 18, 2, None, None)])
        writer.write([ArrivalsRow(t0, t0 + 1, "blue", "history_read", 20, 20, 0, None, None)])
    writer.close()
    watcher = RunWatcher(tmp_path, ["blue", "green"], total_s=10, clock=lambda: 1005.0)
    snapshot = watcher.poll()
    green = snapshot.colors["green"]
    assert (green.arrivals_target, green.arrivals_started, green.missed) == (20.0, 18.0, 10)
    line = status_line(snapshot)
    assert "green: - users 0.0 req/s arrivals 18.0/20.0 per s (10 missed)" in line
    assert "blue: - users 0.0 req/s arrivals 20.0/20.0 per s (0 missed)" in line
