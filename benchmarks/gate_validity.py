"""Statistical validity of `loadbench gate`'s sequential procedure (analysis.sequential), on
synthetic paired runs looked at like the gate looks at a real one.

Each trial draws both colors' samples as they would arrive in the `gate` profile (HTTP at
``--http-rate`` a second per color, lognormal with sigma ``--http-sigma``: the wide-spread metric;
chat turns at ``--chat-rate``, lognormal sigma 0.1; no failures), looks every ``--look-every``
seconds up to ``--max-duration`` (≥ 20 looks), and applies the gate's rules (the same functions
``analysis.gate`` calls): rollback at the first look a metric is worse, promote once every one is
equivalent, hold at the end. Scenarios:

  A/A          identical colors: a rollback is a false alarm (target ≤ 5 %)
  http +10 %   green's HTTP latencies x1.10 (p95 +10 %): rollback is power (target ≥ 90 %)
  chat +10 %   green's chat.complete x1.10: the same for the other latency metric

Prints per scenario the share of trials ending rollback / promote / hold, and the median and 90th
percentile of the time to a decision (the trials that decided; hold counts as the maximum).

    .venv/bin/python benchmarks/gate_validity.py                  # 200 trials per scenario
    .venv/bin/python benchmarks/gate_validity.py --trials 50      # a quicker look

Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.compare_stats import Buckets
from analysis.compare_thresholds import Thresholds
from analysis.sequential import judge_errors_look, judge_latency_look


@dataclass(frozen=True)
class Scenario:
    name: str
    http_scale: float = 1.0
    chat_scale: float = 1.0
    rollback_is: str = "false alarm"


SCENARIOS = (
    Scenario("A/A"),
    Scenario("http +10 %", http_scale=1.10, rollback_is="power"),
    Scenario("chat +10 %", chat_scale=1.10, rollback_is="power"),
)


def _significant(values: np.ndarray) -> np.ndarray:
    """3 significant digits: the resolution of the HDR histograms a real run records."""
    scale = 10.0 ** (np.floor(np.log10(np.maximum(values, 1e-9))) - 2)
    return np.round(values / scale) * scale


def _buckets(values: np.ndarray) -> Buckets:
    return Buckets.from_values(values)


def trial(scenario: Scenario, args: argparse.Namespace, rng: np.random.Generator) -> tuple[str, float]:
    """(decision, seconds to it) for one paired run looked at every ``look_every`` seconds."""
    t = Thresholds()
    looks = int(args.max_duration // args.look_every)
    n_http = round(args.http_rate * args.max_duration)
    n_chat = round(args.chat_rate * args.max_duration)
    http = [
        _significant(rng.lognormal(math.log(args.http_median * s), args.http_sigma, n_http))
        for s in (1.0, scenario.http_scale)
    ]
    chat = [_significant(rng.lognormal(math.log(850 * s), 0.1, n_chat)) for s in (1.0, scenario.chat_scale)]
    alpha = t.alpha / 3  # http, chat.complete, errors: the gate's sequential metrics
    for k in range(1, looks + 1):
        seconds = k * args.look_every
        nh, nc = round(args.http_rate * seconds), round(args.chat_rate * seconds)
        decisions = [
            judge_latency_look("latency:http", _buckets(http[0][:nh]), _buckets(http[1][:nh]), alpha=alpha).decision,
            judge_latency_look(
                "latency:chat.complete", _buckets(chat[0][:nc]), _buckets(chat[1][:nc]), alpha=alpha
            ).decision,
            judge_errors_look("errors:overall", 0, nh + nc, 0, nh + nc, alpha=alpha).decision,
        ]
        if "worse" in decisions:
            return "rollback", seconds
        if all(decision in ("equivalent", "better") for decision in decisions):
            return "promote", seconds
    return "hold", args.max_duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--max-duration", type=float, default=600.0)
    parser.add_argument("--look-every", type=float, default=10.0)
    parser.add_argument("--http-rate", type=float, default=95.0, help="HTTP samples a second per color")
    parser.add_argument("--http-median", type=float, default=8.0)
    parser.add_argument("--http-sigma", type=float, default=1.0)
    parser.add_argument("--chat-rate", type=float, default=2.0, help="chat turns a second per color")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--only", choices=[s.name for s in SCENARIOS], help="one scenario")
    args = parser.parse_args()
    print(
        f"gate validity: {args.trials} trials per scenario, a look every {args.look_every:g} s up to "
        f"{args.max_duration:g} s ({int(args.max_duration // args.look_every)} looks); HTTP {args.http_rate:g}/s "
        f"lognormal({args.http_median:g} ms, sigma {args.http_sigma:g}), chat.complete {args.chat_rate:g}/s "
        "lognormal(850 ms, sigma 0.1), no failures"
    )
    rng = np.random.default_rng(args.seed)
    for scenario in (s for s in SCENARIOS if args.only in (None, s.name)):
        started = time.perf_counter()
        outcomes = [trial(scenario, args, rng) for _ in range(args.trials)]
        counts = {d: sum(1 for o, _ in outcomes if o == d) for d in ("rollback", "promote", "hold")}
        times = sorted(seconds for _, seconds in outcomes)
        decided = sorted(seconds for outcome, seconds in outcomes if outcome != "hold")
        p90 = times[min(len(times) - 1, math.ceil(0.9 * len(times)) - 1)]
        shares = ", ".join(f"{d} {100 * c / args.trials:.1f} %" for d, c in counts.items())
        median_decided = f"{statistics.median(decided):.0f} s" if decided else "none"
        print(
            f"  {scenario.name:<11} {shares}  (rollback = {scenario.rollback_is}); time to a decision: median "
            f"{statistics.median(times):.0f} s, p90 {p90:.0f} s (hold = {args.max_duration:g} s); median of the "
            f"{len(decided)} decided {median_decided}  [{time.perf_counter() - started:.0f} s]"
        )


if __name__ == "__main__":
    main()
