"""The run's parts on their own, without servers: planning with an injected environment, the
storm's restarter interface, the run directory as the one owner of the swarm's files, the CI
step summary, and the one ``Timeouts`` type."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from contract.accounts import ENV_USER_PASSWORD
from loadtests.errors import ConfigError
from loadtests.planning import RunRequest, plan_run
from loadtests.profiles import load_profile, parse_profile
from loadtests.recorder.rows import ConnectionsRow
from loadtests.recorder.rundir import CONNECTIONS, RunDirectory
from loadtests.shapes import CanaryShape
from loadtests.step_summary import ENV_STEP_SUMMARY, publish
from loadtests.swarm.storm import RunningTarget, StormDriver, run_storm
from loadtests.timeouts import DEFAULT_TIMEOUTS, Timeouts

CLOSED_PORT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, a connect is refused at once


def test_planning_reads_secrets_from_the_environment_it_is_given() -> None:
    request = RunRequest(profile=load_profile("smoke"), target_mode="green", urls={"green": "http://127.0.0.1:5000"})
    with pytest.raises(ConfigError):
        plan_run(request, {})  # an external target brings its own password: none in this environment
    plan = plan_run(request, {ENV_USER_PASSWORD: "from-the-injected-environment"})
    assert plan.colors == ["green"] and plan.embedded == []


def test_planning_gives_target_canary_a_canary_shape() -> None:
    plan = plan_run(RunRequest(profile=load_profile("smoke"), target_mode="canary"), {})
    assert isinstance(plan.profile.shape, CanaryShape) and plan.embedded == ["blue", "green"]


class FakeRestarter:
    """A ``TargetRestarter`` that only records what it was asked."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[tuple[str, float]] = []
        self.fail = fail

    def restart(self, color: str, *, down_s: float = 0.0, stop: threading.Event | None = None) -> RunningTarget:
        self.calls.append((color, down_s))
        if self.fail:
            raise RuntimeError("did not come back")
        return RunningTarget(color=color, url=CLOSED_PORT_URL, pid=2)


def test_a_storm_restarts_through_the_restarter_it_is_handed() -> None:
    restarter = FakeRestarter()
    new, result = run_storm(RunningTarget("green", CLOSED_PORT_URL, 1), restarter, recovery_timeout_s=1, down_s=0.5)
    assert restarter.calls == [("green", 0.5)]
    assert new is not None and (result.pid_before, result.pid_after) == (1, 2)
    assert result.recovered is None  # nothing to recover to: no connection count before the storm
    failed, result = run_storm(
        RunningTarget("blue", CLOSED_PORT_URL, 1), FakeRestarter(fail=True), recovery_timeout_s=1
    )
    assert failed is None and result.pid_after is None


def test_the_storm_driver_reads_and_writes_events_through_the_run_directory(tmp_path: Path) -> None:
    directory = RunDirectory(tmp_path)
    directory.append_event("spawning_complete", t=1000.0, user_count=3)
    restarter = FakeRestarter()
    restarted: list[tuple[int, int]] = []
    driver = StormDriver(
        run_dir=tmp_path,
        after_ramp_s=(0.0,),
        targets=[RunningTarget("blue", CLOSED_PORT_URL, 1)],
        restarter=restarter,
        recovery_timeout_s=1,
        give_up_after_s=5,
        on_restart=lambda old, new: restarted.append((old.pid, new.pid)),
    )
    driver.start()
    deadline = time.monotonic() + 10
    while not driver.results and time.monotonic() < deadline:  # the storm is due at once (spawned long ago)
        time.sleep(0.05)
    driver.stop(timeout_s=10)
    assert restarter.calls == [("blue", 0.0)] and restarted == [(1, 2)]
    assert directory.spawning_completed_at() == 1000.0
    (storm,) = directory.read_storms()
    assert storm["target"] == "blue" and storm["pid_after"] == 2


def test_connections_go_through_the_run_directory(tmp_path: Path) -> None:
    directory = RunDirectory(tmp_path)
    row = ConnectionsRow(1.0, 2.0, "green", "SwarmUser", "local", 5, 6, 4, 2, 1, 0, 0, 0, {"refused": 1})
    writer = directory.connections_writer()
    writer.write([row])
    writer.close()
    with directory.file(CONNECTIONS).open("a") as handle:
        handle.write('{"t0": 2.0, "t1"\n')  # a killed process's truncated last line
    assert list(directory.read_connections()) == [row]
    assert CONNECTIONS in directory.problems


def test_the_step_summary_appends_or_says_why_not(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    publish("# one", warn=pytest.fail, environ={ENV_STEP_SUMMARY: str(summary)})
    publish("# two", warn=pytest.fail, environ={ENV_STEP_SUMMARY: str(summary)})
    assert summary.read_text() == "# one\n# two\n"
    publish("# none", warn=pytest.fail, environ={})
    problems: list[str] = []
    publish("# three", warn=problems.append, environ={ENV_STEP_SUMMARY: str(tmp_path)})  # a directory
    assert len(problems) == 1 and problems[0].startswith("loadbench: cannot append to GITHUB_STEP_SUMMARY")


def test_the_profiles_timeouts_are_the_clients_timeouts() -> None:
    assert load_profile("smoke").timeouts == DEFAULT_TIMEOUTS
    profile = parse_profile(
        {"name": "t", "duration_s": 5, "users": 1, "spawn_rate": 1, "timeouts": {"http_s": 2}}, source="test"
    )
    assert isinstance(profile.timeouts, Timeouts) and profile.timeouts.http_s == 2
    with pytest.raises(ConfigError, match=r"timeouts\.connect_s"):
        parse_profile(
            {"name": "t", "duration_s": 5, "users": 1, "spawn_rate": 1, "timeouts": {"connect_s": 0}}, source="test"
        )
