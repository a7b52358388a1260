"""Faults the suite must survive: a worker process lost in distributed mode (reported, the run goes
on). The backend killed and restarted mid-run is covered with the swarm's reconnect storm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from battery_helpers import ROOT

PROFILE = """\
version: 1
name: worker-lost
duration_s: 16
users: 6
spawn_rate: 6
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.3]}
"""


def test_a_lost_worker_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests.cli", "run", "--profile", str(profile), "--target", "green",
         "--out", str(out), "--workers", "2", "--no-report"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    events = out / "events.jsonl"
    deadline = time.monotonic() + 90
    while not (events.exists() and "spawning_complete" in events.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "--worker" in " ".join(p.cmdline())]
    assert len(workers) == 2
    workers[0].send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert "Traceback" not in stdout + stderr
    assert proc.returncode in (0, 1, 3), stderr  # judged, not an infrastructure failure
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert any("was lost mid-run" in note for note in manifest["notes"]), manifest["notes"]
    assert any(json.loads(line)["event"] == "worker_lost" for line in events.read_text().splitlines())
