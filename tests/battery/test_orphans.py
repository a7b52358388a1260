"""No orphan load: ``kill -9`` of ``loadbench run`` (the OOM killer, a cancelled CI job) leaves no
process of the suite running 5 s later, the backends' temporary folders are gone, the manifest
records the moment the run died, and ``loadbench check`` judges only what was measured before it."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from battery_helpers import ROOT, loadbench

from analysis.load import load_run

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers

PROFILE = """\
version: 1
name: orphans
duration_s: 60
users: 4
spawn_rate: 4
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.3]}
"""
GONE_WITHIN_S = 5.0


def _steady(out: Path) -> bool:
    events = out / "events.jsonl"
    samples = out / "samples.jsonl"
    return (
        events.exists()
        and '"spawning_complete"' in events.read_text()
        and samples.exists()
        and len(samples.read_text().splitlines()) >= 8
    )


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in processes:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(proc.cmdline()[:4]))
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.parametrize("workers", [0, 2], ids=["one process", "--workers 2"])
def test_kill_9_leaves_no_process_and_check_judges_before_the_kill(workers: int, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "loadtests.cli", "run", "--profile", str(profile), "--out", str(out)]
    command += ["--no-report", "--workers", str(workers)] if workers else ["--no-report"]
    orchestrator = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True
    )
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while not _steady(out):
            assert time.monotonic() < deadline and orchestrator.poll() is None, "the run never reached steady state"
            time.sleep(0.1)
        if workers:  # a worker report just arrived (8 lines): kill between two (they come every 3 s)
            time.sleep(2.0)
        children = psutil.Process(orchestrator.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in children]
        backends = [line for line in commands if "-m reference_backend" in line]
        assert len(backends) == 2 and len([line for line in commands if "-m locust" in line]) == 1 + workers
        workdirs = {Path(path).parent for path in re.findall(r"--config (\S+)", " ".join(backends))}
        assert len(workdirs) == 2 and all(path.is_dir() for path in workdirs)

        killed_at = time.time()
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait()
        deadline = time.monotonic() + GONE_WITHIN_S
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(children), f"still running {GONE_WITHIN_S:g} s after kill -9: {_alive(children)}"
    finally:
        for child in children:  # a failing test leaves nothing behind either
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
    assert not [path for path in workdirs if path.exists()], "the backends' temporary folders are left"

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "partial"
    lost_at = manifest["orchestrator_lost_at"]
    assert killed_at - 1.0 <= lost_at <= killed_at + 0.05, (lost_at, killed_at)
    assert any("samples after it are not judged" in note for note in manifest["notes"])

    run = load_run(out)
    assert len(run.samples) and float(run.samples["t1"].max()) <= lost_at + 1e-6
    # ... and nothing measured before it is lost: the intervals run to the last whole second before
    # the kill (workers report every 3 s: their last intervals travel as they stop, to a master
    # that waits for them)
    assert float(run.samples["t1"].max()) >= lost_at - 1.5, (float(run.samples["t1"].max()), lost_at)
    assert set(run.samples["outcome"]) == {"ok"}, "only what was measured against live backends is judged"
    check = loadbench("check", str(out), timeout=60)
    assert check.code in (0, 3), (check.stdout[-3000:], check.stderr[-2000:])
    assert "Traceback" not in check.stdout + check.stderr
    verdict = json.loads((out / "verdict.json").read_text())
    assert not [c["name"] for c in verdict["checks"] if c["passed"] is False]
    assert any("not judged" in note for note in verdict["notes"]), verdict["notes"]


def test_check_judges_only_the_window_before_the_run_died(tmp_path: Path) -> None:
    """Unit-sized: a run whose target answered well until the run died and errors after (the
    backends stopping under the load). The manifest's moment decides what is judged."""
    from datetime import UTC, datetime

    from analysis.judge import judge_run
    from loadtests.recorder.format import iso
    from loadtests.recorder.histogram import new_histogram
    from loadtests.recorder.rows import SampleRow
    from loadtests.recorder.rundir import Manifest, RunDirectory

    start = 1_800_000_000.0
    histogram = new_histogram()
    for value in (2000, 3000, 4000):
        histogram.record_value(value)
    encoded = histogram.encode().decode("ascii")
    directory = RunDirectory.create(out=tmp_path / "run", results_root=tmp_path, profile="died", target="blue")
    slos = [{"name": "errors", "metric": "*", "statistic": "error_rate", "comparison": "<", "threshold": 0.1}]
    manifest = Manifest(
        run_id="died",
        profile_name="died",
        profile={"name": "died", "slos": slos},
        target_mode="blue",
        started_at=iso(datetime.fromtimestamp(start, UTC)),
    )
    directory.write_manifest(manifest)
    directory.append_event("test_start", t=start)
    directory.append_event("spawning_complete", t=start + 2, user_count=4)
    writer = directory.samples_writer()
    for second in range(60):
        t0 = start + second
        if second < 40:  # measured while the run was alive
            row = SampleRow(t0, t0 + 1, "blue", "http", "chat.history", "ChatUser", "ok", 3, 3, 0, 0, encoded)
        else:  # recorded after it died: connection refused by the stopping backends
            row = SampleRow(t0, t0 + 1, "blue", "http", "chat.history", "ChatUser", "error", 5, 0, 0, 0, None)
        writer.write([row])
    writer.close()
    assert judge_run(directory.path).verdict.exit_code == 1  # judged whole, the kill fails the run

    directory.write_manifest(manifest.model_copy(update={"orchestrator_lost_at": start + 40.2}))
    judged = judge_run(directory.path)
    assert judged.verdict.exit_code == 0, judged.verdict.to_json()
    assert judged.run.unjudged_rows == 20
    assert any("20 sample row(s) recorded after it are not judged" in note for note in judged.verdict.notes)
