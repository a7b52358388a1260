"""Soak memory: does the generator's memory stay flat? The production path (PlatformClient → Timer
→ recorder → samples.jsonl) drives a trivial endpoint for 10 x T seconds; the generator's RSS
after T (warm) is compared with its RSS after 10 x T.

Target (issue 3): RSS growth over the 10x longer run < 5 %.

    python benchmarks/soak_memory.py [--warm-seconds 20] [--users 40] [--pace 0.02]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import _harness
import gevent
import psutil
from locust import User, constant_pacing, task
from locust.env import Environment

from loadtests.client import PlatformClient
from loadtests.dialects import dialect_for
from loadtests.dialects.base import Credentials
from loadtests.recorder.plugin import RecorderPlugin
from loadtests.recorder.rundir import SAMPLES, RunDirectory
from loadtests.timing import Timer


class SoakUser(User):
    abstract = True

    def on_start(self) -> None:
        timer = Timer(self.environment.events.request, target="blue", user_class="soak")
        self.api = PlatformClient(
            dialect=dialect_for("blue"), base_url=self.host, timer=timer, credentials=Credentials("u", "p")
        )

    @task
    def probe(self) -> None:
        self.api.health()


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-seconds", type=float, default=20.0, help="T: the run lasts 10 x T")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--pace", type=float, default=0.02, help="seconds between one user's requests")
    args = parser.parse_args()
    _harness.pin(os.getpid(), _harness.GENERATOR_CPU)
    folder = Path(tempfile.mkdtemp(prefix="loadbench-soak-"))
    with _harness.trivial_server() as (url, _pid):
        cls = type("Soak", (SoakUser,), {"abstract": False, "host": url, "wait_time": constant_pacing(args.pace)})
        env = Environment(user_classes=[cls], host=url)
        run_dir = RunDirectory.create(out=folder / "run", results_root=folder, profile="soak", target="blue")
        RecorderPlugin(env, run_dir=run_dir.path, interval_s=1.0)
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        started = time.monotonic()
        timeline: list[tuple[float, float, int]] = []
        for step in range(1, 11):
            gevent.sleep(max(0.0, started + step * args.warm_seconds - time.monotonic()))
            gc.collect()  # compare live memory, not garbage waiting for a collection
            timeline.append((time.monotonic() - started, rss_mb(), env.stats.total.num_requests))
            elapsed, rss, requests = timeline[-1]
            print(f"t = {elapsed:6.1f} s   generator RSS {rss:7.1f} MB   requests so far {requests}")
        runner.quit()
    warm, end = timeline[0][1], timeline[-1][1]
    growth = (end - warm) / warm * 100
    size = run_dir.file(SAMPLES).stat().st_size / 1024
    print(
        f"\nRSS after T = {args.warm_seconds:g} s: {warm:.1f} MB; after 10 T: {end:.1f} MB; growth {growth:+.2f} %"
        f"   (target < 5 %: {'met' if growth < 5 else 'MISSED'})"
    )
    print(f"{timeline[-1][2]} requests recorded; {SAMPLES} {size:.0f} KB on disk (the data went there, not to RAM)")


if __name__ == "__main__":
    main()
