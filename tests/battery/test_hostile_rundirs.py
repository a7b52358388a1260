"""Run directories are untrusted input (issue 13, item 4): every command reading one ends with its
documented exit code and one line naming the file and the problem, in bounded memory and time,
never a traceback. The reproductions of the issue first, then hypothesis damaging a valid run in
one way at a time (names, numbers, nesting, sizes, file types) for check, report, compare,
history --rebuild and the notebook's library entry points."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from battery_helpers import ROOT, assert_clean_failure, loadbench
from hostile_runs import (
    START,
    Damage,
    apply,
    cli,
    copy_run,
    encoded,
    hostile_text,
    nested,
    rewrite_samples,
    small_run,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run(tmp_path_factory.mktemp("base") / "run")


@pytest.fixture
def run(base: Path, tmp_path: Path) -> Path:
    return copy_run(base, tmp_path / "run")


def assert_refused(result, file: str, pattern: str = "") -> None:  # type: ignore[no-untyped-def]
    """Exit 3 (an invalid run), exactly one line on stderr, naming the file (and the problem)."""
    assert result.code == 3, (result.code, result.stdout[-1500:], result.stderr[-1500:])
    assert len(result.lines) == 1, result.stderr
    assert file in result.lines[0], result.lines[0]
    assert pattern.lower() in result.lines[0].lower(), (pattern, result.lines[0])
    assert len(result.lines[0]) < 400, result.lines[0]


COMMANDS = {
    "check": lambda path: cli("check", path),
    "report": lambda path: cli("report", path),
    "compare": lambda path: cli("compare", path, "--no-figures", "--results", path.parent / "index-folder"),
}


# -- the reproductions --------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_count_of_1e30(command: str, run: Path) -> None:
    rewrite_samples(run, lambda row, index: {**row, "count": 1e30} if index == 5 else row)
    assert_refused(COMMANDS[command](run), "samples.jsonl", "line 6")


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("file", ["manifest.json", "samples.jsonl", "events.jsonl"])
def test_json_nested_100000_deep(command: str, file: str, run: Path) -> None:
    path = run / file
    if file == "manifest.json":
        path.write_text(path.read_text().rstrip()[:-1] + f', "deep": {nested(100_000)}}}')
    else:  # in the middle of the file: not a truncated last line
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], nested(100_000), *lines[1:]]) + "\n")
    result = COMMANDS[command](run)
    if file == "events.jsonl":  # written by several processes: a bad line is skipped and noted
        assert result.code in (0, 1, 3) and "Traceback" not in result.stderr, result.stderr
        if command == "check":
            notes = json.loads((run / "verdict.json").read_text())["notes"]
            assert any("events.jsonl" in note for note in notes), notes
    else:
        assert_refused(result, file, "nest" if file == "manifest.json" else "line 2")


def test_hdr_counts_of_a_billion_in_compare(run: Path) -> None:
    big = encoded([15_000], count=10**9)
    rewrite_samples(
        run,
        lambda row, index: (
            {**row, "count": 10**9, "timed": 10**9, "hist": big}
            if row["target"] == "green" and row["name"] == "chat.history" and index % 2
            else row
        ),
    )
    result = cli("compare", run, "--no-figures", "--results", run.parent / "index-folder")
    assert result.code in (0, 1), result.stderr[-2000:]
    comparison = json.loads((run / "comparison.json").read_text())
    assert comparison["metrics"]


def _limited_loadbench(*args: str, timeout: float = 60) -> tuple[int, str]:
    """The real command line in its own process, with 1.5 GB of address space: a reader that
    swallows an endless file fails fast instead of taking the machine's memory."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))

    proc = subprocess.run(
        [sys.executable, "-m", "loadtests.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        preexec_fn=limit,
        env={**os.environ, "GITHUB_STEP_SUMMARY": ""},
    )
    return proc.returncode, proc.stderr


@pytest.mark.e2e
def test_samples_linked_to_dev_zero(run: Path) -> None:
    (run / "samples.jsonl").unlink()
    (run / "samples.jsonl").symlink_to("/dev/zero")
    code, stderr = _limited_loadbench("check", str(run))
    assert code == 3 and "Traceback" not in stderr, stderr[-2000:]
    assert "samples.jsonl is a character device, not a regular file" in stderr


@pytest.mark.e2e
def test_a_fifo_as_samples_does_not_hang_check(run: Path) -> None:
    (run / "samples.jsonl").unlink()
    os.mkfifo(run / "samples.jsonl")
    code, stderr = _limited_loadbench("check", str(run), timeout=30)
    assert code == 3 and "Traceback" not in stderr, stderr[-2000:]
    assert "samples.jsonl is a FIFO, not a regular file" in stderr


def test_history_rebuild_skips_a_bad_run_and_carries_on(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "results"
    good = copy_run(base, folder / "a-good")
    deep = copy_run(base, folder / "b-deep")
    (deep / "manifest.json").write_text(nested(100_000))
    huge = copy_run(base, folder / "c-huge")
    rewrite_samples(huge, lambda row, index: {**row, "count": 2**63 - 1} if index == 3 else row)
    also_good = copy_run(base, folder / "d-good")
    result = cli("history", "--rebuild", "--results", folder)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2, result.stdout
    assert "b-deep" in skipped[0] and "manifest.json" in skipped[0]
    assert "c-huge" in skipped[1] and "samples.jsonl" in skipped[1]
    index = (folder / "index.csv").read_text()
    assert str(good.name) in index and str(also_good.name) in index and "b-deep" not in index


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["run", "worker"])
def test_an_ipv4_address_in_brackets(command: str) -> None:
    args = ["--target", "green", "--green-url", "http://[127.0.0.1]:5000"]
    if command == "worker":
        args = ["--master", "127.0.0.1", *args]
    assert_clean_failure(loadbench(command, *args, timeout=60), 2, r"--green-url .*is not a valid URL")


def test_the_notebook_entry_points_refuse_a_hostile_run(run: Path) -> None:
    """The notebook is thin: it calls ``compare_paths`` and renders; the refusal it shows is the
    one-line error of that call."""
    from analysis.compare import compare_paths
    from loadtests.errors import InvalidRunError

    (run / "manifest.json").write_text(nested(100_000))
    with pytest.raises(InvalidRunError) as caught:
        compare_paths(None, None, paired_run=run)
    assert "manifest.json" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.e2e
def test_the_notebook_under_papermill_shows_one_line(run: Path, tmp_path: Path) -> None:
    """Executed headless (as the CI job does), the notebook's error output is the one-line reason,
    not a traceback through the library (papermill itself exits 1 on any failed cell)."""
    (run / "manifest.json").write_text(nested(100_000))
    out = tmp_path / "out.ipynb"
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "blue_vs_green.ipynb"), str(out),
         "-p", "paired_run", str(run), "--cwd", str(ROOT)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0
    errors = [
        output
        for cell in json.loads(out.read_text())["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert len(errors) == 1, errors
    assert "invalid run" in errors[0]["evalue"] and "manifest.json" in errors[0]["evalue"], errors[0]
    assert not any("File " in line or "---->" in line for line in errors[0]["traceback"]), errors[0]["traceback"]


# -- hypothesis: one hostile change at a time --------------------------------------------------------
# The battery runs a fixed, quick set (seconds); LOADBENCH_HOSTILE_EXAMPLES=500 searches wider, at random.
_SEARCH = int(os.environ.get("LOADBENCH_HOSTILE_EXAMPLES", "0"))
HOSTILE = settings(
    max_examples=_SEARCH or 25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not _SEARCH,
    database=None,
)


def _check_outcome(result, damage: Damage) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.stdout + result.stderr, (str(damage), result.stderr[-2000:])
    if damage.refused:
        assert result.code == 3, (str(damage), result.code, result.stderr[-1500:])
        assert len(result.lines) == 1, (str(damage), result.stderr)
        assert damage.file in result.lines[0], (str(damage), result.lines[0])
    else:
        assert result.code in (0, 1, 3), (str(damage), result.code, result.stderr[-1500:])


_counter = iter(range(10**9))


def _damaged(base: Path, tmp_path: Path, data: st.DataObject) -> tuple[Path, Damage]:
    """A copy of the base run, under a hostile directory name, damaged in one way."""
    suffix = data.draw(hostile_text).replace("/", "_").replace("\x00", "")[:100]
    run = copy_run(base, tmp_path / f"run{next(_counter)}{suffix}")
    return run, apply(run, data.draw)


@HOSTILE
@given(data=st.data())
def test_check_on_hostile_run_directories(base: Path, tmp_path: Path, data: st.DataObject) -> None:
    run, damage = _damaged(base, tmp_path, data)
    result = cli("check", run)
    _check_outcome(result, damage)
    if not damage.refused:  # the verdict is strict JSON whatever the run held
        json.loads((run / "verdict.json").read_text(), parse_constant=lambda name: pytest.fail(name))


@settings(HOSTILE, max_examples=max(4, HOSTILE.max_examples // 4))
@given(data=st.data())
def test_report_on_hostile_run_directories(base: Path, tmp_path: Path, data: st.DataObject) -> None:
    run, damage = _damaged(base, tmp_path, data)
    _check_outcome(cli("report", run), damage)


@settings(HOSTILE, max_examples=max(4, HOSTILE.max_examples // 2))
@given(data=st.data())
def test_compare_on_hostile_run_directories(base: Path, tmp_path: Path, data: st.DataObject) -> None:
    run, damage = _damaged(base, tmp_path, data)
    result = cli("compare", run, "--no-figures", "--results", tmp_path / "index-folder")
    assert "Traceback" not in result.stderr
    if damage.refused:
        _check_outcome(result, damage)
    else:  # 2: not comparable (a damaged side may lack a color); 0/1: promote, hold, rollback
        assert result.code in (0, 1, 2, 3), (str(damage), result.code, result.stderr[-1500:])
        if result.code in (0, 1):
            json.loads((run / "comparison.json").read_text(), parse_constant=lambda name: pytest.fail(name))


@settings(HOSTILE, max_examples=max(4, HOSTILE.max_examples // 2))
@given(data=st.data())
def test_history_rebuild_on_hostile_run_directories(base: Path, tmp_path: Path, data: st.DataObject) -> None:
    folder = tmp_path / f"results{next(_counter)}"
    copy_run(base, folder / "a-good")
    run = copy_run(base, folder / "b-damaged")
    damage = apply(run, data.draw)
    result = cli("history", "--rebuild", "--results", folder)
    assert result.code == 0 and "Traceback" not in result.stdout + result.stderr, (str(damage), result.stderr)
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped")]
    index = (folder / "index.csv").read_text()
    assert "a-good" in index
    if damage.refused:
        assert len(skipped) == 1 and "b-damaged" in skipped[0] and damage.file in skipped[0], (str(damage), skipped)


@settings(HOSTILE, max_examples=max(4, HOSTILE.max_examples // 2))
@given(data=st.data())
def test_notebook_entry_points_on_hostile_run_directories(base: Path, tmp_path: Path, data: st.DataObject) -> None:
    from analysis import compare_report
    from analysis.compare import compare_paths
    from loadtests.errors import LoadbenchError, one_line

    run, damage = _damaged(base, tmp_path, data)
    try:
        comparison = compare_paths(None, None, paired_run=run)
    except LoadbenchError as error:
        message = one_line(str(error))  # what the notebook's error shows, the run's path included
        assert len(message) < 400, message
        if damage.refused:
            assert error.exit_code == 3 and damage.file in message, (str(damage), message)
        return
    assert not damage.refused, str(damage)
    text = compare_report.conclusion_markdown(comparison)
    assert "<script" not in text
    for metric in comparison.metrics:
        assert "\n" not in compare_report.metric_markdown(metric)


def test_a_run_started_at_the_epoch_is_not_a_crash(run: Path) -> None:
    """A well-formed time far from the samples' (a clock reset) leaves plots and checks sane."""
    events = run / "events.jsonl"
    events.write_text(json.dumps({"t": 0.0, "event": "test_start"}) + "\n" + events.read_text())
    assert cli("report", run).code == 0
    assert START > 0
