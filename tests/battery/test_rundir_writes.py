"""Nothing the suite writes follows a symbolic link out of the run directory (issue 13, item 3):
plots/, report.html, verdict.json, junit.xml, summary.md and comparison.* are written into the
run directory itself, never through a link planted there."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_runs import cli, copy_run, small_run


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run(tmp_path_factory.mktemp("base") / "run")


@pytest.fixture
def run(base: Path, tmp_path: Path) -> Path:
    return copy_run(base, tmp_path / "run")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder standing for /etc: nothing may appear or change in it."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "passwd").write_text("root:x:0:0\n")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_report_refuses_a_symlinked_plots_folder(run: Path, outside: Path) -> None:
    before = snapshot(outside)
    (run / "plots").symlink_to(outside, target_is_directory=True)
    result = cli("report", run)
    assert result.code == 3, result.stderr
    assert len(result.lines) == 1 and "plots" in result.lines[0] and "symbolic link" in result.lines[0], result.stderr
    assert snapshot(outside) == before


@pytest.mark.parametrize("name", ["verdict.json", "junit.xml", "summary.md"])
def test_check_replaces_a_symlinked_output_without_writing_through_it(name: str, run: Path, outside: Path) -> None:
    before = snapshot(outside)
    (run / name).symlink_to(outside / "passwd")
    result = cli("check", run)
    assert result.code == 0, result.stderr
    assert snapshot(outside) == before
    assert (run / name).is_file() and not (run / name).is_symlink()


@pytest.mark.parametrize("name", ["report.html", "plots/latency_cdf.png"])
def test_report_replaces_a_symlinked_output_without_writing_through_it(name: str, run: Path, outside: Path) -> None:
    before = snapshot(outside)
    (run / "plots").mkdir()
    (run / name).symlink_to(outside / "passwd")
    assert cli("report", run).code == 0
    assert snapshot(outside) == before
    assert (run / name).is_file() and not (run / name).is_symlink()


def test_a_planted_temporary_file_is_not_followed(run: Path, outside: Path) -> None:
    """The old temporary name (.verdict.json.tmp) was predictable: a link planted there was written through."""
    before = snapshot(outside)
    for name in ("verdict.json", "junit.xml", "summary.md"):
        (run / f".{name}.tmp").symlink_to(outside / "passwd")
    assert cli("check", run).code == 0
    assert snapshot(outside) == before


@pytest.mark.parametrize("name", ["comparison.json", "comparison.md", "comparison.html"])
def test_compare_does_not_write_through_a_link(name: str, run: Path, outside: Path, tmp_path: Path) -> None:
    before = snapshot(outside)
    (run / name).symlink_to(outside / "passwd")
    (run / f".{name}.tmp").symlink_to(outside / "planted")
    result = cli("compare", run, "--no-figures", "--results", tmp_path / "index")
    assert result.code == 0, result.stderr
    assert snapshot(outside) == before and not (outside / "planted").exists()
    assert (run / name).is_file() and not (run / name).is_symlink()


def test_an_output_that_is_a_directory_is_an_invalid_run(run: Path) -> None:
    (run / "verdict.json").mkdir()
    result = cli("check", run)
    assert result.code == 3 and len(result.lines) == 1 and "verdict.json" in result.lines[0], result.stderr
