"""One short real run: `loadbench run` adds itself to the index, `compare` and `history` read it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loadtests.cli import main

pytestmark = pytest.mark.e2e

PROFILE = """\
version: 1
name: compare-e2e
description: a few seconds of chat on both colors, for the comparison tests
duration_s: 8
users: 4
spawn_rate: 4
mix: {ChatUser: 1}
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.3]}
reference_backend:
  llm: {first_token: 100, token_gap: 5, chunks: 4}
"""


def test_a_real_run_is_indexed_and_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "compare-e2e.yaml"
    profile.write_text(PROFILE)
    run = tmp_path / "results" / "paired"
    main(["run", "--profile", str(profile), "--target", "both", "--out", str(run), "--no-report"])
    capsys.readouterr()
    index = pd.read_csv(tmp_path / "results" / "index.csv")
    assert sorted(index["color"]) == ["blue", "green"] and set(index["run"]) == {"paired"}
    assert (index["profile"] == "compare-e2e").all() and index["p95_ms:chat.complete"].notna().all()
    assert index["exit_code"].notna().all()

    code = main(["compare", str(run), "--results", str(tmp_path / "results"), "--no-figures"])
    data = json.loads((run / "comparison.json").read_text())
    assert code == data["scorecard"]["exit_code"] and data["design"] == "paired"
    chat = next(m for m in data["metrics"] if m["id"] == "latency:chat.complete")
    assert chat["n_a"] > 0 and chat["n_b"] > 0 and chat["kinds"] == ["ws", "sio"]
    assert main(["history", "--results", str(tmp_path / "results"), "--metric", "chat.complete"]) == 0
    assert "paired" in capsys.readouterr().out
