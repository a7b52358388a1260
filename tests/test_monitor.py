"""The resource monitor against real processes: psutil, `ps`, and the target's own /metrics agree."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from loadtests.monitor.sampler import ProcessTreeSampler, PrometheusSampler, listening_pid
from loadtests.monitor.saturation import saturated_generators
from reference_backend.process import BackendProcess


def ps_rss_mb(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1024


def test_process_tree_rss_matches_ps(green: BackendProcess) -> None:
    sample = ProcessTreeSampler(green.pid, role="target", color="green").sample()
    assert sample is not None and sample.pids == (green.pid,)
    assert sample.cpu_pct is None  # no interval yet: nothing is made up
    expected = ps_rss_mb(green.pid)
    assert abs(sample.rss_mb - expected) / expected < 0.05, (sample.rss_mb, expected)


def test_prometheus_rss_matches_psutil(blue: BackendProcess) -> None:
    scraped = PrometheusSampler(f"{blue.url}/metrics", role="target", color="blue").sample()
    local = ProcessTreeSampler(blue.pid, role="target", color="blue").sample()
    assert scraped is not None and local is not None
    assert abs(scraped.rss_mb - local.rss_mb) / local.rss_mb < 0.05, (scraped.rss_mb, local.rss_mb)


def test_prometheus_cpu_is_a_rate_between_scrapes(blue: BackendProcess) -> None:
    sampler = PrometheusSampler(f"{blue.url}/metrics", role="target", color="blue")
    first = sampler.sample()
    second = sampler.sample()
    assert first is not None and first.cpu_pct is None
    assert second is not None and second.cpu_pct is not None and second.cpu_pct >= 0


def test_listening_port_finds_the_backend(green: BackendProcess) -> None:
    assert listening_pid(green.port) == green.pid


@pytest.mark.e2e
def test_cpu_of_a_busy_child_is_counted() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys; subprocess.run([sys.executable,'-c','while True: pass'])"]
    )
    try:
        deadline = time.monotonic() + 10
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.01)
        sampler = ProcessTreeSampler(parent.pid, role="generator", color="")
        sampler.sample()
        child = psutil.Process(parent.pid).children()[0]
        start = child.cpu_times().user
        while child.cpu_times().user - start < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        sample = sampler.sample()
    finally:
        for proc in psutil.Process(parent.pid).children(recursive=True):
            proc.kill()
        parent.kill()
        parent.wait()
    assert sample is not None and len(sample.pids) == 2
    assert sample.cpu_pct is not None and 60 <= sample.cpu_pct <= 130, sample.cpu_pct


def rows(cpu: list[float], color: str = "worker-1") -> list[dict[str, str]]:
    return [{"time": str(1000 + i), "role": "generator", "color": color, "cpu_pct": str(c)} for i, c in enumerate(cpu)]


@pytest.mark.parametrize(
    ("cpu", "saturated"),
    [
        ([95.0] * 12, True),
        ([95.0] * 8 + [40.0] + [95.0] * 8, False),  # never 10 s in a row
        ([50.0] * 30, False),
        ([99.0] * 5 + [20.0] * 5 + [92.0] * 10, True),
    ],
)
def test_saturation_needs_a_sustained_stretch(cpu: list[float], saturated: bool) -> None:
    findings = saturated_generators(rows(cpu))
    assert bool(findings) is saturated
    if saturated:
        assert "worker-1" in findings[0] and "--workers" in findings[0]


def test_targets_never_count_as_saturated_generators() -> None:
    target_rows = [{**row, "role": "target"} for row in rows([100.0] * 30)]
    assert saturated_generators(target_rows) == []
