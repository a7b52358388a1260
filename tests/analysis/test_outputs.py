"""`loadbench check` and `loadbench report` on synthetic runs: verdict.json, junit.xml, summary.md,
the GitHub step summary, plots and the self-contained HTML report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from synthetic_runs import RAMP_S, clean_run

from loadtests.cli import main


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return clean_run(tmp_path / "run").finish()


def junit_cases(path: Path) -> dict[str, ET.Element]:
    suite = ET.parse(path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    return {
        f"{case.get('name')}[{case.get('classname', '').rsplit('.', 1)[-1]}]": case for case in suite.iter("testcase")
    }


def test_check_writes_verdict_junit_and_summary(
    clean: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    assert main(["check", str(clean)]) == 0
    assert "verdict: PASSED" in capsys.readouterr().out
    verdict = json.loads((clean / "verdict.json").read_text())
    assert verdict["schema_version"] == 1 and verdict["passed"] is True and verdict["exit_code"] == 0
    check = next(c for c in verdict["checks"] if c["id"] == "http_p95[blue]")
    assert {"name", "metric", "selector", "statistic", "threshold", "observed", "passed", "samples"} <= set(check)
    assert check["selector"]["kind"] == "http" and check["selector"]["window"] == "steady"
    cases = junit_cases(clean)
    assert set(cases) == {c["id"] for c in verdict["checks"]}
    assert not any(case.find("failure") is not None or case.find("skipped") is not None for case in cases.values())
    summary = (clean / "summary.md").read_text()
    assert summary.startswith("## loadbench synthetic · both: PASSED") and "| http_p95 | blue |" in summary
    assert step_summary.read_text() == "earlier step\n" + summary + "\n"


def test_check_with_a_stricter_slo_file_fails_naming_the_check(
    clean: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text("override: {chat_complete: {threshold: 450}}\n")
    assert main(["check", str(clean), "--slo", str(strict)]) == 1
    out = capsys.readouterr().out
    assert "FAILED (exit 1): chat_complete[blue], chat_complete[green]" in out
    failure = junit_cases(clean)["chat_complete[green]"].find("failure")
    assert (
        failure is not None and failure.get("message") == "observed 500.2 ms, threshold < 450 ms"
    )  # HDR: top of the bucket


def test_too_few_samples_exits_3_and_is_skipped_in_junit(clean: Path, tmp_path: Path) -> None:
    thin = tmp_path / "thin.yaml"
    thin.write_text("override: {availability: {min_samples: 100000}}\n")
    assert main(["check", str(clean), "--slo", str(thin)]) == 3
    skipped = junit_cases(clean)["availability[blue]"].find("skipped")
    assert skipped is not None and "min_samples 100000" in (skipped.get("message") or "")
    assert json.loads((clean / "verdict.json").read_text())["checks"][-1]["passed"] is None


def test_a_bad_slo_file_is_a_usage_error(clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, metric: '*', statistic: p95, comparison: '<'}\n")
    assert main(["check", str(clean), "--slo", str(bad)]) == 2
    assert "threshold" in capsys.readouterr().err


def test_report_writes_plots_and_a_self_contained_html(clean: Path, tmp_path: Path) -> None:
    run = clean_run(tmp_path / "failing")
    for second in range(int(RAMP_S) + 1, 30):
        run.samples("green", "chat.history", second=second, latencies_ms=[40], outcome="error")
    path = run.finish()
    out = tmp_path / "elsewhere" / "report.html"
    assert main(["report", str(path), "--out", str(out)]) == 0
    plots = sorted(p.name for p in (path / "plots").glob("*.png"))
    assert plots == sorted(
        f"{name}.png"
        for name in (
            "latency_over_time",
            "latency_cdf",
            "throughput",
            "users_connections",
            "resources",
            "ttft_vs_complete",
        )
    )
    assert all((path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in plots)
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 6
    assert 'src="http' not in html and "<link" not in html and "<script" not in html
    assert "FAILED (exit 1): error_rate[green]" in html and "http://127.0.0.1:8001" in html
    assert main(["report", str(path)]) == 0 and (path / "report.html").exists()


@pytest.mark.e2e
def test_matplotlib_is_not_imported_by_the_cli() -> None:
    code = "import sys, loadtests.cli; print('matplotlib' in sys.modules, 'analysis.plots' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.split() == ["False", "False"]
