"""Which sides are compared, and whether they may be: a ``Side`` is one target of one run;
``comparability`` says what refuses a comparison of two runs (profile, load, suite versions) and
what only deserves a warning; an invalid run is refused unless forced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analysis.compare_model import Mismatch, SideInfo
from analysis.fingerprint import load_fingerprint
from analysis.load import RunData
from analysis.windows import Window
from loadtests.errors import ConfigError, InvalidRunError
from loadtests.recorder.rundir import Manifest

__all__ = ["CHECKED_VERSIONS", "Side", "check_valid", "comparability", "pick_color", "side_info", "side_labels"]

# Versions whose change changes what is measured: the suite and its clients.
CHECKED_VERSIONS = ("loadbench", "locust", "python-socketio", "websocket-client")


@dataclass(frozen=True)
class Side:
    run: RunData
    color: str
    label: str

    @property
    def steady(self) -> Window:
        return self.run.window("steady")


def comparability(a: Manifest, b: Manifest) -> tuple[list[Mismatch], list[str]]:
    """``(mismatches that refuse the comparison, differences worth a warning)``."""
    mismatches: list[Mismatch] = []
    warnings: list[str] = []
    profile_a, profile_b = a.profile or {}, b.profile or {}
    if a.profile_name != b.profile_name:
        mismatches.append(Mismatch("profile", a.profile_name, b.profile_name))
    for key in ("users", "duration_s", "spawn_rate"):
        if profile_a.get(key) != profile_b.get(key):
            mismatches.append(Mismatch(key, profile_a.get(key), profile_b.get(key)))
    targets_a, targets_b = max(len(a.targets), 1), max(len(b.targets), 1)
    if targets_a != targets_b:
        # Users are split between the driven targets: a paired run gives each color half the load.
        mismatches.append(
            Mismatch("targets driven", f"{a.target_mode} ({targets_a})", f"{b.target_mode} ({targets_b})")
        )
    if not mismatches and load_fingerprint(profile_a) != load_fingerprint(profile_b):
        mismatches.append(Mismatch("profile load hash", load_fingerprint(profile_a), load_fingerprint(profile_b)))
    for package in CHECKED_VERSIONS:
        version_a, version_b = a.versions.get(package), b.versions.get(package)
        if version_a != version_b:
            mismatches.append(Mismatch(f"{package} version", version_a, version_b))
    for manifest, side in ((a, "A"), (b, "B")):
        if manifest.status == "partial":
            warnings.append(f"run {side} is {manifest.status} (interrupted): it covers less time than planned")
    host_a = {k: a.host.get(k) for k in ("hostname", "cpus", "memory_gb")}
    host_b = {k: b.host.get(k) for k in ("hostname", "cpus", "memory_gb")}
    if host_a != host_b:
        warnings.append(f"different machines ({host_a} vs {host_b}): latencies are not like for like")
    if a.git_sha != b.git_sha:
        warnings.append(f"different suite commits ({a.git_sha or '?'} vs {b.git_sha or '?'})")
    if a.versions.get("python") != b.versions.get("python"):
        warnings.append(f"different Python versions ({a.versions.get('python')} vs {b.versions.get('python')})")
    return mismatches, warnings


def check_valid(runs: Iterable[RunData], force: bool) -> list[str]:
    """An ``invalid`` run (saturated generator, …) cannot be judged: refused (exit 3) unless forced;
    when forced, returns the warnings to record."""
    warnings = []
    for run in runs:
        manifest = run.manifest
        if manifest.status != "invalid":
            continue
        text = f"{run.directory.path} is an invalid run ({manifest.invalid_reason or 'no reason recorded'})"
        if not force:
            raise InvalidRunError(f"{text}: its numbers cannot be trusted (--force to compare anyway)")
        warnings.append(f"forced past: {text}")
    return warnings


def pick_color(run: RunData, wanted: str | None, preferred: str, role: str) -> str:
    colors = run.targets
    if wanted is not None:
        if wanted not in colors:
            raise ConfigError(f"{run.directory.path} has no target {wanted!r} (it has {', '.join(colors) or 'none'})")
        return wanted
    if preferred in colors:
        return preferred
    if len(colors) == 1:
        return colors[0]
    raise ConfigError(f"{run.directory.path} has targets {', '.join(colors)}: choose one with --color-{role}")


def side_labels(run_a: RunData, color_a: str, run_b: RunData, color_b: str) -> tuple[str, str]:
    if color_a != color_b:
        return color_a, color_b
    name_a, name_b = run_a.directory.path.name, run_b.directory.path.name
    return f"{color_a} ({name_a})", f"{color_b} ({name_b})"


def side_info(side: Side) -> SideInfo:
    manifest = side.run.manifest
    return SideInfo(
        label=side.label,
        color=side.color,
        run_dir=str(side.run.directory.path),
        run_id=manifest.run_id,
        profile=manifest.profile_name,
        status=manifest.status,
        started_at=manifest.started_at,
        window=side.steady.to_json(),
    )
