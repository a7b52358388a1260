"""Percentile accuracy: plant a known latency distribution in the reference backend and recover it
through the whole production path (PlatformClient → Timer → request event → recorder → samples.jsonl
→ analysis).

The planted values are known exactly, not only in distribution: the backend draws its fault
latencies from ``random.Random(seed + 1)`` and nothing else draws from that generator, so the N
delays it injected for N requests are the first N draws of that generator, whatever order the
requests came in. The loopback floor (same endpoint, same request rate, nothing planted) is
measured in the same run and its median subtracted.

Target (issue 3): recovered p50/p95/p99 within 1 % of the planted values.

    python benchmarks/percentile_accuracy.py [--requests 10000] [--users 100] [--median-ms 200] [--sigma 0.5]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time
from pathlib import Path

import _harness
import gevent
from locust import User, between, constant, task
from locust.env import Environment
from locust.exception import StopUser

from analysis.load import load_run
from analysis.stats import ok_histogram, percentile_ms, select
from contract.accounts import ENV_JWT_SECRET
from contract.knobs import Distribution
from loadtests.client import PlatformClient
from loadtests.dialects import dialect_for
from loadtests.dialects.base import Credentials
from loadtests.recorder.plugin import RecorderPlugin
from loadtests.recorder.rundir import RunDirectory
from loadtests.timing import Timer
from reference_backend.process import start_backend_process
from reference_backend.settings import BackendSettings

PERCENTILES = (50.0, 95.0, 99.0)


class Budget:
    remaining = 0


class ProbeUser(User):
    abstract = True
    label = "planted"

    def on_start(self) -> None:
        timer = Timer(self.environment.events.request, target=self.label, user_class="bench")
        self.api = PlatformClient(
            dialect=dialect_for("green"), base_url=self.host, timer=timer, credentials=Credentials("u", "p")
        )

    @task
    def probe(self) -> None:
        if Budget.remaining <= 0:
            raise StopUser()
        Budget.remaining -= 1
        self.api.health()


def nearest_rank(sorted_values: list[float], percentile: float) -> float:
    """The same definition HDR uses: the smallest value with at least p % of samples at or below."""
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run(user_class: type[User], *, users: int, requests: int, folder: Path, label: str) -> Path:
    Budget.remaining = requests
    run_dir = RunDirectory.create(out=folder / label, results_root=folder, profile="accuracy", target=label)
    env = Environment(user_classes=[user_class], host=user_class.host)
    RecorderPlugin(env, run_dir=run_dir.path, interval_s=1.0)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    deadline = time.monotonic() + 600
    while (Budget.remaining > 0 or runner.user_count > 0) and time.monotonic() < deadline:
        gevent.sleep(0.2)
    runner.quit()
    return run_dir.path


def recovered(path: Path, label: str) -> tuple[dict[float, float], int]:
    rows = select(load_run_samples(path), target=label, name="health")
    histogram = ok_histogram(rows)
    return {p: percentile_ms(histogram, p) or 0.0 for p in PERCENTILES}, histogram.get_total_count()


def load_run_samples(path: Path):  # type: ignore[no-untyped-def]
    from loadtests.recorder.format import iso
    from loadtests.recorder.rundir import Manifest, utc_now

    RunDirectory(path).write_manifest(
        Manifest(run_id="bench", profile_name="accuracy", target_mode="bench", started_at=iso(utc_now()))
    )
    return load_run(path).samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--median-ms", type=float, default=200.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    _harness.pin(os.getpid(), _harness.GENERATOR_CPU)
    planted = Distribution(kind="lognormal", ms=args.median_ms, sigma=args.sigma)
    env = {**os.environ, ENV_JWT_SECRET: "bench-" + os.urandom(8).hex()}
    folder = Path(tempfile.mkdtemp(prefix="loadbench-accuracy-"))
    faulty = BackendSettings(
        color="green", seed=args.seed, gc_freeze_interval_s=0, faults={"latency": planted, "paths": ("/health",)}
    )
    clean = BackendSettings(color="green", seed=args.seed, gc_freeze_interval_s=0)
    with start_backend_process(faulty, env=env) as planted_backend, start_backend_process(clean, env=env) as floor:
        _harness.pin(planted_backend.pid, _harness.SERVER_CPU)
        _harness.pin(floor.pid, _harness.SERVER_CPU)
        # The floor at the planted run's request rate, spread out in time like the planted run's
        # requests (random waits, not lock-step pacing that would queue them in bursts).
        pace = args.median_ms / 1000
        floor_cls = type(
            "FloorUser",
            (ProbeUser,),
            {"abstract": False, "host": floor.url, "label": "floor", "wait_time": between(0, 2 * pace)},
        )
        planted_cls = type(
            "PlantedUser",
            (ProbeUser,),
            {"abstract": False, "host": planted_backend.url, "label": "planted", "wait_time": constant(0)},
        )
        floor_requests = min(args.requests, 3000)
        floor_run = run(floor_cls, users=args.users, requests=floor_requests, folder=folder, label="floor")
        planted_run = run(planted_cls, users=args.users, requests=args.requests, folder=folder, label="planted")
    floor_p, floor_n = recovered(floor_run, "floor")
    measured, n = recovered(planted_run, "planted")
    rng = random.Random(args.seed + 1)  # the backend's fault generator (reference_backend/state.py)
    injected = sorted(planted.sample(rng) for _ in range(args.requests))
    print(
        f"planted: lognormal median {args.median_ms:g} ms, sigma {args.sigma:g}; {args.requests} requests, "
        f"{args.users} users; recorded {n} ok samples"
    )
    print(
        f"loopback floor (same endpoint, nothing planted, {floor_n} samples): p50 {floor_p[50]:.3f} ms "
        f"p95 {floor_p[95]:.3f} ms p99 {floor_p[99]:.3f} ms; its p50 is subtracted"
    )
    print(f"{'':6}{'planted (exact)':>18}{'recovered - floor':>20}{'error':>10}   target |error| <= 1 %")
    worst = 0.0
    for p in PERCENTILES:
        truth = nearest_rank(injected, p)
        got = measured[p] - floor_p[50]
        error = (got - truth) / truth * 100
        worst = max(worst, abs(error))
        print(f"p{p:<5g}{truth:>15.2f} ms{got:>17.2f} ms{error:>+9.2f} %   {'met' if abs(error) <= 1 else 'MISSED'}")
    print(f"worst |error| {worst:.2f} %")


if __name__ == "__main__":
    main()
