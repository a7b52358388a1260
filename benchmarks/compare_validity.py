"""Statistical validity of `loadbench compare`: false positives, power, and real runs.

1. Synthetic A/A (identical distributions on both sides): how often a metric is called `worse`
   (or anything but `same`), and how often the scorecard says anything but `promote`.
   Target: ≤ 5 % per metric and per scorecard, over ≥ 200 trials.
2. Synthetic power: B's latencies x 1.10 on every metric (a +10 % p95 regression): how often each
   metric is called `worse` and the scorecard `rollback`. Target: ≥ 90 % at the counts a `ci` run
   produces. Also a spread-only change (median equal, p95 +10 %): the shape the rank test misses.
   Synthetic runs go through the recorder's own code path (``analysis.compare_synthetic``); their
   counts and shapes are measured from a real `ci`-like run (``--shapes-from RUN``, or the
   built-in figures measured on this machine) and scaled to the full `ci` profile's steady state.
3. Real runs against the embedded reference backends (a `ci` profile shortened to
   ``--real-duration`` seconds): ``--aa-runs`` paired runs (default 2), each compared with the
   next per color (A/A: must not be `worse`; the count of flagged pairs is printed), and a paired
   run whose green LLM is 1.2x slower (first token and token gaps): chat.complete must be
   `worse`. Prints the wall time of `loadbench compare` on two runs.
4. Speed: `loadbench compare` on a synthesized paired run of ``--speed-samples`` (10 million)
   samples (``benchmarks/analysis_speed.py``'s generator: 20 metrics, green 1.1x slower), as a
   fresh process. DESIGN.md budget: under 30 s.

    .venv/bin/python benchmarks/compare_validity.py                # everything (~20 min on 2 cores)
    .venv/bin/python benchmarks/compare_validity.py --skip-real    # synthetic only

This measures `compare`: one look at a fixed-length run. The gate's sequential procedure, looked
at every few seconds, is measured by ``benchmarks/gate_validity.py`` (the same questions: A/A
false alarms, power for +10 %, plus the time to a decision), and the closed model's
understatement of a slowdown by ``benchmarks/open_vs_closed.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import yaml

from analysis.compare import Comparison, compare_paired
from analysis.compare_synthetic import CI_60S_SHAPES, MetricShape, Plant, shapes_from_run, write_paired_run
from analysis.load import load_run
from loadtests.recorder.rundir import SAMPLES

REPO = Path(__file__).resolve().parent.parent
CI_STEADY_S = 120 - 40 / 10  # the `ci` profile: 120 s, 40 users at 10/s → 4 s ramp-up
_Z95 = 1.6448536269514722


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} CPUs"


# -- synthetic ------------------------------------------------------------------------------------
def _trials(
    shapes: Sequence[MetricShape], plant: Plant, trials: int, steady_s: float, workdir: Path, seed: int
) -> list[Comparison]:
    results = []
    for trial in range(trials):
        path = workdir / f"trial-{seed}-{trial}"
        write_paired_run(path, shapes, plant=plant, seed=seed * 100_003 + trial, steady_s=steady_s)
        results.append(compare_paired(load_run(path)))
        shutil.rmtree(path)
    return results


def _rates(results: list[Comparison], verdicts: set[str]) -> dict[str, float]:
    hits: Counter[str] = Counter()
    for comparison in results:
        for metric in comparison.metrics:
            hits[metric.id] += metric.verdict in verdicts
    ids = [m.id for m in results[0].metrics]
    return {metric_id: hits[metric_id] / len(results) for metric_id in ids}


def _decisions(results: list[Comparison]) -> Counter[str]:
    return Counter(comparison.scorecard.decision for comparison in results)


def _counts(results: list[Comparison]) -> dict[str, tuple[int, int]]:
    return {m.id: (m.n_a, m.n_b) for m in results[0].metrics}


def synthetic(shapes: Sequence[MetricShape], trials: int, workdir: Path) -> dict[str, object]:
    full = [shape.scaled(CI_STEADY_S / 56) for shape in shapes]
    figures: dict[str, object] = {}
    print(f"\n== synthetic runs ({trials} trials each; {load()})")
    print("metric shapes (60 s ci run → full ci, steady-state ok samples per side):")
    for short, long in zip(shapes, full, strict=True):
        print(
            f"  {short.name:<18} n {short.count:>4} → {long.count:>4}   median {short.median_ms:8.1f} ms   "
            f"sigma {short.sigma:.2f}"
        )
    started = time.perf_counter()
    for label, counts, n_trials in (("full ci (120 s)", full, trials), ("60 s ci", list(shapes), max(trials // 2, 50))):
        aa = _trials(counts, Plant(), n_trials, CI_STEADY_S if counts is full else 56, workdir, seed=1)
        worse = _rates(aa, {"worse"})
        flagged = _rates(aa, {"worse", "better"})
        decisions = _decisions(aa)
        print(f"\nA/A at {label} counts, {n_trials} trials (target: ≤ 5 % per metric and per scorecard)")
        print(f"  {'metric':<28}{'n per side':>12}{'worse':>9}{'not same':>10}")
        for metric_id, (n_a, n_b) in _counts(aa).items():
            print(
                f"  {metric_id:<28}{(n_a + n_b) // 2:>12}{100 * worse[metric_id]:>8.1f}%"
                f"{100 * flagged[metric_id]:>9.1f}%"
            )
        not_promote = 1 - decisions["promote"] / n_trials
        print(
            f"  scorecard: rollback {100 * decisions['rollback'] / n_trials:.1f} %, hold "
            f"{100 * decisions['hold'] / n_trials:.1f} %, anything but promote {100 * not_promote:.1f} %"
        )
        print(f"  tests per scorecard: {aa[0].family.tests}, each at {aa[0].family.decision_alpha:.3g}")
        figures[f"aa {label}"] = {"worse": worse, "not_same": flagged, "decisions": dict(decisions)}

        regression = Plant(scale={shape.name: 1.10 for shape in counts})
        power = _trials(counts, regression, n_trials, CI_STEADY_S if counts is full else 56, workdir, seed=2)
        hit = _rates(power, {"worse"})
        decisions = _decisions(power)
        print(f"\npower: B x 1.10 (p95 +10 %) at {label} counts, {n_trials} trials (target ≥ 90 %)")
        for metric_id, (n_a, n_b) in _counts(power).items():
            if metric_id.startswith("latency:"):
                print(f"  {metric_id:<28}{(n_a + n_b) // 2:>12}  worse {100 * hit[metric_id]:5.1f} %")
        print(
            f"  scorecard rollback {100 * decisions['rollback'] / n_trials:.1f} %, "
            f"hold {100 * decisions['hold'] / n_trials:.1f} %"
        )
        figures[f"power {label}"] = {"worse": hit, "decisions": dict(decisions)}

        # The same median, a wider spread: p95 +10 % (sigma' = sigma + ln(1.1)/1.645).
        spread = Plant(spread={shape.name: 1 + math.log(1.10) / _Z95 / shape.sigma for shape in counts})
        wider = _trials(counts, spread, max(n_trials // 2, 50), CI_STEADY_S if counts is full else 56, workdir, seed=3)
        hit = _rates(wider, {"worse"})
        print(f"\nspread only (median equal, p95 +10 %) at {label} counts, {len(wider)} trials")
        ks = defaultdict(int)
        mw = defaultdict(int)
        for comparison in wider:
            for metric in comparison.metrics:
                if metric.latency is not None:
                    ks[metric.id] += metric.latency.shape.test.p_value < comparison.family.decision_alpha
                    mw[metric.id] += metric.latency.rank.p_value < comparison.family.decision_alpha
        for metric_id in (m for m in _counts(wider) if m.startswith("latency:")):
            print(
                f"  {metric_id:<28} worse {100 * hit[metric_id]:5.1f} %   "
                f"KS rejects {100 * ks[metric_id] / len(wider):5.1f} %"
                f"   Mann-Whitney rejects {100 * mw[metric_id] / len(wider):5.1f} %"
            )
    print(f"\nsynthetic part: {time.perf_counter() - started:.0f} s ({load()})")
    return figures


# -- real runs ------------------------------------------------------------------------------------
def _profiles(workdir: Path, duration: float) -> tuple[Path, Path]:
    base = yaml.safe_load((REPO / "profiles" / "ci.yaml").read_text())
    short = {**base, "name": "ci-short", "duration_s": duration,
             "description": f"the ci profile shortened to {duration:g} s for compare_validity"}  # fmt: skip
    llm = base["reference_backend"]["llm"]
    slower = {
        **llm,
        "first_token": {**llm["first_token"], "ms": llm["first_token"]["ms"] * 1.2},
        "token_gap": {**llm["token_gap"], "ms": llm["token_gap"]["ms"] * 1.2, "sd_ms": llm["token_gap"]["sd_ms"] * 1.2},
    }
    planted = {**short, "name": "ci-short-planted", "reference_backend": {"llm": llm, "green": {"llm": slower}}}
    paths = workdir / "ci-short.yaml", workdir / "ci-short-planted.yaml"
    for path, data in zip(paths, (short, planted), strict=True):
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return paths


def _loadbench(*args: str) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "loadtests.cli", *args], capture_output=True, text=True, cwd=REPO)
    return done.returncode, time.perf_counter() - started, done.stdout + done.stderr


def _verdicts(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    return {
        "decision": data["scorecard"]["decision"],
        "worse": [m["id"] for m in data["metrics"] if m["verdict"] == "worse"],
        "chat.complete": next((m for m in data["metrics"] if m["id"] == "latency:chat.complete"), None),
    }


def _describe(label: str, path: Path) -> dict[str, object]:
    verdicts = _verdicts(path)
    chat = verdicts["chat.complete"]
    chat_text = "absent"
    if isinstance(chat, dict):
        chat_text = f"{chat['verdict']} (p95 {chat['a']:.0f} → {chat['b']:.0f} ms; {chat['reason'][:150]})"
    print(f"  {label}: scorecard {verdicts['decision']}; worse: {', '.join(verdicts['worse']) or 'none'}")  # type: ignore[arg-type]
    print(f"    chat.complete: {chat_text}")
    return verdicts


def real(workdir: Path, duration: float, aa_runs: int = 2) -> dict[str, object]:
    print(f"\n== real runs against the embedded reference backends (ci shortened to {duration:g} s)")
    short, planted = _profiles(workdir, duration)
    runs = {}
    plan = [*((f"aa{i}", short) for i in range(1, aa_runs + 1)), ("planted", planted)]
    for label, profile in plan:
        print(f"  running {label} ({profile.name}; {load()})", flush=True)
        code, wall, output = _loadbench("run", "--profile", str(profile), "--target", "both", "--no-report",
                                        "--out", str(workdir / label))  # fmt: skip
        runs[label] = workdir / label
        print(f"    exit {code} after {wall:.0f} s")
        if not (workdir / label / SAMPLES).exists():
            print(output[-2000:])
            raise SystemExit(f"run {label} left no samples")
    figures: dict[str, object] = {}
    print("\nA/A across two runs (same profile, same code; must not be `worse`), consecutive pairs:")
    flagged = Counter()
    for first in range(1, aa_runs):
        run_a, run_b = runs[f"aa{first}"], runs[f"aa{first + 1}"]
        for color in ("green", "blue"):
            out = workdir / f"cmp-aa{first}-{color}"
            code, wall, _ = _loadbench("compare", str(run_a), str(run_b), "--color-a", color,
                                       "--color-b", color, "--out", str(out))  # fmt: skip
            label = f"{color} (run {first}) vs {color} (run {first + 1}), exit {code}"
            verdicts = figures[f"aa{first} {color}"] = _describe(label, out / "comparison.json")
            flagged["worse"] += bool(verdicts["worse"])
            flagged["not promote"] += verdicts["decision"] != "promote"
            flagged["pairs"] += 1
            if first == 1 and color == "green":
                figures["compare wall s"] = wall
                print(f"    wall time of `loadbench compare RUN_A RUN_B` (two ci-short runs): {wall:.1f} s ({load()})")
    print(
        f"  A/A pairs with any metric `worse`: {flagged['worse']} of {flagged['pairs']}; "
        f"scorecard not `promote`: {flagged['not promote']} of {flagged['pairs']}"
    )
    print("\npaired, identical reference LLMs (blue vs green of one run; the two implementations may differ):")
    for label in ("aa1", "aa2"):
        code, _, _ = _loadbench("compare", str(runs[label]), "--paired", "--out", str(workdir / f"cmp-{label}"))
        figures[f"paired {label}"] = _describe(f"{label}: exit {code}", workdir / f"cmp-{label}" / "comparison.json")
    print(
        "\nplanted: green's LLM 1.2x slower (first token and token gaps), paired run (chat.complete must be `worse`):"
    )
    code, wall, _ = _loadbench("compare", str(runs["planted"]), "--paired", "--out", str(workdir / "cmp-planted"))
    figures["planted"] = _describe(f"exit {code}, {wall:.1f} s", workdir / "cmp-planted" / "comparison.json")
    return figures


def speed(workdir: Path, samples: float) -> dict[str, object]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from analysis_speed import synthesize

    print(f"\n== speed: `loadbench compare` on a paired run of {samples:,.0f} samples ({load()})")
    path = workdir / "big"
    began = time.perf_counter()
    written, rows = synthesize(path, samples=int(samples), duration_s=7200, metrics=20)
    print(f"  synthesized {written:,} samples in {rows:,} rows in {time.perf_counter() - began:.0f} s")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtests.cli", "compare", str(path), "--out", str(workdir / "cmp-big")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"  compare: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {usage.ru_maxrss / 1024:.0f} MB, exit {code} "
        f"(budget 30 s: {wall / 30:.2f}x of it; {load()})"
    )
    verdicts = _verdicts(workdir / "cmp-big" / "comparison.json")
    print(f"  scorecard {verdicts['decision']}; worse: {len(verdicts['worse'])} metrics (green is planted 1.1x slower)")  # type: ignore[arg-type]
    shutil.rmtree(path, ignore_errors=True)
    return {"wall_s": wall, "cpu_s": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200, help="synthetic trials per scenario at full ci counts")
    parser.add_argument("--shapes-from", type=Path, help="a paired ci-like run to measure metric shapes from")
    parser.add_argument("--skip-real", action="store_true", help="synthetic part only")
    parser.add_argument("--skip-synthetic", action="store_true", help="real runs only")
    parser.add_argument("--real-duration", type=float, default=60.0, help="seconds of each real run")
    parser.add_argument("--aa-runs", type=int, default=2, help="real A/A runs (consecutive pairs are compared)")
    parser.add_argument("--skip-speed", action="store_true", help="skip the 10-million-sample timing")
    parser.add_argument("--speed-samples", type=float, default=1e7, help="samples of the timed comparison")
    parser.add_argument("--workdir", type=Path, help="keep run directories here (default: a temporary folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="compare-validity-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"compare_validity: {load()}; work in {workdir}")
    shapes = list(CI_60S_SHAPES)
    if args.shapes_from is not None:
        shapes = shapes_from_run(load_run(args.shapes_from))
    if not args.skip_synthetic:
        synthetic(shapes, args.trials, workdir)
    if not args.skip_real:
        real(workdir, args.real_duration, max(args.aa_runs, 2))
    if not args.skip_speed:
        speed(workdir, args.speed_samples)
    print(f"\ndone ({load()})")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
