"""Garbage in is not garbage out (issue 13, item 7): impossible sample counts refuse the run (exit 3,
one line naming the file, its line and the value); a non-finite or negative resource or figure
value is dropped with a note; verdict.json is always strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_runs import START, cli, copy_run, rewrite_samples, small_run


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run(tmp_path_factory.mktemp("base") / "run")


@pytest.fixture
def run(base: Path, tmp_path: Path) -> Path:
    return copy_run(base, tmp_path / "run")


def strict_json(path: Path) -> dict:  # type: ignore[type-arg]
    def refuse(name: str) -> None:
        raise AssertionError(f"{path.name} holds {name}: not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("count", -45, "count -45 is negative"),
        ("timed", -1, "timed -1 is negative"),
        ("count", 2**63 - 1, "count 9.223e+18 is beyond"),
        ("nbytes", 2**63 + 10, "nbytes 9.223e+18 is beyond"),
        ("overflow", 2.5, "overflow 2.5 is not an integer"),
        ("count", True, "count True is not an integer"),
        ("t0", -3.0, "t0 -3"),
        ("t1", 1e300, "t1 1e+300"),
        ("name", 7, "name 7 is not a string"),
    ],
)
def test_impossible_sample_values_refuse_the_run(field: str, value: object, message: str, run: Path) -> None:
    rewrite_samples(run, lambda row, index: {**row, field: value} if index == 9 else row)
    result = cli("check", run)
    assert result.code == 3 and len(result.lines) == 1, (result.code, result.stderr)
    assert "samples.jsonl line 10" in result.lines[0] and message in result.lines[0], result.lines[0]
    assert not (run / "verdict.json").exists()


def test_counts_at_the_cap_sum_exactly(run: Path) -> None:
    """Rows at the cap (2**32 each) add up exactly: no wrap, no negative error rate or sample count."""
    rewrite_samples(
        run,
        lambda row, index: (
            {**row, "outcome": "error", "count": 2**32, "hist": None, "timed": 0} if 60 <= index < 69 else row
        ),
    )
    result = cli("check", run)
    assert result.code == 1, result.stderr
    verdict = strict_json(run / "verdict.json")
    error_rate = [check for check in verdict["checks"] if check["name"] == "error_rate"]
    assert error_rate and all(check["samples"] > 0 and check["observed"] >= 0 for check in error_rate), error_rate


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", "-45"])
def test_a_non_finite_or_negative_rss_is_dropped_with_a_note(value: str, run: Path) -> None:
    with (run / "resources.csv").open("a") as handle:
        handle.write(f"{START + 6},target,blue,4242,{value},{value},\n")
    result = cli("check", run)
    assert result.code == 0, result.stderr
    verdict = strict_json(run / "verdict.json")
    memory = [check for check in verdict["checks"] if check["name"] == "server_memory"]
    assert memory and all(check["observed"] < 1000 for check in memory), memory
    assert any("resources.csv" in note for note in verdict["notes"]), verdict["notes"]


def test_a_non_finite_figure_is_dropped_with_a_note(run: Path) -> None:
    with (run / "figures.jsonl").open("a") as handle:
        handle.write('{"t": %f, "target": "blue", "name": "connections_held", "value": 1e400}\n' % (START + 6))
    result = cli("check", run)
    assert result.code == 0, result.stderr
    verdict = strict_json(run / "verdict.json")
    assert any("figures.jsonl" in note for note in verdict["notes"]), verdict["notes"]


def test_verdict_json_is_written_strictly() -> None:
    """The writer refuses NaN rather than writing a file that is not JSON."""
    import tempfile

    from loadtests.recorder.format import RunFormatError
    from loadtests.recorder.rundir import RunDirectory

    with tempfile.TemporaryDirectory() as folder, pytest.raises((ValueError, RunFormatError)):
        RunDirectory(folder).write_json("verdict.json", {"observed": float("nan")})
