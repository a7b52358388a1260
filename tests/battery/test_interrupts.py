"""Ctrl-C (SIGINT) and SIGTERM at each phase of `loadbench run`: exit 4, one-line reason, and a run
directory that is written, marked, and still readable by `loadbench check`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from battery_helpers import ROOT
from hostile_runs import cli

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers

PROFILE = """\
version: 1
name: interrupt
duration_s: 40
users: 4
spawn_rate: 2
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.3]}
"""


def _events(out: Path) -> str:
    events = out / "events.jsonl"
    return events.read_text() if events.exists() else ""


def _samples_written(out: Path) -> bool:
    samples = out / "samples.jsonl"
    return samples.exists() and samples.stat().st_size > 0


# phase -> (what the run prints when it enters it, what the run directory shows once inside it)
PHASES: dict[str, tuple[str, Callable[[Path], bool] | None]] = {
    "starting targets": ("starting the embedded", None),
    "ramping": ("running interrupt", lambda out: '"test_start"' in _events(out)),  # 4 users at 2/s: 2 s of ramp
    "steady state": (
        "running interrupt",
        lambda out: '"spawning_complete"' in _events(out) and _samples_written(out),
    ),
    "writing results": ("analysing", None),
}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_interrupt(phase: str, signum: signal.Signals, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE.replace("duration_s: 40", "duration_s: 3") if phase == "writing results" else PROFILE)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests.cli", "run", "--profile", str(profile), "--out", str(out), "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    marker, inside = PHASES[phase]
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            break
        assert time.monotonic() < deadline, "the phase never came"
    while inside is not None and not inside(out):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never got into the phase"
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 4, (stdout[-2000:], stderr[-2000:])
    assert "Traceback" not in stdout + stderr
    assert f"interrupted by {signum.name}" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ended_at"] and manifest["exit_code"] == 4
    assert manifest["status"] == ("complete" if phase == "writing results" else "partial")
    check = cli("check", out)  # in this process: the run's own process is what is under test
    assert check.code in (0, 1, 3) and "Traceback" not in check.stdout + check.stderr
    if phase in ("steady state", "writing results"):
        assert (out / "samples.jsonl").stat().st_size > 0 and (out / "verdict.json").exists()


def test_the_orchestrator_is_not_gevent_patched() -> None:
    """Locust's import patches threads into greenlets; the orchestrator samples resources and judges
    in real threads, and a signal must land in its main thread, so it must never import Locust."""
    code = (
        "import sys, loadtests.cli, loadtests.orchestrator, analysis.judge, loadtests.live\n"
        "assert 'gevent' not in sys.modules and 'locust' not in sys.modules, sorted(sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).returncode == 0
