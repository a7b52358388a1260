from __future__ import annotations

import pytest

from loadtests.errors import ConfigError
from loadtests.profiles import load_profile, parse_profile
from loadtests.shapes import CanaryShape, RampShape, SpikeShape, StepShape

RUN = {"users": 100, "spawn_rate": 10.0, "duration_s": 300.0}


def test_ramp_up_hold_down() -> None:
    shape = RampShape(kind="ramp", up_s=100, down_s=50)
    assert shape.at(0, **RUN).users == 1
    assert shape.at(50, **RUN).users == 50
    assert shape.at(150, **RUN).users == 100
    assert shape.at(275, **RUN).users == 50
    assert shape.at(300, **RUN).users == 0


def test_steps() -> None:
    shape = StepShape(kind="step", step_users=10, every_s=30)
    assert [shape.at(t, **RUN).users for t in (0, 29, 30, 95, 1000)] == [10, 10, 20, 40, 100]


def test_spike() -> None:
    shape = SpikeShape(kind="spike", base_users=10, at_s=60, hold_s=30)
    assert [shape.at(t, **RUN).users for t in (0, 59.9, 60, 89.9, 90)] == [10, 10, 100, 100, 10]


def test_canary_stages_and_shares() -> None:
    shape = load_profile("canary").shape
    assert isinstance(shape, CanaryShape)
    assert [shape.at(t, **RUN).index for t in (0, 59, 60, 150, 10_000)] == [0, 0, 1, 2, 2]
    assert [shape.at(t, **RUN).users for t in (59, 60, 60.9, 61, 120.5, 121)] == [100, 0, 0, 100, 0, 100]
    assert (shape.share(0, "blue"), shape.share(0, "green")) == (90, 10)
    assert (shape.share(2, "blue"), shape.share(2, "green")) == (0, 100)


def test_a_canary_split_must_add_up() -> None:
    with pytest.raises(ConfigError, match="blue \\+ green must be 100"):
        parse_profile(
            {"name": "c", "duration_s": 10, "users": 2, "spawn_rate": 1,
             "shape": {"kind": "canary", "stages": [{"duration_s": 5, "blue": 90, "green": 20}]}},
            source="c",
        )  # fmt: skip


def test_unknown_shape_kind() -> None:
    with pytest.raises(ConfigError, match="shape"):
        parse_profile(
            {"name": "c", "duration_s": 10, "users": 2, "spawn_rate": 1, "shape": {"kind": "wave"}}, source="c"
        )


def test_canary_classes_carry_each_stage_split() -> None:
    from loadtests.config import RunConfig, TargetConfig
    from loadtests.workload import _workload

    profile = load_profile("canary")
    targets = (
        TargetConfig(color="blue", url="http://127.0.0.1:1"),
        TargetConfig(color="green", url="http://127.0.0.1:2"),
    )
    _, stages = _workload(RunConfig(profile=profile, targets=targets), {"LOADBENCH_USER_PASSWORD": "x"})
    assert stages is not None and len(stages) == 3
    chat = {cls.__name__: cls.weight for cls in stages[0] if cls.__name__.startswith("ChatUser")}
    assert chat == {"ChatUser_blue_s1": 6 * 90, "ChatUser_green_s1": 6 * 10}
    last = {cls.__name__ for cls in stages[2]}
    assert not any(name.startswith("ChatUser_blue") for name in last)  # 0/100: no blue users
    assert {"HealthProbe_blue", "HealthProbe_green"} <= last  # probes stay on both colors throughout


@pytest.mark.e2e
def test_target_canary_moves_users_from_blue_to_green(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from loadtests.cli import main

    profile = tmp_path / "c.yaml"
    profile.write_text(
        "version: 1\nname: canary-test\nduration_s: 9\nusers: 10\nspawn_rate: 20\nhealth_probe_s: 1\n"
        "chat: {think_time_s: [0.2, 0.5]}\n"
        # two stages, not the default three (test_run_parts: --target canary plans those)
        "shape: {kind: canary, stages: [{duration_s: 4.5, blue: 90, green: 10},\n"
        "                               {duration_s: 4.5, blue: 0, green: 100}]}\n"
    )
    out = tmp_path / "run"
    assert main(["run", "--profile", str(profile), "--target", "canary", "--out", str(out), "--no-report"]) in (0, 1, 3)
    readings = [json.loads(line) for line in (out / "figures.jsonl").read_text().splitlines()]
    users = [(r["t"], r["target"], r["value"]) for r in readings if r["name"] == "users"]
    start = min(t for t, _, _ in users)
    early = {color: value for t, color, value in users if start + 1.5 <= t <= start + 4}
    late = {color: value for t, color, value in users if start + 6.5 <= t <= start + 8.5}
    assert early["blue"] > early["green"]  # 90/10 (each color also runs its health probe)
    assert late["blue"] <= 1 and late["green"] >= 9  # 0/100: only blue's probe is left
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target_mode"] == "canary" and manifest["profile"]["shape"]["kind"] == "canary"
