"""Open-model load end to end: a short paired run on the embedded backends, one color slowed so
that its slots fill up. The schedule is kept (arrivals due at the planned rate on both colors),
the slowed color misses arrivals and waits for slots, and its response times from the intended
start show the wait that its service times hide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.load import load_run
from analysis.schedule import schedule_of
from analysis.stats import ok_histogram, percentile_ms, select
from loadtests.cli import main

pytestmark = pytest.mark.e2e

PROFILE = """\
version: 1
name: open-e2e
duration_s: 6
users: 0
spawn_rate: 10
mix: {}
health_probe_s: null
arrivals:
  max_in_flight: 2
  start_within_s: 0.3
  scenarios:
    history_read: {rate_per_s: 20}
reference_backend:
  green: {faults: {latency: 150, paths: [/api/chats]}}
slos: []
"""


def test_an_open_model_run_keeps_its_schedule_and_counts_what_it_missed(tmp_path: Path) -> None:
    profile = tmp_path / "open.yaml"
    profile.write_text(PROFILE)
    out = tmp_path / "run"
    main(["run", "--profile", str(profile), "--target", "both", "--out", str(out), "--no-report", "--quiet"])
    assert (out / "samples-response.jsonl").is_file() and (out / "arrivals.jsonl").is_file()
    schedule = {item.target: item for item in schedule_of(load_run(out))}
    for color in ("blue", "green"):
        item = schedule[color]
        assert 80 <= item.due <= 125, (color, item)  # 20 a second over about 5 s, on both colors alike
        assert item.started + item.missed <= item.due
    blue, green = schedule["blue"], schedule["green"]
    assert blue.missed == 0 and blue.started >= blue.due - 2
    # green: two slots of 150 ms each take at most ~13 of the 20 arrivals a second
    assert green.missed >= 0.2 * green.due and green.waited_p99_ms is not None and green.waited_p99_ms > 50

    def p95(basis: str, color: str) -> float:
        run = load_run(out, basis=basis)  # type: ignore[arg-type]
        rows = select(run.samples, target=color, name="chat.history")
        value = percentile_ms(ok_histogram(rows, run.histograms), 95)
        assert value is not None
        return value

    assert p95("service", "green") < 200 < p95("response", "green")  # the wait for a slot: the user's, not hidden
    assert p95("response", "blue") < 50
    verdict = json.loads((out / "verdict.json").read_text())
    assert any(note.startswith("open model on green:") and "missed_schedule" in note for note in verdict["notes"])
