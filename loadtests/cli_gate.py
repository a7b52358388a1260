"""``loadbench gate``: the command (``loadtests.gate`` holds its logic), and the ``NAME=VALUE``
parsing it shares with ``loadbench compare``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadtests import render, step_summary
from loadtests.errors import ConfigError
from loadtests.render import console, escape

__all__ = ["gate", "parse_assignments"]

GATE_EXIT_HELP = (
    "Exit codes: 0 promote or hold, 1 rollback (a critical metric shown worse), 2 usage or configuration "
    "error, 3 invalid run, 4 infrastructure error."
)


def parse_assignments(items: tuple[str, ...], option: str = "--threshold") -> dict[str, str]:
    """``("ratio_p95=1.1", ...)`` as a mapping (the values are converted and checked by their owner)."""
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{option} {item!r}: expected NAME=VALUE")
        parsed[name.strip()] = value.strip()
    return parsed


@click.command(epilog=GATE_EXIT_HELP)
@click.option("--profile", "-p", default="gate", show_default=True, help="An open-model profile (arrivals:).")
@click.option("--blue-url", help="Gate this blue deployment instead of the embedded reference backend.")
@click.option("--green-url", help="Gate this green deployment instead of the embedded reference backend.")
@click.option("--allow-remote", multiple=True, metavar="HOST", help="Permit a non-loopback target host.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the run directory exactly here.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--max-duration", type=click.FloatRange(10, 7 * 24 * 3600), metavar="SECONDS",
              help="Stop undecided after this long (default: the profile's duration_s); then `hold`.")  # fmt: skip
@click.option("--look-every", type=click.FloatRange(1, 3600), default=10, show_default=True, metavar="SECONDS",
              help="How often the gate looks (anytime-valid: looking more often costs no false alarms).")  # fmt: skip
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="A decision threshold, as for compare (ratio_p95, equivalence_ms, alpha, ...).")  # fmt: skip
@click.option("--no-report", is_flag=True, help="Skip plots/ and report.html.")
@click.option("--no-preflight", is_flag=True, help="Skip the preflight.")
def gate(
    profile: str,
    blue_url: str | None,
    green_url: str | None,
    allow_remote: tuple[str, ...],
    out: Path | None,
    results: Path,
    max_duration: float | None,
    look_every: float,
    thresholds: tuple[str, ...],
    no_report: bool,
    no_preflight: bool,
) -> None:
    """Run blue and green side by side on the same arrival schedule, and stop as soon as green is
    shown worse than blue on a critical metric (rollback) or equivalent or better on every one
    (promote); at the maximum duration, undecided: hold.

    Every --look-every seconds it judges the critical metrics (HTTP p95, chat.complete p95, the
    overall error rate, memory peak) with anytime-valid confidence sequences, prints each one's
    interval and an estimate of the time left, and writes every look to gate.json.

    \b
    Examples:
      loadbench gate                                   # the embedded backends, the gate profile
      loadbench gate --max-duration 300 --look-every 5
      loadbench gate --blue-url http://127.0.0.1:8000 --green-url http://127.0.0.1:5000
    """
    from analysis.compare import Thresholds, compare_paths
    from analysis.compare_report import write_comparison
    from loadtests.gate import GateWatch, finish_gate, gate_profile
    from loadtests.orchestrator import RunRequest
    from loadtests.orchestrator import run as run_profile
    from loadtests.profiles import load_profile

    settings = Thresholds().with_overrides(parse_assignments(thresholds))
    loaded = gate_profile(load_profile(profile), max_duration)

    def say(message: str) -> None:
        console.print(f"[dim]·[/dim] {escape(message)}")

    watch = GateWatch(say=say, thresholds=settings)
    request = RunRequest(
        profile=loaded,
        target_mode="both",
        urls={"blue": blue_url, "green": green_url},
        allow_remote=allow_remote,
        out=out,
        results_root=results,
        report=not no_report,
        preflight=not no_preflight,
        early_stop=watch,
        look_every_s=look_every,
    )
    outcome = run_profile(request, on_status=say)
    if outcome.reason:
        render.warn(f"loadbench: {outcome.reason}")
    if outcome.status == "invalid" and not watch.looks:
        sys.exit(outcome.exit_code)
    stopped_early = any(look.decision != "continue" for look in watch.looks)
    result = finish_gate(
        outcome.run_dir, watch, run_exit_code=outcome.exit_code, max_duration_s=loaded.duration_s,
        stopped_early=stopped_early,
    )  # fmt: skip
    comparison = compare_paths(paired_run=outcome.run_dir, thresholds=settings, force=True)
    written = write_comparison(comparison, outcome.run_dir, figures=not no_report)
    step_summary.publish((outcome.run_dir / "comparison.md").read_text(encoding="utf-8"), warn=render.warn)
    colour = {"promote": "green", "hold": "yellow", "rollback": "red"}[result.decision]
    console.print(
        f"gate: [{colour}]{result.decision.upper()} (exit {result.exit_code})[/{colour}]: {escape(result.reason)}"
    )
    console.print(escape(f"gate.json, {', '.join(path.name for path in written)}: {outcome.run_dir}"))
    sys.exit(result.exit_code)
