"""The preflight of ``loadbench run`` refuses to blame the target for the suite's configuration: it
stops before the load with exit 2 and one line for what cannot work, and names a target's own
defect without stopping. Each case is planted with a reference-backend knob."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.cli import main

pytestmark = pytest.mark.e2e

BASE = """\
version: 1
name: preflight
duration_s: 4
users: {users}
spawn_rate: 10
mix: {{ChatUser: 1}}
health_probe_s: 0.5
chat: {{think_time_s: [0.2, 0.4]}}
reference_backend:
  access_token_ttl_s: 30
  {color}:
    faults: {faults}
"""


def run(tmp_path: Path, color: str, faults: str, *, users: int = 4) -> tuple[int, Path]:
    profile = tmp_path / "p.yaml"
    profile.write_text(BASE.format(users=users, color=color, faults=faults))
    out = tmp_path / "run"
    return main(["run", "--profile", str(profile), "--out", str(out), "--quiet", "--no-report"]), out


def stop_line(out: Path) -> str:
    return json.loads((out / "manifest.json").read_text())["invalid_reason"]


def test_a_missing_route_stops_the_run_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, "green", "{deviations: {missing_routes: ['POST /chats/{chat_id}/ask']}}")
    assert code == 2
    line = stop_line(out)
    assert line == (
        "preflight: green has no POST /api/chats/{id}/ask (HTTP 404), which the workload's chat.ask needs: "
        "check dialects.green.rest_base (now /api; deployments use /api, /api/v1 or /v1)"
    )
    assert f"loadbench: {line}" in capsys.readouterr().err
    assert not (out / "samples.jsonl").exists()  # no load was sent
    compat = json.loads((out / "compat.json").read_text())
    assert compat["mode"] == "preflight" and compat["summary"]["exit_code"] == 1


def test_a_refused_first_frame_stops_the_run(tmp_path: Path) -> None:
    code, out = run(tmp_path, "blue", "{deviations: {missing_events: [join_room]}}")
    assert code == 2
    assert stop_line(out).startswith(
        "preflight: blue closed the socket on its first frame (ws frame join_room): closed by peer with code 1007"
    )


def test_rate_limited_logins_stop_the_run(tmp_path: Path) -> None:
    code, out = run(tmp_path, "green", "{rate_limit: true}", users=20)
    assert code == 2
    assert stop_line(out) == (
        "preflight: green limits logins to 5 per 900 s per client IP (X-RateLimit-* on auth.login; 4 left) and "
        "this run logs in about 10 users: disable the rate limiter in the test environment, or use auth: {mode: mint}"
    )


def test_greens_claimless_refresh_is_named_not_stopped(tmp_path: Path) -> None:
    code, out = run(tmp_path, "green", "{deviations: {refresh_without_claims: true}}")
    assert code in (0, 1, 3)  # the run happened; its verdict is its own business
    notes = json.loads((out / "verdict.json").read_text())["notes"]
    assert any(
        note.startswith("preflight: green's defect, met by this run: the access token carries no `username` and "
                        "`roles` claim (green's auth.refresh issues tokens with `sub` only)")
        for note in notes
    ), notes  # fmt: skip


def test_no_preflight_skips_it(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(BASE.format(users=2, color="green", faults="{deviations: {missing_routes: ['GET /chats']}}"))
    out = tmp_path / "run"
    main(["run", "--profile", str(profile), "--out", str(out), "--quiet", "--no-report", "--no-preflight"])
    assert not (out / "compat.json").exists() and (out / "samples.jsonl").exists()


def test_blues_slow_logins_are_named_before_the_ramp(tmp_path: Path) -> None:
    # bcrypt on blue's event loop: every login holds the server (planted: login_cpu_ms)
    _, out = run(tmp_path, "blue", "{deviations: {login_cpu_ms: 300}}")
    notes = json.loads((out / "manifest.json").read_text())["preflight_notes"]
    assert any(note.startswith("preflight: one blue login took ") and "bcrypt" in note for note in notes), notes
