"""``loadbench gate``: a paired open-model run that looks at blue against green every few seconds
(``analysis.gate``: anytime-valid intervals, so looking often costs no false alarms) and stops as
soon as every critical metric is decided, or at the profile's duration (then ``hold``, with the
intervals reached). It exits like ``compare``: 0 promote or hold, 1 rollback, 2 usage, 3 invalid
run, 4 infrastructure.

The run is an ordinary ``loadbench run`` (the same run directory, verdict and report), with
``gate.json`` (every look and the decision; results/README.md) and the fixed-sample comparison
(``comparison.*``, descriptive: the gate's decision is the sequential one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.errors import EXIT_INFRA, EXIT_INVALID, ConfigError, LoadbenchError
from loadtests.recorder.format import GATE
from loadtests.recorder.rundir import RunDirectory, strict_json

__all__ = ["GateWatch", "finish_gate", "look_line"]


def look_line(look) -> str:  # type: ignore[no-untyped-def]
    """One status line per look: each critical metric's estimate, interval and state."""
    parts = []
    for metric in look.metrics:
        low, high = metric.interval
        if metric.id.startswith("errors:"):
            shown = f"{metric.estimate:+.3g} pp [{low:+.3g}, {high:+.3g}]"
        else:
            shown = f"x{metric.estimate:.3g} [{low:.3g}, {high:.3g}]"
        parts.append(f"{metric.id} {shown} {metric.decision}")
    left = f"; ~{look.seconds_left:.0f} s more" if look.seconds_left is not None else ""
    return f"gate at {look.at_s:.0f} s: {look.decision}{left} | " + " | ".join(parts)


@dataclass
class GateWatch:
    """``RunRequest.early_stop`` for a gate: a look at the run so far; a reason to stop once decided."""

    say: Callable[[str], None]
    thresholds: object = None  # analysis.compare_thresholds.Thresholds (imported lazily)
    looks: list = field(default_factory=list)

    def __call__(self, run_dir: Path) -> str | None:
        from analysis.gate import look
        from analysis.load import load_run

        try:
            current = look(load_run(run_dir), thresholds=self.thresholds)  # type: ignore[arg-type]
        except LoadbenchError as error:  # a run still too young to read: look again later
            self.say(f"gate: no look yet ({error})")
            return None
        self.looks.append(current)
        self.say(look_line(current))
        if current.decision == "continue":
            return None
        return f"stopped by the gate at {current.at_s:.0f} s: {current.decision} ({current.reason})"


def finish_gate(run_dir: Path, watch: GateWatch, *, run_exit_code: int, max_duration_s: float, stopped_early: bool):  # type: ignore[no-untyped-def]
    """The final look (on everything the run measured), ``gate.json``, and the exit code."""
    from analysis.gate import GateResult, look
    from analysis.load import load_run

    final = look(load_run(run_dir), thresholds=watch.thresholds)  # type: ignore[arg-type]
    watch.looks.append(final)
    if run_exit_code in (EXIT_INVALID, EXIT_INFRA) and not stopped_early:
        decision, code, reason = "hold", run_exit_code, "the run is invalid or did not finish: nothing to decide"
    elif final.decision == "rollback":
        decision, code, reason = "rollback", 1, final.reason
    elif final.decision == "promote":
        decision, code, reason = "promote", 0, final.reason
    else:
        decision, code, reason = "hold", 0, f"maximum duration reached, {final.reason}"
    alpha = getattr(watch.thresholds, "alpha", 0.05)
    result = GateResult(decision, code, reason, stopped_early, max_duration_s, alpha, list(watch.looks))
    RunDirectory(run_dir).write_text(GATE, strict_json(result.to_json()) + "\n")
    return result


def gate_profile(profile, max_duration_s: float | None):  # type: ignore[no-untyped-def]
    """The profile a gate runs: open-model (``arrivals``), its duration the maximum."""
    if profile.arrivals is None:
        raise ConfigError(
            f"profile {profile.name}: a gate needs an open-model profile (an arrivals: section), such as `gate`"
        )
    if max_duration_s is not None:
        profile = profile.model_copy(update={"duration_s": max_duration_s})
    return profile
