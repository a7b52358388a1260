"""The session's clean paired run: `loadbench run` added itself to the index, `compare` and
`history` read it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from shared_runs import CleanRun

from loadtests.cli import main

pytestmark = pytest.mark.e2e


def test_a_real_run_is_indexed_and_compared(
    clean_paired_run: CleanRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = shutil.copytree(clean_paired_run.results, tmp_path / "results")  # compare writes into the run
    run = results / "paired"
    index = pd.read_csv(results / "index.csv")
    assert sorted(index["color"]) == ["blue", "green"] and set(index["run"]) == {"paired"}
    assert (index["profile"] == "fault-clean").all() and index["p95_ms:chat.complete"].notna().all()
    assert index["exit_code"].notna().all()

    code = main(["compare", str(run), "--results", str(tmp_path / "results"), "--no-figures"])
    data = json.loads((run / "comparison.json").read_text())
    assert code == data["scorecard"]["exit_code"] and data["design"] == "paired"
    chat = next(m for m in data["metrics"] if m["id"] == "latency:chat.complete")
    assert chat["n_a"] > 0 and chat["n_b"] > 0 and chat["kinds"] == ["ws", "sio"]
    assert main(["history", "--results", str(tmp_path / "results"), "--metric", "chat.complete"]) == 0
    assert "paired" in capsys.readouterr().out
