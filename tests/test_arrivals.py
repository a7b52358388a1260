"""Open-model load, the pure parts: the schedule, the profile section, the schedule's counters and
the pacing check."""

from __future__ import annotations

import math

import pytest
from hdrh.histogram import HdrHistogram

from loadtests.arrivals import ArrivalSettings, RateStage, ScenarioRate, arrival_times
from loadtests.errors import ConfigError
from loadtests.profiles import parse_profile
from loadtests.recorder.lateness import lateness_p99_ms, pacing_problems
from loadtests.recorder.schedule import ScheduleGauge


def test_a_constant_rate_is_evenly_spaced_and_shared_without_overlap() -> None:
    rate = ScenarioRate(rate_per_s=4)
    assert list(arrival_times(rate, duration_s=1)) == [0.0, 0.25, 0.5, 0.75]
    halves = [list(arrival_times(rate, duration_s=1, share=0.5, phase=p)) for p in (0.0, 0.5)]
    assert sorted(halves[0] + halves[1]) == [0.0, 0.25, 0.5, 0.75]  # two processes: the same schedule


def test_a_ramp_follows_the_cumulative_count() -> None:
    # 0 -> 10/s over 10 s (50 arrivals), then 10/s held: 100 more in the next 10 s
    ramp = ScenarioRate(stages=(RateStage(duration_s=10, rate_per_s=10),))
    times = list(arrival_times(ramp, duration_s=20))
    assert len(times) == 150 and times == sorted(times)
    assert times[2] == pytest.approx(2.0)  # the count 5 t^2 / 10 reaches 2 at t = 2
    assert times[50] == pytest.approx(10.0) and times[51] == pytest.approx(10.1)
    down = ScenarioRate(start_rate_per_s=10, stages=(RateStage(duration_s=10, rate_per_s=0),))
    times = list(arrival_times(down, duration_s=30))
    assert len(times) == 50 and times[-1] == pytest.approx(10 - math.sqrt(2))  # nothing after the rate reached 0


def test_the_arrivals_section_is_validated() -> None:
    base = {"name": "open", "duration_s": 10, "users": 0, "spawn_rate": 1, "mix": {}}
    profile = parse_profile(
        {**base, "arrivals": {"scenarios": {"chat_turn": {"rate_per_s": 2, "green": {"rate_per_s": 3}}}}}, source="t"
    )
    assert profile.arrivals is not None and profile.ramp_s == 0
    turn = profile.arrivals.scenarios["chat_turn"]
    assert turn.for_color("green").rate_per_s == 3 and turn.for_color("blue").rate_per_s == 2
    refused = {
        "both kinds": {"scenarios": {"me": {"rate_per_s": 1, "stages": [{"duration_s": 1, "rate_per_s": 2}]}}},
        "neither": {"scenarios": {"me": {}}},
        "unknown scenario": {"scenarios": {"dance": {"rate_per_s": 1}}},
        "no scenario": {"scenarios": {}},
        "a rate past the bound": {"scenarios": {"me": {"rate_per_s": 1e6}}},
    }
    for case, arrivals in refused.items():
        with pytest.raises(ConfigError):
            parse_profile({**base, "arrivals": arrivals}, source=case)
    with pytest.raises(ConfigError, match="or an arrivals section"):
        parse_profile(base, source="no load at all")
    with pytest.raises(ConfigError, match="users: 0 closed-model users with a mix"):
        parse_profile(
            {**base, "mix": {"ChatUser": 1}, "arrivals": {"scenarios": {"me": {"rate_per_s": 1}}}}, source="t"
        )


def test_the_gauge_counts_due_started_and_missed_with_their_lateness() -> None:
    gauge = ScheduleGauge()
    gauge.due("green", "me", pacing_ns=2_000_000)
    gauge.started("green", "me", waited_ns=500_000)
    gauge.due("green", "me", pacing_ns=3_000_000)
    gauge.missed("green", "me")
    (row,) = gauge.rotate(10.0, 11.0)
    assert (row.due, row.started, row.missed) == (2, 1, 1)
    assert row.pacing is not None and HdrHistogram.decode(row.pacing).get_max_value() == pytest.approx(3000, rel=0.01)
    assert gauge.rotate(11.0, 12.0) == []  # the counters start again


def test_a_late_generator_is_named() -> None:
    gauge = ScheduleGauge()
    for _ in range(99):
        gauge.due("blue", "me", pacing_ns=1_000_000)
        gauge.due("green", "me", pacing_ns=1_000_000)
    for _ in range(5):
        gauge.due("green", "me", pacing_ns=120_000_000)  # 5 % of green's arrivals 120 ms late
    rows = gauge.rotate(0.0, 1.0)
    p99 = lateness_p99_ms(rows)
    assert p99["blue"][0] == pytest.approx(1.0, rel=0.01) and p99["green"][0] == pytest.approx(120, rel=0.01)
    (problem,) = pacing_problems(rows, bound_ms=50)
    assert problem.startswith("load generator late for its own open-model schedule on green: pacing error p99 120 ms")
    assert ArrivalSettings(scenarios={"me": {"rate_per_s": 1}}).pacing_error_ms == 50
