"""The evaluator on synthetic runs with planted data: each statistic, window and no-verdict rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_runs import RAMP_S, START, SyntheticRun, clean_run

from analysis.judge import judge_run
from analysis.load import load_run
from analysis.slo import evaluate
from analysis.stats import ok_histogram, outcome_counts, select
from loadtests.recorder.histogram import new_histogram
from loadtests.slo_spec import DEFAULT_SLOS, SloSpec, WindowSpec


def spec(**fields: object) -> SloSpec:
    base: dict[str, object] = {"name": "t", "metric": "*", "statistic": "p95", "comparison": "<", "threshold": 1e9}
    return SloSpec.model_validate({**base, **fields})


def only(run_path: Path, slo: SloSpec, target: str = "blue"):  # type: ignore[no-untyped-def]
    verdict = evaluate(load_run(run_path), [slo])
    return next(check for check in verdict.checks if check.target == target)


def test_a_clean_run_passes_every_default_slo_that_applies(tmp_path: Path) -> None:
    verdict = judge_run(clean_run(tmp_path / "run").finish()).verdict
    assert verdict.exit_code == 0 and verdict.passed
    names = {check.name for check in verdict.checks}
    assert names == {s.name for s in DEFAULT_SLOS} - {"connections_held", "upload_success"}
    assert any("connections_held does not apply" in note for note in verdict.notes)
    assert any("upload_success does not apply" in note for note in verdict.notes)


def test_percentile_is_exact_over_merged_intervals(tmp_path: Path) -> None:
    values = [float(v) for v in range(1, 1001)]  # 1 … 1000 ms, spread over 50 intervals
    run = SyntheticRun(tmp_path / "run").steady("blue", "chat.get", values)
    path = run.finish()
    reference = new_histogram()
    for value in values:
        reference.record_value(round(value * 1000))
    for statistic, percentile in (("p50", 50), ("p95", 95), ("p99.9", 99.9)):
        check = only(path, spec(statistic=statistic, min_samples=1000))
        assert check.observed == reference.get_value_at_percentile(percentile) / 1000
        assert abs(check.observed - percentile * 10) / (percentile * 10) < 0.001  # HDR: 3 significant digits
        assert check.samples == 1000
    assert only(path, spec(statistic="max", min_samples=1)).observed == pytest.approx(1000, rel=1e-3)
    assert only(path, spec(statistic="mean", min_samples=1)).observed == pytest.approx(500.5, rel=1e-3)


def test_failures_never_enter_latency_percentiles(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run").steady("blue", "chat.get", [10.0] * 40)
    run.steady("blue", "chat.get", [9000.0] * 40, outcome="error")
    check = only(run.finish(), spec(statistic="max", min_samples=1))
    assert check.observed == pytest.approx(10, rel=1e-3) and check.samples == 40


def test_error_rate_counts_soft_failures_rate_limits_and_timeouts_but_not_refusals(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    second = RAMP_S + 1
    run.samples("blue", "upload.file", second=second, latencies_ms=[5] * 90)
    run.samples("blue", "upload.file", second=second, latencies_ms=[5] * 4, outcome="soft_failure")
    run.samples("blue", "upload.file", second=second, latencies_ms=[5] * 3, outcome="rate_limited")
    run.samples("blue", "upload.file", second=second, outcome="timeout", count=3)  # no latency: no histogram
    run.samples("blue", "upload.file", second=second, latencies_ms=[5] * 50, outcome="refused")
    path = run.finish()
    errors = only(path, spec(statistic="error_rate", min_samples=100))
    assert errors.observed == 10.0 and errors.samples == 100  # 10 of the 100 judged; the 50 refused are neither
    successes = only(path, spec(statistic="success_rate", metric="upload.*", min_samples=100))
    assert successes.observed == 90.0
    counts = outcome_counts(select(load_run(path).samples, target="blue"))
    assert (counts.ok, counts.failures, counts.neither) == (90, 10, 50)


def test_too_few_samples_is_no_verdict_never_a_pass(tmp_path: Path) -> None:
    path = SyntheticRun(tmp_path / "run").steady("blue", "chat.get", [10.0] * 5).finish()
    check = only(path, spec(min_samples=20))
    assert check.passed is None and check.observed is None and check.samples == 5
    assert "5 ok samples < min_samples 20" in check.reason
    verdict = evaluate(load_run(path), [spec(min_samples=20, target="blue")])
    assert verdict.exit_code == 3 and not verdict.passed
    optional = evaluate(load_run(path), [spec(min_samples=20, target="blue", required=False)])
    assert optional.exit_code == 0  # an optional check without a verdict does not block


def test_a_failure_outranks_a_missing_verdict(tmp_path: Path) -> None:
    path = SyntheticRun(tmp_path / "run").steady("blue", "chat.get", [300.0] * 30).finish()
    verdict = evaluate(
        load_run(path),
        [spec(name="slow", threshold=200, target="blue"), spec(name="thin", min_samples=1000, target="blue")],
    )
    assert verdict.exit_code == 1
    assert [c.check_id for c in verdict.failed] == ["slow[blue]"]


def test_steady_window_cuts_the_ramp_up(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    for second in range(int(RAMP_S)):
        run.samples("blue", "chat.get", second=second, latencies_ms=[5000] * 5)  # a slow ramp-up
    run.steady("blue", "chat.get", [10.0] * 50)
    path = run.finish()
    assert only(path, spec(statistic="max", min_samples=1)).observed == pytest.approx(10, rel=1e-3)
    assert only(path, spec(statistic="max", min_samples=1, window="whole")).observed == pytest.approx(5000, rel=1e-3)
    custom = spec(statistic="max", min_samples=1, window=WindowSpec(since_s=2, until_s=5))
    check = only(path, custom)
    assert check.samples == 15 and check.window == {"name": "custom", "since": START + 2, "until": START + 5}
    late = spec(statistic="max", min_samples=1, window=WindowSpec(since_s=30, relative_to="steady"))
    assert only(path, late).samples == 21  # steady from RAMP_S = 10 s: seconds 40 … 60 of 11 … 60


def test_rate_is_samples_per_second_of_the_window(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    for second in range(20, 40):
        run.samples("blue", "chat.get", second=second, latencies_ms=[5] * 6)
        run.samples("blue", "chat.get", second=second, latencies_ms=[5] * 2, outcome="error")
    path = run.finish()
    assert only(path, spec(statistic="rate", comparison=">", threshold=1, min_samples=1)).observed == 8.0
    ok_rate = spec(statistic="rate", outcome="ok", comparison=">", threshold=1, min_samples=1)
    assert only(path, ok_rate).observed == 6.0


def test_selectors_narrow_by_kind_user_class_and_target(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    run.steady("blue", "chat.complete", [1500.0] * 30, kind="sio")
    run.steady("blue", "chat.history", [20.0] * 30, kind="http")
    run.steady("blue", "health", [900.0] * 30, kind="http", user_class="HealthProbe")
    run.steady("green", "chat.history", [20.0] * 30, kind="http")
    path = run.finish()
    assert only(path, spec(statistic="max", kind="http", user_class="ChatUser")).observed == pytest.approx(20, 1e-3)
    assert only(path, spec(statistic="max", kind="sio")).observed == pytest.approx(1500, 1e-3)
    verdict = evaluate(load_run(path), [spec(target="gr*", statistic="max")])
    assert [check.target for check in verdict.checks] == ["green"]


def test_memory_slope_per_minute_from_resources(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    for second in range(0, 120):
        run.resource("blue", second, rss_mb=100 + second * 0.5, cpu_pct=None if second == 0 else 30)  # +30 MB/min
        run.resource("blue", second, rss_mb=999, cpu_pct=99, role="generator")  # not the target
    path = run.finish()
    leak = spec(source="resources", metric="rss_mb", statistic="slope", threshold=10, min_samples=10)
    check = only(path, leak)
    assert check.observed == pytest.approx(30.0) and check.passed is False
    cpu = only(path, spec(source="resources", metric="cpu_pct", statistic="mean", threshold=50, min_samples=10))
    assert cpu.observed == 30.0 and cpu.passed is True  # the empty first CPU sample is skipped


def test_connections_held_reads_the_swarm_figure(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    run.samples("blue", "swarm.connect", second=1, latencies_ms=[3] * 10, kind="sio")
    run.samples("green", "swarm.connect", second=1, latencies_ms=[3] * 10, kind="sio")
    for second, held in ((5, 400), (20, 1500), (40, 1480)):
        run.figure("blue", "connections_held", held, second=second)
        run.figure("green", "connections_held", held * 0.6, second=second)  # green holds 900 at most
    verdict = judge_run(run.finish(), tuple(s for s in DEFAULT_SLOS if s.name == "connections_held")).verdict
    by_target = {check.target: check for check in verdict.checks}
    assert by_target["blue"].passed is True and by_target["blue"].observed == 1500
    assert by_target["green"].passed is False and by_target["green"].observed == 900
    assert verdict.exit_code == 1


def test_a_swarm_without_its_figure_is_no_verdict(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run", targets=("green",))
    run.samples("green", "swarm.connect", second=1, latencies_ms=[3] * 10, kind="sio")
    verdict = judge_run(run.finish(), tuple(s for s in DEFAULT_SLOS if s.name == "connections_held")).verdict
    (check,) = verdict.checks
    assert check.passed is None and "no connections_held figure" in check.reason and verdict.exit_code == 3


def test_upload_success_fails_on_planted_upload_failures(tmp_path: Path) -> None:
    run = clean_run(tmp_path / "run", targets=("green",))
    for second in range(int(RAMP_S) + 1, 50):
        run.samples("green", "upload.file", second=second, latencies_ms=[40])
    for second in range(int(RAMP_S) + 1, 14):
        run.samples("green", "upload.file", second=second, latencies_ms=[40], outcome="soft_failure")  # 201, failed
    verdict = judge_run(run.finish(), DEFAULT_SLOS).verdict
    failed = {check.name for check in verdict.failed}
    assert failed == {"upload_success", "error_rate"}  # every failure is also an error
    upload = next(check for check in verdict.checks if check.name == "upload_success")
    assert upload.observed == pytest.approx(100 * 39 / 42, rel=1e-4)


def test_an_invalid_run_decides_nothing(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run", status="invalid")
    run.steady("blue", "chat.get", [10.0] * 30)
    verdict = evaluate(load_run(run.finish()), [spec(target="blue")])
    assert verdict.checks[0].passed is True and verdict.exit_code == 3
    assert any("generator saturated" in note for note in verdict.notes)


def test_truncated_last_line_is_skipped_and_noted(tmp_path: Path) -> None:
    path = SyntheticRun(tmp_path / "run").steady("blue", "chat.get", [10.0] * 30).finish()
    with (path / "samples.jsonl").open("a") as handle:
        handle.write('{"t0": 1, "t1": 2, "targ')
    run = load_run(path)
    assert run.bad_sample_lines == 1 and int(run.samples["count"].sum()) == 30
    assert ok_histogram(run.samples, run.histograms).get_total_count() == 30
    assert any("unreadable line" in note for note in evaluate(run, [spec()]).notes)


def test_a_run_with_nothing_to_judge_is_no_verdict_but_no_slos_is_a_pass(tmp_path: Path) -> None:
    run = load_run(SyntheticRun(tmp_path / "run", targets=()).finish())  # a target that never started
    verdict = evaluate(run, DEFAULT_SLOS)
    assert verdict.checks == [] and verdict.exit_code == 3 and not verdict.passed
    assert any("nothing to judge" in note for note in verdict.notes)
    assert evaluate(run, []).exit_code == 0  # a profile that gates nothing


def test_too_few_samples_still_fail_when_the_failures_already_decide(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run")
    run.samples("blue", "auth.login", second=RAMP_S + 1, latencies_ms=[5] * 2, outcome="soft_failure")
    run.samples("green", "auth.login", second=RAMP_S + 1, latencies_ms=[5] * 3)
    path = run.finish()
    rule = {"statistic": "success_rate", "metric": "auth.*", "comparison": ">", "threshold": 99, "min_samples": 5}
    failed = only(path, spec(**rule), target="blue")
    assert failed.passed is False and failed.observed == 0.0 and failed.samples == 2  # 2 of 2 refused: certain
    assert "already break it" in failed.reason
    undecided = only(path, spec(**rule), target="green")
    assert undecided.passed is None  # 3 of 3 fine: more samples could still fail it, so no verdict
    errors = only(path, spec(statistic="error_rate", metric="auth.*", comparison="<", threshold=50, min_samples=10))
    assert errors.passed is None  # 2 failures of at least 10 could still be 20 % < 50 %: not decided


def test_rate_limited_logins_are_explained_in_the_notes(tmp_path: Path) -> None:
    run = SyntheticRun(tmp_path / "run").steady("green", "chat.get", [10.0] * 30)
    run.samples("green", "auth.login", outcome="rate_limited", count=7, second=RAMP_S + 1)
    notes = evaluate(load_run(run.finish()), [spec()]).notes
    assert any(note.startswith("green answered 7 login(s) with 429 (rate limited)") for note in notes), notes


def test_the_steady_state_ends_when_the_load_began_to_stop(tmp_path: Path) -> None:
    # After test_stopping comes the teardown (a swarm's closes: the server at 100 %), not the steady state.
    run = SyntheticRun(tmp_path / "run")
    for second in range(int(RAMP_S) + 1, 70):
        run.resource("blue", second, rss_mb=100, cpu_pct=20 if second < 60 else 100)
    run.directory.append_event("test_stopping", t=START + 60)
    path = run.finish(duration_s=70)
    cpu = only(path, spec(source="resources", metric="cpu_pct", statistic="mean", threshold=50, min_samples=10))
    assert cpu.observed == pytest.approx(20) and cpu.passed is True
    assert load_run(path).window("steady").until == START + 60
