"""Swarm scale-out: more connections than one process may hold, on this one machine, through
``loadbench run --workers N`` against a fast green served by several Node processes.

Past ~19,700 connections one process runs out of open files (20,000 per process here, the
server's included), and past 28,232 connections to one ``ip:port`` one source address runs out of
ephemeral ports. So this run spreads the swarm over ``--workers`` Locust worker processes (one
merged run directory), connects from as many loopback source addresses as the count needs
(``swarm.source_addresses``), and serves it with ``--server-workers`` fast-green processes
(``benchmarks/fast_green``: node:cluster on one port, rooms across the workers through
@socket.io/cluster-adapter). The profile is ``profiles/swarm-30k.yaml`` with the count, the ramp,
the hold, the source addresses and ``auth.mode: mint`` (fast green has no login) set here; tokens
are signed with a fresh random secret (fast green reads them unverified).

What it prints, each beside its target (issue 15): connections held (peak and the lowest of the
hold) against the count asked, connect success (≥ 99.9 %), ``swarm.rtt`` p95 (≤ 50 ms) and
``swarm.fanout`` p95 (≤ 100 ms) over the steady state, every generator process's CPU (never
≥ 90 % in a 1 s sample from the test's start to its stop) and memory per connection it held
(≤ 25 KB), the servers' CPU and memory, and the run's verdict and status.

    python benchmarks/swarm_scale_out.py [--profile swarm-30k] [--connections N] [--workers 2]
        [--server-workers 2] [--spawn-rate R] [--hold S] [--out DIR] [--json out.json]

``--profile swarm --workers 0 --server-workers 1`` is the shipped ``swarm`` profile as it is
(10,000 connections, one Locust process, its own ramp and length) against one fast-green process:
issue 15's first target.

Exit status: 0 when the run produced figures (targets are reported, not enforced), 1 when it
could not run (no node/npm, a refused profile, a run that ended without a run directory).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _fast_green import build_fast_green, fast_green

ROOT = Path(__file__).resolve().parent.parent
BUSY_PCT = 90.0
RTT_P95_TARGET_MS = 50.0
FANOUT_P95_TARGET_MS = 100.0
SUCCESS_TARGET_PCT = 99.9
MEMORY_TARGET_KB = 25.0
TRAIL_S = 20.0  # connects may trail Locust's spawning by this much on a busy box


def usable_ports() -> int:
    """Ephemeral ports per source address that the preflight leaves to a swarm (its own reckoning)."""
    from loadtests.swarm import preflight

    return int(preflight.read_limits().ports * preflight.PORT_RANGE_USE)


def source_addresses(connections: int) -> list[str]:
    """As many loopback source addresses as ``connections`` to one ip:port need (127.0.0.1 first)."""
    count = max(1, math.ceil(connections / usable_ports()))
    return [f"127.0.0.{n}" for n in range(1, count + 1)]


def write_profile(args: argparse.Namespace, folder: Path) -> tuple[Path, float, float]:
    """The run's profile (swarm-30k's, resized), the ramp's length and the run's, in seconds."""
    profile = yaml.safe_load((ROOT / "profiles" / f"{args.profile}.yaml").read_text())
    # The profile's own count, ramp and length unless the command line sets them.
    args.connections = args.connections or profile["users"]
    args.spawn_rate = args.spawn_rate or profile["spawn_rate"]
    ramp_s = args.connections / args.spawn_rate
    duration_s = profile["duration_s"] if args.hold is None else math.ceil(ramp_s + TRAIL_S + args.hold)
    args.hold = args.hold if args.hold is not None else max(duration_s - ramp_s - TRAIL_S, 0)
    profile.update(
        name=f"{args.profile}-fast-green",
        description=f"{args.connections} connections over {args.workers} workers (benchmarks/swarm_scale_out.py)",
        users=args.connections,
        spawn_rate=args.spawn_rate,
        duration_s=duration_s,
        auth={"mode": "mint"},
    )
    sources = source_addresses(args.connections)
    if len(sources) > 1:
        profile["swarm"]["source_addresses"] = sources
    path = folder / "swarm-scale-out.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path, ramp_s, profile["duration_s"]


def loadbench() -> list[str]:
    found = shutil.which("loadbench", path=str(Path(sys.executable).parent)) or shutil.which("loadbench")
    return [found] if found else [sys.executable, "-m", "loadtests.cli"]


def run(args: argparse.Namespace) -> dict[str, Any] | str:
    problem = build_fast_green()
    if problem is not None:
        return f"fast green cannot run: {problem}"
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="swarm-scale-out-"))
    with tempfile.TemporaryDirectory() as folder:
        profile, ramp_s, duration_s = write_profile(args, Path(folder))
        env = {**os.environ, "LOADBENCH_JWT_SECRET": secrets.token_hex(32)}
        with fast_green(workers=args.server_workers) as (url, pid):
            command = [*loadbench(), "run", "--profile", str(profile), "--target", "green", "--green-url", url,
                       "--green-pid", str(pid), "--workers", str(args.workers), "--out", str(out),
                       "--status-every", "15", "--no-report"]  # fmt: skip
            print("·", " ".join(command[1:]), flush=True)
            started = time.monotonic()
            done = subprocess.run(command, env=env, cwd=ROOT, timeout=duration_s + 600)
            wall_s = time.monotonic() - started
    if not (out / "manifest.json").exists():
        return f"loadbench exited with {done.returncode} and wrote no run directory at {out}"
    return {"exit_code": done.returncode, "wall_s": wall_s, "run_dir": str(out), "ramp_s": ramp_s,
            "sources": source_addresses(args.connections), **figures(out, duration_s)}  # fmt: skip


def figures(run_dir: Path, duration_s: float) -> dict[str, Any]:
    """What the run directory says: connections, latencies, processes, verdict."""
    import pandas as pd

    from analysis.judge import judge
    from analysis.load import load_run
    from analysis.stats import select, summarize

    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    when: dict[str, float] = {}
    for event in events:  # the first of each (a distributed run's master says spawning_complete again at its stop)
        when.setdefault(event["event"], event["t"])
    start, ramped, stop = when.get("test_start"), when.get("spawning_complete"), when.get("test_stop")
    held = [json.loads(line) for line in (run_dir / "figures.jsonl").read_text().splitlines() if line.strip()]
    held = [row for row in held if row["name"] == "connections_held"]
    # the hold: from the ramp's end (and the connects trailing it) to Locust's planned stop, before
    # the swarm's paced close at test_stopping begins
    planned_stop = (start or 0) + duration_s - 1
    hold = [row["value"] for row in held if ramped is not None and ramped + TRAIL_S <= row["t"] < planned_stop]
    run = load_run(run_dir)
    judged = judge(run)
    latency = {s.name: s for s in judged.summaries if s.target == "green"}
    # connects happen in the ramp: over the whole run, not the steady state
    whole = summarize(select(run.samples, window=run.window("whole")), run.histograms)
    connect = next((s for s in whole if s.target == "green" and s.name == "swarm.connect"), None)
    success = next((c for c in judged.verdict.checks if c.name == "connection_success"), None)
    resources = pd.read_csv(run_dir / "resources.csv")
    processes = []
    for (role, name), rows in resources.groupby(["role", resources["color"].fillna("locust")]):
        during = rows[(rows.time > (start or 0)) & (rows.time <= (stop or math.inf) + 1)]
        processes.append({
            "role": role, "name": name,
            "cpu_max_pct": float(during.cpu_pct.max()), "cpu_mean_pct": float(during.cpu_pct.mean()),
            "samples_at_or_over_90": int((during.cpu_pct >= BUSY_PCT).sum()), "samples": int(during.cpu_pct.count()),
            # its memory before the first connect: the last sample at or before the test's start
            "rss_first_mb": float(rows[rows.time <= (start or 0)].rss_mb.iloc[-1] if (rows.time <= (start or 0)).any()
                                  else rows.rss_mb.iloc[0]),
            "rss_max_mb": float(during.rss_mb.max()),
            "connections_max": float(during.connections.max()) if "connections" in during else None,
        })  # fmt: skip
    return {
        "status": judged.verdict.run_status,
        "passed": judged.verdict.passed,
        "held_peak": max((row["value"] for row in held), default=0),
        "held_low_in_hold": min(hold, default=0),
        "connect_success_pct": None if success is None else success.observed,  # in %
        "rtt": _latency(latency.get("swarm.rtt")),
        "fanout": _latency(latency.get("swarm.fanout")),
        "connect": _latency(connect),
        "failures": {s.name: s.failures for s in judged.summaries if s.failures},
        "processes": processes,
    }


def _latency(summary: Any) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {"count": summary.count, "p50_ms": summary.p50_ms, "p95_ms": summary.p95_ms, "p99_ms": summary.p99_ms}


def render(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    n = args.connections
    lines = [f"swarm scale-out ({args.profile}): {n} connections, {args.workers} Locust workers, "
             f"{args.server_workers} fast-green "
             f"processes, sources {', '.join(result['sources'])}; run {result['run_dir']} (exit "
             f"{result['exit_code']}, {result['wall_s']:.0f} s wall)"]  # fmt: skip
    held, low = result["held_peak"], result["held_low_in_hold"]
    lines.append(f"  held: peak {held:.0f}, lowest in the hold {low:.0f}  (target {n})  {mark(low >= n)}")
    success = result["connect_success_pct"]
    ok = success is not None and success >= SUCCESS_TARGET_PCT
    lines.append(f"  connect success: {success if success is None else f'{success:.3f}'} %  "
                 f"(target ≥ {SUCCESS_TARGET_PCT} %)  {mark(ok)}")  # fmt: skip
    for name, target in (("rtt", RTT_P95_TARGET_MS), ("fanout", FANOUT_P95_TARGET_MS)):
        figures = result[name]
        p95 = None if figures is None else figures["p95_ms"]
        detail = "no samples" if figures is None else (
            f"p50 {figures['p50_ms']:.1f} / p95 {figures['p95_ms']:.1f} / p99 {figures['p99_ms']:.1f} ms, "
            f"{figures['count']} samples")  # fmt: skip
        lines.append(
            f"  swarm.{name}: {detail}  (target p95 ≤ {target:g} ms)  {mark(p95 is not None and p95 <= target)}"
        )
    connect = result["connect"]
    if connect is not None:
        lines.append(
            f"  swarm.connect: p50 {connect['p50_ms']:.1f} / p95 {connect['p95_ms']:.1f} ms, {connect['count']} samples"
        )
    lines.append(f"  failed samples: {result['failures'] or 'none'}")
    per_worker = n / max(args.workers, 1)  # --workers 0: the one process holds them all
    for proc in result["processes"]:
        line = (f"  {proc['role']} {proc['name']}: CPU max {proc['cpu_max_pct']:.0f} %, "
                f"mean {proc['cpu_mean_pct']:.0f} %, {proc['samples_at_or_over_90']} of {proc['samples']} "
                f"samples ≥ 90 %; RSS {proc['rss_first_mb']:.0f} → {proc['rss_max_mb']:.0f} MB")  # fmt: skip
        if proc["role"] == "generator" and (proc["name"] != "master" or args.workers == 0):
            kb = (proc["rss_max_mb"] - proc["rss_first_mb"]) * 1024 / per_worker
            busy_ok = proc["samples_at_or_over_90"] == 0
            line += (f" ({kb:.1f} KB per connection of its {per_worker:.0f}, target ≤ {MEMORY_TARGET_KB:g}: "
                     f"{mark(kb <= MEMORY_TARGET_KB)}; never ≥ 90 %: {mark(busy_ok)})")  # fmt: skip
        lines.append(line)
    verdict = "PASSED" if result["passed"] else "not passed"
    lines.append(f"  verdict: {verdict}, run {result['status']} (exit {result['exit_code']})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="swarm-30k", help="a swarm profile of profiles/ (swarm: the shipped one)")
    parser.add_argument("--connections", type=int, help="default: the profile's users")
    parser.add_argument("--workers", type=int, default=2, help="Locust worker processes (0: one process)")
    parser.add_argument("--server-workers", type=int, default=2, help="fast-green processes")
    parser.add_argument("--spawn-rate", type=float, help="default: the profile's")
    parser.add_argument("--hold", type=float, help="seconds held after the ramp (default: the profile's length)")
    parser.add_argument("--out", help="the run directory (default: a new temporary folder)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    result = run(args)
    if isinstance(result, str):
        print(f"swarm scale-out: {result}", file=sys.stderr)
        return 1
    print("\n".join(render(result, args)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
