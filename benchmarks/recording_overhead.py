"""Recording overhead: requests per second of plain Locust FastHttpUser vs the same with the exact
recorder listening, and vs loadbench's own client path (dialect + timing + recorder), against the
same trivial endpoint, phases interleaved in one run.

Budget (DESIGN.md): recorder on >= 0.95 x plain FastHttpUser.

    python benchmarks/recording_overhead.py [--seconds 8] [--rounds 3] [--users 50]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import _harness
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment

from loadtests.client import PlatformClient
from loadtests.dialects import dialect_for
from loadtests.dialects.base import Credentials
from loadtests.recorder.plugin import RecorderPlugin
from loadtests.recorder.rundir import RunDirectory
from loadtests.timing import Timer


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self) -> None:
        self.client.get("/", name="trivial")


class LoadbenchUser(PlainUser):
    """The production path: PlatformClient judges the body and fires through Timer."""

    abstract = True

    def on_start(self) -> None:
        timer = Timer(self.environment.events.request, target="blue", user_class="bench")
        self.api = PlatformClient(
            dialect=dialect_for("blue"), base_url=self.host, timer=timer, credentials=Credentials("u", "p")
        )

    @task
    def hit(self) -> None:
        self.api.health()  # blue's health is `GET /` answering {"message": ...}


def with_recorder(folder: Path):
    def setup(env: Environment) -> None:
        run_dir = RunDirectory.create(
            out=Path(tempfile.mkdtemp(dir=folder)), results_root=folder, profile="b", target="b"
        )
        env.loadbench_recorder = RecorderPlugin(env, run_dir=run_dir.path, interval_s=1.0)  # type: ignore[attr-defined]

    return setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    pinned = _harness.pin(os.getpid(), _harness.GENERATOR_CPU)
    folder = Path(tempfile.mkdtemp(prefix="loadbench-bench-"))
    results: dict[str, list[float]] = {"plain": [], "recorder": [], "loadbench": []}
    with _harness.trivial_server() as (url, _pid):
        PlainUser.host = url
        recorded = type("RecordedUser", (PlainUser,), {"host": url})
        ours = type("OursUser", (LoadbenchUser,), {"abstract": False, "host": url})
        for round_ in range(args.rounds):
            for label, cls, setup in (
                ("plain", PlainUser, None),
                ("recorder", recorded, with_recorder(folder)),
                ("loadbench", ours, with_recorder(folder)),
            ):
                phase = _harness.run_phase(label, cls, users=args.users, seconds=args.seconds, setup=setup)
                results[label].append(phase.rps)
                print(
                    f"round {round_ + 1} {label:<10} {phase.rps:9.0f} req/s ({phase.requests} in {phase.seconds:.1f} s)"
                )
    plain = _harness.median(results["plain"])
    print(f"\ngenerator pinned to CPU {_harness.GENERATOR_CPU}, server to CPU {_harness.SERVER_CPU}: {pinned}")
    print(
        f"median req/s   plain FastHttpUser {plain:.0f}   + recorder {_harness.median(results['recorder']):.0f}   "
        f"loadbench client + recorder {_harness.median(results['loadbench']):.0f}"
    )
    ratio = _harness.median(results["recorder"]) / plain
    full = _harness.median(results["loadbench"]) / plain
    print(
        f"ratio recorder on / plain          = {ratio:.3f}   (target >= 0.95: {'met' if ratio >= 0.95 else 'MISSED'})"
    )
    print(f"ratio loadbench client path / plain = {full:.3f}   (information: dialect judging + timing + recorder)")


if __name__ == "__main__":
    main()
