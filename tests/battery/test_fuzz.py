"""Property-based tests: random input to the profile parser, the SLO evaluator and the run
directory loader gives a result or a clear error (``LoadbenchError``), never an uncaught exception."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtests.errors import LoadbenchError
from loadtests.profiles import parse_profile
from loadtests.recorder.format import iso
from loadtests.recorder.histogram import new_histogram
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import Manifest, RunDirectory, utc_now

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    "version", "name", "duration_s", "users", "spawn_rate", "interval_s", "mix", "health_probe_s", "chat",
    "uploader", "agents", "admin", "auth", "timeouts", "shape", "dialects", "reference_backend", "slos", "swarm",
]  # fmt: skip
BASE: dict[str, Any] = {"name": "fuzz", "duration_s": 5, "users": 2, "spawn_rate": 1}


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_profile_parser_never_crashes(changes: dict[str, Any]) -> None:
    with contextlib.suppress(LoadbenchError):
        parse_profile({**BASE, **changes}, source="fuzz")


@FUZZ
@given(values)
def test_profile_parser_on_any_document(document: Any) -> None:
    with contextlib.suppress(LoadbenchError):
        parse_profile(document, source="fuzz")


STATISTICS = ["p50", "p95", "p99.9", "max", "mean", "error_rate", "success_rate", "slope", "rate", "p101"]
slo_specs = st.lists(
    st.fixed_dictionaries(
        {"name": st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
         "metric": st.sampled_from(["*", "chat.*", "health", "rss_mb", "cpu_pct", "x.y", "[", ""]),
         "statistic": st.sampled_from(STATISTICS),
         "comparison": st.sampled_from(["<", "<=", ">", ">=", "=="]),
         "threshold": st.one_of(st.floats(allow_nan=True), st.integers(-5, 10**6)),
         "source": st.sampled_from(["samples", "resources", "run"]),
         "window": st.sampled_from(["steady", "whole", "ramp"]),
         "min_samples": st.integers(-2, 50)},
        optional={"kind": st.sampled_from(["http", "ws", "sio", "any", "udp"])},
    ),
    max_size=4,
)  # fmt: skip
rows = st.lists(
    st.tuples(st.sampled_from(["blue", "green"]), st.sampled_from(["chat.complete", "health", "auth.login"]),
              st.sampled_from(["ok", "error", "timeout", "refused", "rate_limited", "soft_failure"]),
              st.lists(st.integers(1, 10**7), min_size=0, max_size=20), st.integers(0, 40)),
    max_size=12,
)  # fmt: skip


def synthetic_run(folder: Path, sample_rows: list, slos: list) -> Path:  # type: ignore[type-arg]
    run = RunDirectory(folder)
    profile = {**BASE, "slos": slos}
    run.write_manifest(
        Manifest(run_id="fuzz", profile_name="fuzz", profile=profile, target_mode="both", started_at=iso(utc_now()))
    )
    written = []
    for t, (target, name, outcome, latencies, extra) in enumerate(sample_rows):
        histogram = new_histogram()
        for value in latencies:
            histogram.record_value(value)
        encoded = histogram.encode().decode() if latencies else None
        written.append(SampleRow(1000.0 + t, 1001.0 + t, target, "http", name, "ChatUser", outcome,
                                 len(latencies) + extra, len(latencies), 0, 0, encoded))  # fmt: skip
    run.samples_writer().write(written)
    return folder


@FUZZ
@given(rows, slo_specs)
def test_slo_evaluation_never_crashes(sample_rows: list, slos: list) -> None:  # type: ignore[type-arg]
    from analysis.judge import judge_run

    with tempfile.TemporaryDirectory() as folder:
        path = synthetic_run(Path(folder), sample_rows, slos)
        try:
            verdict = judge_run(path).verdict
        except LoadbenchError:
            return
        assert verdict.exit_code in (0, 1, 3)
        assert all(check.passed in (True, False, None) for check in verdict.checks)


garbage = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode))
MANIFEST_KEYS = [
    "format_version",
    "run_id",
    "status",
    "profile_name",
    "target_mode",
    "started_at",
    "targets",
    "profile",
]
manifests = st.dictionaries(st.sampled_from(MANIFEST_KEYS), values, max_size=8).map(lambda d: json.dumps(d).encode())


@FUZZ
@given(
    manifest=st.one_of(garbage, manifests),
    samples=garbage,
    resources=garbage,
    events=garbage,
)  # fmt: skip
def test_run_directory_loader_never_crashes(manifest: bytes, samples: bytes, resources: bytes, events: bytes) -> None:
    from analysis.load import load_run

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        for name, content in (("manifest.json", manifest), ("samples.jsonl", samples),
                              ("resources.csv", resources), ("events.jsonl", events)):  # fmt: skip
            (path / name).write_bytes(content)
        with contextlib.suppress(LoadbenchError):
            load_run(path)
