"""The blue-vs-green notebook, executed headless with papermill on a synthetic paired run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import MakeRun

from analysis.compare_synthetic import Plant

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "blue_vs_green.ipynb"


def test_the_notebook_runs_headless_and_shows_the_scorecard_and_figures(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run(Plant(scale={"chat.complete": 1.25}))
    executed = tmp_path / "executed.ipynb"
    # A subprocess: the kernel must not inherit this test process's gevent-patched world.
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOK), str(executed), "-p", "paired_run", str(run),
         "--cwd", str(tmp_path), "--no-progress-bar"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    notebook = nbformat.read(executed, as_version=4)
    cells = {tag: cell for cell in notebook.cells for tag in cell.metadata.get("tags", [])}
    assert "injected-parameters" in cells and str(run) in cells["injected-parameters"].source
    scorecard = "".join(output.get("text", "") for output in cells["scorecard"].outputs)
    assert "scorecard: ROLL BACK (exit 1)" in scorecard
    assert any("text/html" in output.get("data", {}) for output in cells["scorecard"].outputs)  # the table
    conclusion = cells["conclusion"].outputs[0]["data"]["text/markdown"]
    assert conclusion.startswith("Roll back: green is worse than blue") and "chat.complete" in conclusion
    images = [
        o
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 4  # CDF overlays, ladders, resources, errors
    errors = [
        o
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if o.get("output_type") == "error"
    ]
    assert not errors


def test_the_notebook_in_the_repository_carries_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1 and "paired_run = None" in parameters[0].source
