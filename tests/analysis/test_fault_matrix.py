"""Planted faults against the embedded reference backend: each default SLO fails when (and only
when) its fault is planted. Short real runs (8 s, 4 users on both colors, a different fault on
each); thresholds and min_samples are overridden where a short run could not otherwise decide.

Two default SLOs wait for workloads that are being built elsewhere and are tested on synthetic
run directories in test_slo.py: upload_success (needs the UploaderUser) and connections_held
(needs the swarm's ``connections_held`` figure).

error_rate counts every failure, so a fault planted for another rate (auth, connections, health)
also fails it at the migration's 0.1 %: those cases relax error_rate to 20 % so that the matrix
isolates the check under test (``relaxed_error_rate``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from shared_runs import CleanRun, fault_profile

from loadtests.cli import main

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Fault:
    check: str
    target: str
    faults: str  # the target's FaultSettings, YAML flow style
    relaxed_error_rate: bool = False


FAULTS = (
    Fault("http_p95", "blue", "{latency: 300, paths: [/api]}"),
    Fault("server_memory", "green", "{memory_growth_kb_per_request: 2048}"),
    Fault("server_cpu", "blue", "{cpu_burn_ms_per_request: 100}"),
    Fault("error_rate", "green", "{error_rate: 0.2, paths: [/api/chats], seed: 1}"),
    # seed 0: the first auth requests go refuse, accept, accept, refuse. The first login always fails
    # and its user logs in on the retry: the fault shows even when no user calls /me in the run
    # (with seed 1, accept, accept, ..., two logins and nothing else passed the check).
    Fault("auth_success", "blue", "{soft_failure_rate: 0.5, paths: [/api/auth], seed: 0}", relaxed_error_rate=True),
    Fault("connection_success", "blue", "{connect_failure_rate: 0.85, seed: 7}", relaxed_error_rate=True),
    Fault("chat_complete", "green", "{stream_latency: 2000}"),
    Fault("availability", "green", "{error_rate: 0.5, paths: [/health], seed: 3}", relaxed_error_rate=True),
)


def checks_of(out: Path) -> dict[str, bool | None]:
    verdict = json.loads((out / "verdict.json").read_text())
    return {check["id"]: check["passed"] for check in verdict["checks"]}


def test_a_clean_run_passes_every_check_and_writes_every_output(clean_paired_run: CleanRun) -> None:
    out = clean_paired_run.out
    checks = checks_of(out)
    assert clean_paired_run.code == 0, checks
    assert all(passed is True for passed in checks.values()), checks
    assert {check.split("[")[0] for check in checks} == {
        "http_p95",
        "server_memory",
        "server_cpu",
        "error_rate",
        "connection_success",
        "chat_complete",
        "auth_success",
        "availability",
    }  # fmt: skip  (no swarm, no uploads in this workload)
    for name in ("verdict.json", "junit.xml", "summary.md", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "plots").glob("*.png"))) == 6


def test_too_few_samples_exits_3(clean_paired_run: CleanRun, tmp_path: Path) -> None:
    out = shutil.copytree(clean_paired_run.out, tmp_path / "run")  # check rewrites the verdict
    demanding = tmp_path / "demanding.yaml"
    demanding.write_text("override: {chat_complete: {min_samples: 100000}}\n")
    assert main(["check", str(out), "--slo", str(demanding)]) == 3
    checks = checks_of(out)
    assert checks["chat_complete[blue]"] is None and checks["chat_complete[green]"] is None
    assert all(passed is True for check, passed in checks.items() if not check.startswith("chat_complete"))


# Two faults per run, one on each color (each color has its own backend process, so a fault planted
# on one cannot move the other's figures): half the runs, the same matrix.
PAIRS = tuple(
    (blue, green)
    for blue, green in zip(
        [fault for fault in FAULTS if fault.target == "blue"],
        [fault for fault in FAULTS if fault.target == "green"],
        strict=True,
    )
)


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{blue.check}+{green.check}" for blue, green in PAIRS])
def test_a_planted_fault_fails_its_check_and_only_it(
    pair: tuple[Fault, Fault], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "fault.yaml"
    faults = "\n".join(f"  {fault.target}: {{faults: {fault.faults}}}" for fault in pair)
    relaxed = any(fault.relaxed_error_rate for fault in pair)
    name = "-".join(fault.check for fault in pair).replace("_", "-")
    profile.write_text(fault_profile(name, faults, relaxed_error_rate=relaxed))
    out = tmp_path / "run"
    # No preflight: the faults' seeds count the run's own requests (the first login fails, ...), and
    # the preflight's would take those draws first. The preflight has its own tests.
    code = main(
        ["run", "--profile", str(profile), "--target", "both", "--out", str(out), "--no-report", "--no-preflight"]
    )
    printed = capsys.readouterr().out
    checks = checks_of(out)
    failing = {f"{fault.check}[{fault.target}]" for fault in pair}
    assert code == 1, checks
    assert "FAILED (exit 1)" in printed and all(check in printed for check in failing)
    assert {check for check, passed in checks.items() if passed is False} == failing, checks
    assert all(passed is True for check, passed in checks.items() if check not in failing), json.dumps(checks)
