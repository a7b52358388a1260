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
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    pinned = _harness.pin(os.getpid(), _harness.GENERATOR_CPU)
    folder = Path(tempfile.mkdtemp(prefix="loadbench-bench-"))
    results: dict[str, list[float]] = {"plain": [], "recorder": [], "loadbench": []}
    cpu: dict[str, list[float]] = {"plain": [], "recorder": [], "loadbench": []}
    with _harness.trivial_server() as (url, _pid):
        PlainUser.host = url
        recorded = type("RecordedUser", (PlainUser,), {"host": url})
        ours = type("OursUser", (LoadbenchUser,), {"abstract": False, "host": url})
        phases = [("plain", PlainUser, None), ("recorder", recorded, with_recorder(folder)),
                  ("loadbench", ours, with_recorder(folder))]  # fmt: skip
        for round_ in range(args.rounds):
            # Alternate the order (ABC, CBA, …): a machine whose speed drifts favours no variant.
            for label, cls, setup in phases if round_ % 2 == 0 else reversed(phases):
                phase = _harness.run_phase(label, cls, users=args.users, seconds=args.seconds, setup=setup)
                results[label].append(phase.rps)
                cpu[label].append(phase.generator_cpu_pct)
                share = f"generator CPU {phase.generator_cpu_pct:3.0f} %"
                print(f"round {round_ + 1:2} {label:<10} {phase.rps:7.0f} req/s  {share}")
    # Each round's ratio compares phases seconds apart; the median of those resists the noise of a
    # shared machine better than a ratio of overall medians.
    ratios = [r / p for r, p in zip(results["recorder"], results["plain"], strict=True)]
    # Generator CPU per request is what caps a saturated generator's throughput, and another
    # process stealing the core changes it far less than it changes requests per second.
    cost = {  # µs of generator CPU per request
        label: [share / 100 / rps * 1e6 for share, rps in zip(cpu[label], results[label], strict=True)]
        for label in results
    }
    full = [r / p for r, p in zip(results["loadbench"], results["plain"], strict=True)]
    median = _harness.median
    print(f"\ngenerator pinned to CPU {_harness.GENERATOR_CPU}, server to CPU {_harness.SERVER_CPU}: {pinned}")
    plain_rps, recorder_rps, ours_rps = (median(results[label]) for label in ("plain", "recorder", "loadbench"))
    print(
        f"median req/s: plain FastHttpUser {plain_rps:.0f} (generator CPU {median(cpu['plain']):.0f} %), "
        f"+ recorder {recorder_rps:.0f}, loadbench client + recorder {ours_rps:.0f}"
    )
    ratio = median(ratios)
    verdict = "met" if ratio >= 0.95 else "MISSED"
    print(
        f"recorder on / plain, median of {len(ratios)} paired rounds = {ratio:.3f} "
        f"(rounds {min(ratios):.3f}..{max(ratios):.3f}); target >= 0.95: {verdict}"
    )
    print(f"loadbench client path / plain = {median(full):.3f} (information: dialect judging + timing + recorder)")
    plain_cost, recorder_cost, ours_cost = (median(cost[label]) for label in ("plain", "recorder", "loadbench"))
    capacity = plain_cost / recorder_cost
    print(
        f"generator CPU per request: plain {plain_cost:.1f} µs, + recorder {recorder_cost:.1f} µs, "
        f"loadbench client {ours_cost:.1f} µs; capacity ratio recorder/plain = {capacity:.3f} "
        f"(target >= 0.95: {'met' if capacity >= 0.95 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
