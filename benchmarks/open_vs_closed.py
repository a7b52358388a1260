"""How much a closed model understates a slowdown, measured side by side on the embedded backends.

green plants a CPU cost per request (``--burn-ms``, spent on its event loop: requests queue as the
load grows, like a real server near its capacity); blue plants nothing. Two paired runs:

1. **closed**: chatters (the `ChatUser` mix) with a short think time. When green slows, its users
   wait longer between requests, so green receives less load than blue and is measured lighter.
2. **open**: the arrivals blue's users produced in run 1 (the rate a healthy server lets those
   users reach: chat turns as `chat_turn`, `auth.me` as `me`, and every other REST call of theirs
   as `history_read`, a REST read of the same cost), on both colors: green gets the load the users
   would offer.

Prints, per color and model, the chat turns and HTTP requests a second each color received, the
p95 of `chat.history`, `chat.complete` and every HTTP sample (response times from the intended
start for the open model), the open model's missed_schedule, and the closed model's understatement
of green's p95 and load. Compare a color's rows across the models (green's chat turn carries one
more HTTP request than blue's, so HTTP rates differ between the colors by design).

    .venv/bin/python benchmarks/open_vs_closed.py                  # 60 s each
    .venv/bin/python benchmarks/open_vs_closed.py --duration 120 --burn-ms 6

Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.load import load_run  # noqa: E402
from analysis.schedule import schedule_of  # noqa: E402
from analysis.stats import ok_histogram, percentile_ms, select  # noqa: E402

CLOSED = """\
version: 1
name: open-vs-closed-c
duration_s: {duration}
users: {users}
spawn_rate: 20
mix: {{ChatUser: 1}}
health_probe_s: null
chat: {{think_time_s: [0.05, 0.15]}}
reference_backend:
  llm: {{first_token: 100, token_gap: 5, chunks: 6}}
  green: {{faults: {{cpu_burn_ms_per_request: {burn}}}}}
slos: []
"""
OPEN = """\
version: 1
name: open-vs-closed-o
duration_s: {duration}
users: 0
spawn_rate: 20
mix: {{}}
health_probe_s: null
arrivals:
  max_in_flight: {in_flight}
  start_within_s: 2.0
  scenarios:
{scenarios}
reference_backend:
  llm: {{first_token: 100, token_gap: 5, chunks: 6}}
  green: {{faults: {{cpu_burn_ms_per_request: {burn}}}}}
slos: []
"""
# Blue's socket-borne chat samples: part of a chat turn, not REST calls.
_CHAT_TURN_PARTS = ("chat.complete", "chat.first_token", "chat.accepted", "chat.connect", "chat.rtt")


def run(profile_text: str, folder: Path, name: str) -> Path:
    profile = folder / f"{name}.yaml"
    profile.write_text(profile_text)
    out = folder / name
    command = [sys.executable, "-m", "loadtests.cli", "run", "--profile", str(profile), "--out", str(out)]
    subprocess.run([*command, "--no-report", "--quiet"], cwd=REPO, check=False)
    return out


@dataclass(frozen=True)
class Measures:
    turns_per_s: float
    http_per_s: float
    me_per_s: float
    history_p95: float | None
    complete_p95: float | None
    http_p95: float | None
    missed: int


def measures(out: Path, color: str, basis: str | None = None) -> Measures:
    run_data = load_run(out, basis=basis)  # type: ignore[arg-type]
    steady = select(run_data.samples, target=color, window=run_data.window("steady"))
    span = max(float(steady["t1"].max() - steady["t0"].min()), 1.0) if len(steady) else 1.0
    http = steady[steady["kind"] == "http"]

    def p95(name: str) -> float | None:
        return percentile_ms(ok_histogram(steady[steady["name"] == name], run_data.histograms), 95)

    def rate(frame) -> float:  # type: ignore[no-untyped-def]
        return float(frame["count"].sum()) / span

    missed = sum(item.missed for item in schedule_of(run_data) if item.target == color)
    return Measures(
        turns_per_s=rate(steady[steady["name"] == "chat.complete"]),
        http_per_s=rate(http),
        me_per_s=rate(http[http["name"] == "auth.me"]),
        history_p95=p95("chat.history"),
        complete_p95=p95("chat.complete"),
        http_p95=percentile_ms(ok_histogram(http, run_data.histograms), 95),
        missed=missed,
    )


def _ms(value: float | None) -> str:
    return f"{value:8.1f} ms" if value is not None else "       — ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=24, help="closed-model chatters (split over the colors)")
    parser.add_argument("--burn-ms", type=float, default=12.0, help="green's CPU per request (ms)")
    parser.add_argument(
        "--max-in-flight", type=int, default=128, help="the open model's bound on operations in flight, per color"
    )
    parser.add_argument("--out", help="keep the two run directories here (default: a temporary folder)")
    args = parser.parse_args()
    parser_out = args.out
    with tempfile.TemporaryDirectory(prefix="open-vs-closed-") as folder:
        work = Path(parser_out) if parser_out else Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        closed = run(CLOSED.format(duration=args.duration, users=args.users, burn=args.burn_ms), work, "closed")
        healthy = measures(closed, "blue")
        offered = {
            "chat_turn": healthy.turns_per_s,
            "me": healthy.me_per_s,
            "history_read": healthy.http_per_s - healthy.me_per_s,  # blue's chat turn has no HTTP request
        }
        scenarios = "\n".join(f"    {name}: {{rate_per_s: {max(rate, 0.1):.2f}}}" for name, rate in offered.items())
        open_profile = OPEN.format(
            duration=args.duration, in_flight=args.max_in_flight, burn=args.burn_ms, scenarios=scenarios
        )
        opened = run(open_profile, work, "open")
        print(f"green spends {args.burn_ms:g} ms of CPU per HTTP request; blue nothing; {args.duration:g} s per run")
        print("  the open model offers each color what blue's closed users reached: "
              + ", ".join(f"{name} {rate:.1f}/s" for name, rate in offered.items()))  # fmt: skip
        figures: dict[tuple[str, str], Measures] = {}
        for model, out in (("closed", closed), ("open", opened)):
            for color in ("blue", "green"):
                m = figures[(model, color)] = measures(out, color)
                missed = f"   missed_schedule {m.missed}" if model == "open" else ""
                print(
                    f"  {model:<6} {color:<5} turns {m.turns_per_s:5.1f}/s  HTTP {m.http_per_s:6.1f}/s   p95: "
                    f"chat.history {_ms(m.history_p95)}  chat.complete {_ms(m.complete_p95)}  "
                    f"every HTTP {_ms(m.http_p95)}{missed}"
                )
        closed_green, open_green = figures[("closed", "green")], figures[("open", "green")]
        served = measures(opened, "green", "service")
        print(
            f"  open   green, service times (from the actual send): chat.history {_ms(served.history_p95)}  "
            f"every HTTP {_ms(served.http_p95)}; the rest of the response time waited for a slot"
        )
        for label, shown, measured in (
            ("HTTP p95", closed_green.http_p95, open_green.http_p95),
            ("chat.complete p95", closed_green.complete_p95, open_green.complete_p95),
        ):
            if shown and measured:
                ratio = shown / measured
                print(f"  the closed model shows green's {label} at {ratio:.2f}x what the open model measured")
        if open_green.turns_per_s > 0 and open_green.http_per_s > 0:
            print(
                f"  ... because green received {closed_green.turns_per_s / open_green.turns_per_s:.2f}x the chat turns "
                f"and {closed_green.http_per_s / open_green.http_per_s:.2f}x the HTTP requests its users would offer"
            )


if __name__ == "__main__":
    main()
