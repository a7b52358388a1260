"""`loadbench compare` and `loadbench history`: exit codes, files, the pinned baseline, the index."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import MakeRun

from analysis.compare_synthetic import Plant
from analysis.history import INDEX, add_to_index, read_baseline, read_index, trend
from analysis.load import load_run
from loadtests.cli import main
from loadtests.recorder.rundir import RunDirectory

SLOWER_CHAT = Plant(scale={"chat.complete": 1.25})


def test_compare_a_paired_run_writes_its_files_and_exits_by_the_scorecard(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    same = make_run()
    assert main(["compare", str(same)]) == 0
    out = capsys.readouterr().out
    assert "scorecard: HOLD (exit 0)" in out and "latency:chat.complete" in out
    for name in ("comparison.json", "comparison.md", "comparison.html"):
        assert (same / name).is_file()
    slower = make_run(SLOWER_CHAT)
    assert main(["compare", str(slower), "--no-figures"]) == 1
    assert "ROLL BACK (exit 1)" in capsys.readouterr().out


def test_compare_json_goes_to_stdout(make_run: MakeRun, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = make_run(SLOWER_CHAT)
    assert main(["compare", str(run), "--no-figures", "--json", "--out", str(tmp_path / "elsewhere")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 2 and data["scorecard"]["decision"] == "rollback"
    assert (tmp_path / "elsewhere" / "comparison.json").is_file() and not (run / "comparison.json").exists()


def test_compare_two_runs_refuses_a_mismatch_in_one_line_unless_forced(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = make_run(), make_run(SLOWER_CHAT, seed=3)
    directory = RunDirectory(second)
    directory.update_manifest(profile_name="smoke")
    assert main(["compare", str(first), str(second)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not comparable: profile synthetic ≠ smoke" in err and "--force" in err
    assert main(["compare", str(first), str(second), "--force", "--no-figures"]) == 1
    data = json.loads((second / "comparison.json").read_text())
    assert data["forced"] is True and data["mismatches"][0]["field"] == "profile"


def test_compare_usage_errors_exit_2(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run()
    assert main(["compare"]) == 2
    assert main(["compare", str(tmp_path / "missing")]) == 2
    assert main(["compare", str(run), str(run)]) == 2
    assert main(["compare", str(run), "--threshold", "nonsense"]) == 2
    RunDirectory(run).update_manifest(format_version=99)
    assert main(["compare", str(run)]) == 3  # unreadable run directory


def test_a_pinned_baseline_is_what_a_new_run_is_compared_with(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "index"
    baseline, same, slower = make_run(seed=1), make_run(seed=2), make_run(SLOWER_CHAT, seed=3)
    # --baseline compares and pins: green of the new run against green of the baseline.
    args = ["--results", str(results), "--color-a", "green", "--color-b", "green", "--no-figures"]
    assert main(["compare", "--baseline", str(baseline), str(same), *args]) == 0
    pin = read_baseline(results)
    assert pin is not None and pin.run == str(baseline.resolve()) and pin.color == "green"
    capsys.readouterr()
    # With a pin, one run is compared with the pin (its color remembered), not with itself.
    assert main(["compare", str(slower), "--results", str(results), "--no-figures"]) == 1
    out = capsys.readouterr().out
    assert "against the pinned baseline" in out
    data = json.loads((slower / "comparison.json").read_text())
    assert data["design"] == "two-run" and data["a"]["run_dir"] == str(baseline.resolve())
    assert data["a"]["color"] == "green" and data["b"]["color"] == "green"
    # --paired ignores the pin; history --unpin forgets it; history --pin sets one.
    assert main(["compare", str(slower), "--paired", "--results", str(results), "--no-figures"]) == 1
    assert json.loads((slower / "comparison.json").read_text())["design"] == "paired"
    assert main(["history", "--results", str(results), "--unpin"]) == 0
    assert read_baseline(results) is None
    assert main(["history", "--results", str(results), "--pin", str(same)]) == 0
    assert read_baseline(results).run == str(same.resolve())  # type: ignore[union-attr]


def test_history_lists_runs_and_plots_a_trend(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [make_run(seed=1), make_run(SLOWER_CHAT, seed=2)]
    for path in runs:
        add_to_index(load_run(path))
    folder = runs[0].parent
    add_to_index(load_run(runs[0]))  # indexing again replaces the run's rows
    index = pd.read_csv(folder / INDEX)
    assert len(index) == 4 and sorted(index["color"]) == ["blue", "blue", "green", "green"]
    assert {"run_id", "path", "started_at", "profile", "target_mode", "color", "status", "exit_code", "verdict",
            "error_rate_pct", "p95_ms:http", "p95_ms:chat.complete", "git_sha"} <= set(index.columns)  # fmt: skip
    series = trend(read_index(folder), "chat.complete", color="green")
    assert len(series) == 2 and series["p95_ms"].iloc[1] > series["p95_ms"].iloc[0] * 1.1
    plot = tmp_path / "trend.png"
    assert (
        main(
            ["history", "--results", str(folder), "--metric", "chat.complete", "--color", "green", "--plot", str(plot)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "chat.complete p95 over 2 run rows" in out and plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["history", "--results", str(folder), "--metric", "no.such"]) == 2
    assert main(["history", "--results", str(tmp_path / "empty")]) == 2
    (folder / INDEX).unlink()
    assert main(["history", "--results", str(folder), "--rebuild"]) == 0
    assert len(pd.read_csv(folder / INDEX)) == 4
