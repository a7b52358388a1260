"""`loadbench ui`: the Locust web UI started on a free port, a run started and stopped through its
HTTP API, the custom target parameters and the SLO tab's data fetched."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loadtests.locust_process import free_port

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_web_ui_runs_and_shows_live_slos(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests.cli", "ui", "--profile", "smoke", "--web-port", str(port), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ui_up() -> bool:
            assert proc.poll() is None, "loadbench ui exited early"
            try:
                return httpx.get(url + "/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ui_up, 60, "the web UI")
        page = httpx.get(url + "/").text
        for parameter in ("blue_url", "green_url", "green_rest_base", "green_event_style", "blue_ws_path"):
            assert parameter in page  # editable on the start form
        assert '"key": "slo"' in page or "'key': 'slo'" in page or '"slo"' in page

        started = httpx.post(url + "/swarm", data={"user_count": 4, "spawn_rate": 4}).json()
        assert started["success"] is True

        def slo_rows() -> list[dict] | None:
            stats = httpx.get(url + "/stats/requests").json()
            extended = {item["key"]: item["data"] for item in stats.get("extended_stats", [])}
            rows = extended.get("slo") or []
            return rows if any(row["state"] != "no verdict" for row in rows) else None

        rows = wait_for(slo_rows, 40, "a judged SLO row")
        assert {"check", "target", "observed", "threshold", "state"} <= set(rows[0])
        assert {row["target"] for row in rows} == {"blue", "green"}

        def chat_completed() -> dict | None:  # an SLO (e.g. memory) can be judged before any chat ends
            stats = httpx.get(url + "/stats/requests").json()
            return stats if any(s["name"] == "chat.complete" for s in stats["stats"]) else None

        stats = wait_for(chat_completed, 30, "a completed chat in Locust's statistics")
        assert stats["user_count"] == 4
        assert httpx.post(url + "/stop").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C ends an interactive session
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1, 3), stderr  # judged like any run (a short session may be undecided)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert (out / "verdict.json").exists() and (out / "live-slo.json").exists()
    assert "verdict" in stdout
