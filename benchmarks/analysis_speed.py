"""How fast the analysis judges and reports a large run (DESIGN.md budget: 10 million samples
checked in under 10 s, memory bounded).

Synthesizes a run directory through ``RunDirectory`` (the recorder's own format): 2 targets x 20
metrics, 1 s intervals over two hours, lognormal latencies in real HDR histograms (a pool of
distinct histograms per metric), ok rows every interval and occasional error, rate-limited and
timeout rows; resources every second. Then times ``loadbench check`` and ``loadbench report`` as
fresh processes (what a CI job pays, imports included) and reads each one's peak RSS.

    .venv/bin/python benchmarks/analysis_speed.py                 # 10 million samples
    .venv/bin/python benchmarks/analysis_speed.py --samples 1e6   # a quicker look

Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtests.recorder.format import iso  # noqa: E402
from loadtests.recorder.histogram import new_histogram  # noqa: E402
from loadtests.recorder.rows import SampleRow  # noqa: E402
from loadtests.recorder.rundir import SAMPLES, Manifest, RunDirectory, TargetInfo  # noqa: E402

TARGETS = ("blue", "green")
CHECK_BUDGET_S = 10.0
POOL_PER_METRIC = 64  # distinct histograms per metric and target, reused across intervals


def _metric_names(count: int) -> list[str]:
    known = [
        "auth.login", "auth.refresh", "auth.me", "chat.history", "chat.get", "chat.create", "chat.delete",
        "chat.connect", "chat.first_token", "chat.complete", "chat.rtt", "chat.accepted", "upload.file",
        "collection.document", "collection.search", "agent.list", "agent.create", "agent.run", "admin.all", "health",
    ]  # fmt: skip
    return (known + [f"extra.metric{n}" for n in range(count)])[:count]


def _kind(name: str) -> str:
    return "sio" if name in ("chat.connect", "chat.first_token", "chat.complete", "chat.rtt") else "http"


def _pool(rng: random.Random, median_us: float, per_row: int) -> list[tuple[str, int]]:
    pool = []
    for _ in range(POOL_PER_METRIC):
        histogram = new_histogram()
        size = max(1, int(rng.gauss(per_row, per_row * 0.15)))
        for _ in range(size):
            histogram.record_value(max(1, int(rng.lognormvariate(0, 0.6) * median_us)))
        pool.append((histogram.encode().decode("ascii"), size))
    return pool


def synthesize(path: Path, *, samples: int, duration_s: int, metrics: int, seed: int = 7) -> tuple[int, int]:
    """Write the run directory; returns (samples written, sample rows written)."""
    rng = random.Random(seed)
    names = _metric_names(metrics)
    per_row = max(1, round(samples / (len(TARGETS) * len(names) * duration_s)))
    start = 1_790_000_000.0
    directory = RunDirectory.create(out=path, results_root=path.parent, profile="synthetic", target="both")
    directory.write_manifest(
        Manifest(
            run_id="synthetic",
            status="complete",
            profile_name="synthetic",
            profile={"name": "synthetic", "description": "benchmarks/analysis_speed.py", "users": 2000},
            target_mode="both",
            targets=[TargetInfo(color=c, url=f"http://127.0.0.1:{8000 + i}", embedded=True)
                     for i, c in enumerate(TARGETS)],
            started_at=iso(datetime.fromtimestamp(start, UTC)),
            steady_state_from=start + 120,
            interval_s=1.0,
        )
    )  # fmt: skip
    directory.append_event("test_start", t=start)
    directory.append_event("spawning_complete", t=start + 120, user_count=2000)
    medians = {name: rng.uniform(2_000, 400_000) for name in names}
    pools = {(t, n): _pool(rng, medians[n] * (1.1 if t == "green" else 1.0), per_row) for t in TARGETS for n in names}
    failure_pool = _pool(rng, 30_000, 2)
    writer = directory.samples_writer()
    resources = directory.resources_writer()
    written = rows = 0
    for second in range(duration_s):
        t0, t1 = start + second, start + second + 1
        batch = []
        for target in TARGETS:
            for name in names:
                encoded, size = pools[(target, name)][rng.randrange(POOL_PER_METRIC)]
                batch.append(
                    SampleRow(t0, t1, target, _kind(name), name, "ChatUser", "ok", size, size, size * 500, 0, encoded)
                )
                written += size
                roll = rng.random()
                if roll < 0.02:  # occasional failures, as a real run has them
                    encoded, size = failure_pool[rng.randrange(POOL_PER_METRIC)]
                    batch.append(
                        SampleRow(t0, t1, target, _kind(name), name, "ChatUser", "error", size, size, 0, 0, encoded)
                    )
                    written += size
                elif roll < 0.025:
                    batch.append(SampleRow(t0, t1, target, _kind(name), name, "ChatUser", "timeout", 1, 0, 0, 0, None))
                    written += 1
            resources.write(
                [(round(t0 + 0.5, 3), "target", target, "100", 180 + second / 100, 35.0 + rng.random() * 5, "")]
            )
        resources.write([(round(t0 + 0.5, 3), "generator", "", "200", 300.0, 60.0, "")])
        writer.write(batch)
        rows += len(batch)
    writer.close()
    resources.close()
    directory.append_event("test_stop", t=start + duration_s, recorder_errors=0)
    return written, rows


def timed(command: list[str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB, exit code) of a fresh process. CPU time is
    printed too: on a shared machine wall time also counts other people's work."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1, 3):
        raise SystemExit(f"{' '.join(command)} failed with {code}: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=float, default=10e6, help="samples to synthesize (default 1e7)")
    parser.add_argument("--duration-s", type=int, default=7200, help="run length in 1 s intervals (default 7200)")
    parser.add_argument("--metrics", type=int, default=20, help="metric names per target (default 20)")
    parser.add_argument("--keep", type=Path, help="write the run directory here and keep it")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="loadbench-bench-"))
    path = args.keep or workdir / "run"
    try:
        began = time.perf_counter()
        written, rows = synthesize(path, samples=int(args.samples), duration_s=args.duration_s, metrics=args.metrics)
        size_mb = (path / SAMPLES).stat().st_size / 1e6
        print(f"synthesized {written:,} samples in {rows:,} rows ({size_mb:.0f} MB {SAMPLES}) "
              f"in {time.perf_counter() - began:.1f} s → {path}")  # fmt: skip
        cli = [sys.executable, "-m", "loadtests.cli"]
        check_s, check_cpu, check_mb, code = timed([*cli, "check", str(path)])
        print(f"check : {check_s:6.2f} s wall, {check_cpu:5.2f} s CPU  (budget {CHECK_BUDGET_S:g} s: "
              f"{check_s / CHECK_BUDGET_S:.2f}x of it)  peak RSS {check_mb:.0f} MB  exit {code}")  # fmt: skip
        report_s, report_cpu, report_mb, _ = timed([*cli, "report", str(path)])
        print(f"report: {report_s:6.2f} s wall, {report_cpu:5.2f} s CPU  (no budget; plots + HTML)  "
              f"peak RSS {report_mb:.0f} MB")  # fmt: skip
        base_s, base_cpu, base_mb, _ = timed([sys.executable, "-c", "import analysis.judge, pandas, numpy"])
        print(f"(of which interpreter start and imports: {base_s:.2f} s wall, {base_cpu:.2f} s CPU, {base_mb:.0f} MB)")
        print(f"load: {os.getloadavg()[0]:.2f} (2 cores shared: figures above include other processes' contention)")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
