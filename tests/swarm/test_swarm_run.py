"""`loadbench run` with a swarm profile: both embedded colors, churn, fan-out and a reconnect storm
driven by the orchestrator; the run directory says what was held, dropped and recovered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.cli import main
from loadtests.profiles import load_profile
from loadtests.recorder.rundir import RunDirectory
from loadtests.swarm.summary import summarise

pytestmark = pytest.mark.e2e

STORM_PROFILE = """\
version: 1
name: swarm-e2e
description: a small swarm with churn, fan-out and one reconnect storm
duration_s: 8
users: 200
spawn_rate: 200
mix: {SwarmUser: 1}
health_probe_s: null
swarm:
  ping_interval_s: [0.5, 1.0]
  ping_timeout_s: 5
  churn_per_min: 3
  connect_timeout_s: 10
  reconnect: {max_attempts: 20, delay_s: 0.2, max_delay_s: 1, deadline_s: 30}
  storm: {after_ramp_s: [2.5], recovery_timeout_s: 30}
  fanout: {room_size: 10, interval_s: 0.5, timeout_s: 5}
slos:
  drop: [chat_complete, availability, http_p95, error_rate, connection_success]  # a storm fails these by design
  override:
    auth_success: {min_samples: 1}
    connections_held: {threshold: 90, required: true}
"""


def test_swarm_run_with_a_reconnect_storm_on_both_colors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "swarm-e2e.yaml"
    profile.write_text(STORM_PROFILE)
    out = tmp_path / "run"
    code = main(["run", "--profile", str(profile), "--target", "both", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "connections_held on green" in printed and "swarm.fanout_last" in printed

    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    storms = {e["target"]: e for e in events if e["event"] == "reconnect_storm"}
    assert set(storms) == {"blue", "green"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum("reconnect storm:" in note for note in manifest["notes"]) == 2

    summary = summarise(out)
    for color in ("blue", "green"):
        swarm = summary[color]
        storm = storms[color]
        assert storm["recovered"] is True and 0 < storm["restart_s"] < storm["recovery_s"] < 30, storm
        assert swarm.connections_held == 100  # --target both: half each
        assert swarm.drops >= 90 and swarm.drops_unexplained == 0  # every drop came with the storm
        assert swarm.reconnected == swarm.drops and swarm.gave_up == 0
        assert swarm.reconnect.timed == swarm.drops and swarm.reconnect.min_ms > 0
        # every failed attempt is classified: the server was down (refused) or went down mid-handshake;
        # blue's sockets open with their account's chat, which the in-memory stand-in forgets when it
        # restarts (a real blue keeps chats in Mongo): the first reconnects meet "Chat not found"
        # (protocol) and the next creates a new chat
        allowed = {"refused", "reset", "protocol"} if color == "blue" else {"refused", "reset"}
        assert set(swarm.failures) <= allowed, swarm.failures
        assert swarm.connect_attempts == swarm.connect_ok + sum(swarm.failures.values())
        assert swarm.connect_ok > 200  # first connects, churn reopenings, reconnects
        assert swarm.rtt.timed > 0 and swarm.rtt.min_ms > 0
        if color == "green":  # blue relays no user message: no fan-out to time
            assert swarm.fanout.timed > 0 and swarm.fanout.min_ms > 0
            assert swarm.fanout_last.p50_ms >= swarm.fanout.p50_ms
    rows = list(RunDirectory(out).read_connections())
    assert {row.node for row in rows} == {"local"} and rows[-1].open == 0  # all closed at the end


def test_shipped_swarm_profiles_ask_for_ten_thousand_connections() -> None:
    for name, color in (("swarm", "green"), ("swarm-blue", "blue")):
        profile = load_profile(name)
        assert profile.users == 10_000 and profile.target == color and profile.mix == {"SwarmUser": 1}
        assert profile.duration_s - profile.ramp_s >= 60  # held at least a minute after the ramp


HOLD_PROFILE = """\
version: 1
name: swarm-workers
description: a small swarm held by two Locust worker processes
duration_s: 6
users: 120
spawn_rate: 120
mix: {SwarmUser: 1}
health_probe_s: null
swarm: {ping_interval_s: [0.5, 1.0]}
slos:
  drop: [chat_complete, availability, http_p95]
  override:
    auth_success: {min_samples: 1}
    connections_held: {threshold: 100, required: true}
"""


def test_two_workers_hold_one_swarm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "swarm-workers.yaml"
    profile.write_text(HOLD_PROFILE)
    out = tmp_path / "run"
    code = main(
        ["run", "--profile", str(profile), "--target", "green", "--out", str(out), "--workers", "2", "--no-report"]
    )
    assert code == 0, capsys.readouterr().out
    rows = list(RunDirectory(out).read_connections())
    assert len({row.node for row in rows}) == 2  # each worker reported its own connections
    assert summarise(out)["green"].connections_held == 120  # the master summed them per interval
    assert summarise(out)["green"].drops == 0
