"""Load a run directory into frames (through ``RunDirectory``, the one reader of the format)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loadtests.recorder.plugin import EVENTS
from loadtests.recorder.rundir import RESOURCE_COLUMNS, Manifest, RunDirectory, iter_resource_rows

SAMPLE_COLUMNS = (
    "t0", "t1", "target", "kind", "name", "user_class", "outcome", "count", "timed", "nbytes", "overflow", "hist",
)  # fmt: skip


@dataclass(frozen=True)
class RunData:
    directory: RunDirectory
    manifest: Manifest
    samples: pd.DataFrame  # one row per (series, interval); see loadtests.recorder.rows
    resources: pd.DataFrame  # one row per (sampler, second)
    events: list[dict]
    bad_sample_lines: int

    @property
    def steady_state_from(self) -> float | None:
        """The end of the ramp-up: when Locust finished spawning (or the manifest's estimate)."""
        for event in self.events:
            if event.get("event") == "spawning_complete":
                return float(event["t"])
        return self.manifest.steady_state_from

    @property
    def targets(self) -> list[str]:
        colors = [target.color for target in self.manifest.targets]
        return colors or sorted(self.samples["target"].unique())


def _read_events(directory: RunDirectory) -> list[dict]:
    path = directory.file(EVENTS)
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a truncated last line of a killed run
    return events


def load_run(path: Path | str) -> RunData:
    directory = RunDirectory(path)
    manifest = directory.read_manifest()
    result = directory.read_samples()
    samples = pd.DataFrame(
        [tuple(getattr(row, column) for column in SAMPLE_COLUMNS) for row in result.rows], columns=list(SAMPLE_COLUMNS)
    )
    resources = pd.DataFrame(list(iter_resource_rows(directory)), columns=list(RESOURCE_COLUMNS))
    for column in ("time", "rss_mb", "cpu_pct", "connections"):
        resources[column] = pd.to_numeric(resources[column], errors="coerce")
    return RunData(directory, manifest, samples, resources, _read_events(directory), result.bad_lines)
