"""Load a run directory into frames (through ``RunDirectory``, the one reader of the format).

``RunData.samples`` has one row per (target, kind, name, user_class, outcome, interval) with the
counts of ``samples.jsonl``; its ``hist_id`` column points into ``RunData.histograms``, where the
encoded HDR histograms are kept decoded and compact (``analysis.hdr``). The text of the file is
streamed once and never held whole, so memory grows with the number of non-empty buckets, not
with the size of the file.

The directory is untrusted input (``loadtests.recorder.rundir``): the manifest and the samples
are checked as they are read (a problem refuses the run, exit 3); what the auxiliary files held
that cannot be used (an unreadable line, a resource value that is not a finite, non-negative
number) is dropped and said in ``RunData.notes``, which the verdict shows.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.hdr import HistogramFormatError, HistogramStore, HistogramStoreBuilder
from analysis.windows import Window, resolve_window
from loadtests.errors import ConfigError
from loadtests.recorder.format import SAMPLES_RESPONSE, Basis, RunFormatError
from loadtests.recorder.rundir import MAX_EPOCH_S, RESOURCE_COLUMNS, Manifest, RunDirectory, iter_resource_rows
from loadtests.slo_spec import WindowChoice

TEXT_COLUMNS = ("target", "kind", "name", "user_class", "outcome")
COUNT_COLUMNS = ("count", "timed", "nbytes", "overflow")
SAMPLE_COLUMNS = ("t0", "t1", *TEXT_COLUMNS, *COUNT_COLUMNS, "hist_id")
FIGURE_COLUMNS = ("time", "target", "name", "value")
USER_COLUMNS = ("time", "users")
_EPSILON_S = 1e-6  # as in analysis.windows: interval bounds are rounded to the millisecond when written
# The largest resource reading taken as real (rss_mb: 1 PB; cpu_pct: a million cores; connections).
MAX_RESOURCE_VALUE = 1e9


SWARM_WHOLE_SHARE = 0.99  # a swarm is whole once it holds this share of the most it ever held


def swarm_whole_at(figures: pd.DataFrame) -> float | None:
    """When every target's swarm first held ``SWARM_WHOLE_SHARE`` of the most it ever held
    (``connections_held`` in ``figures.jsonl``), or ``None`` in a run without a swarm. A swarm's
    connects trail Locust's spawning (the engine's gate paces them to what the generator can take):
    until they are done the server is still handshaking, which is the ramp, not its steady state
    (issue 15: the embedded green's CPU mean over a window that began at spawning_complete was the
    trailing connects' as much as the hold's)."""
    held = figures[figures["name"] == "connections_held"]
    if held.empty:
        return None
    moments = []
    for _, rows in held.groupby("target", observed=True):
        most = float(rows["value"].max())
        if most <= 0:
            continue
        reached = rows[rows["value"] >= most * SWARM_WHOLE_SHARE]
        moments.append(float(reached["time"].min()))
    return max(moments) if moments else None


@dataclass(frozen=True)
class RunEvent:
    t: float  # epoch seconds
    event: str  # test_start, spawning_complete, test_stop, …
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunData:
    directory: RunDirectory
    manifest: Manifest
    samples: pd.DataFrame  # SAMPLE_COLUMNS; see loadtests.recorder.rows
    histograms: HistogramStore  # the samples' histograms, by ``hist_id``
    resources: pd.DataFrame  # RESOURCE_COLUMNS, one row per (sampler, second)
    figures: pd.DataFrame  # FIGURE_COLUMNS: run-level gauges (figures.jsonl)
    users: pd.DataFrame  # USER_COLUMNS: Locust's user count over time (its stats history)
    events: list[RunEvent]
    bad_sample_lines: int
    unjudged_rows: int = 0  # sample rows recorded after the run died (``Manifest.orchestrator_lost_at``)
    notes: tuple[str, ...] = ()  # what loading skipped or dropped, one line each (the verdict shows them)
    basis: str = "service"  # the latencies: from the send, or (open model) from the intended start

    def event_time(self, name: str) -> float | None:
        return next((event.t for event in self.events if event.event == name), None)

    @property
    def started_at(self) -> float | None:
        """When load started: Locust's ``test_start``, else the manifest, else the first sample."""
        if (t := self.event_time("test_start")) is not None:
            return t
        if self.manifest.started_at:
            try:
                return datetime.fromisoformat(self.manifest.started_at.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        return float(self.samples["t0"].min()) if len(self.samples) else None

    @property
    def ended_at(self) -> float | None:
        if len(self.samples):
            return float(self.samples["t1"].max())
        return self.event_time("test_stop")

    @property
    def steady_state_from(self) -> float | None:
        """The end of the ramp-up: when Locust finished spawning (or the manifest's estimate), and
        in a swarm run no earlier than the swarm was whole (``swarm_whole_at``)."""
        spawned = self.event_time("spawning_complete")
        if spawned is None:
            spawned = self.manifest.steady_state_from
        whole = swarm_whole_at(self.figures)
        if spawned is not None and whole is not None:
            return max(spawned, whole)
        return spawned

    @property
    def targets(self) -> list[str]:
        colors = [target.color for target in self.manifest.targets]
        return colors or sorted(self.samples["target"].unique())

    @property
    def steady_state_until(self) -> float | None:
        """The steady state's end: when the load began to stop (Locust's ``test_stopping``), or
        ``None`` (open) in a run recorded before that event was. What follows is the teardown (a
        swarm's closes kept the embedded green at 100 % of a core for 10 s) and the cool-down."""
        return self.event_time("test_stopping")

    def window(self, choice: WindowChoice) -> Window:
        return resolve_window(
            choice, started_at=self.started_at, steady_from=self.steady_state_from, steady_until=self.steady_state_until
        )


class _Codes:
    """Text values as small integer codes (a run has a handful of distinct targets, names and
    outcomes over millions of rows): the frame's categorical columns without a string per row."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}

    def encode(self, values: list[str]) -> np.ndarray:
        local, uniques = pd.factorize(np.asarray(values, dtype=object))
        vocabulary = self.vocabulary
        to_global = np.asarray(
            [vocabulary.setdefault(str(value), len(vocabulary)) for value in uniques], dtype=np.int32
        )
        return to_global[local] if len(local) else np.empty(0, dtype=np.int32)

    def categorical(self, codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=list(self.vocabulary))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing millions of lines allocates millions of short-lived dicts and lists; none form
    cycles, yet each allocation burst triggers the cyclic collector, which walks them all: that
    was a third of the load time of a ten-million-sample run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_samples(directory: RunDirectory, basis: Basis) -> tuple[pd.DataFrame, HistogramStore, int]:
    with _collector_paused():
        return _read_sample_chunks(directory, basis)


def _read_sample_chunks(directory: RunDirectory, basis: Basis) -> tuple[pd.DataFrame, HistogramStore, int]:
    reader = directory.iter_samples(basis)
    builder = HistogramStoreBuilder()
    codes = {column: _Codes() for column in TEXT_COLUMNS}
    parts: dict[str, list[np.ndarray]] = {column: [] for column in SAMPLE_COLUMNS}
    try:
        for chunk in reader.chunks():
            columns = chunk.columns
            parts["t0"].append(np.asarray(columns["t0"], dtype=np.float64))
            parts["t1"].append(np.asarray(columns["t1"], dtype=np.float64))
            for column in TEXT_COLUMNS:
                parts[column].append(codes[column].encode(columns[column]))
            for column in COUNT_COLUMNS:
                parts[column].append(np.asarray(columns[column], dtype=np.int64))
            parts["hist_id"].append(builder.add_many(columns["hist"]))
        store = builder.build()
    except HistogramFormatError as error:
        raise RunFormatError(f"{reader.path} holds an unreadable histogram: {error}") from None
    except (TypeError, ValueError) as error:
        raise RunFormatError(f"{reader.path} holds a malformed row: {error}") from None

    def joined(column: str, dtype: type) -> np.ndarray:
        return np.concatenate(parts[column]) if parts[column] else np.empty(0, dtype=dtype)

    frame = pd.DataFrame(
        {
            "t0": joined("t0", np.float64),
            "t1": joined("t1", np.float64),
            **{column: codes[column].categorical(joined(column, np.int32)) for column in TEXT_COLUMNS},
            **{column: joined(column, np.int64) for column in (*COUNT_COLUMNS, "hist_id")},
        }
    )
    return frame, store, reader.bad_lines


def _read_resources(directory: RunDirectory) -> tuple[pd.DataFrame, str | None]:
    """``resources.csv`` as numbers. A reading that is not a finite number in [0, 1e9] (``inf``,
    ``nan``, ``-45``, ``1e400``) is dropped (left empty, like a value not measured), and a row
    without a time in range is dropped whole; the second value says so in one line."""
    resources = pd.DataFrame(list(iter_resource_rows(directory)), columns=list(RESOURCE_COLUMNS))
    dropped = 0
    for column in ("time", "rss_mb", "cpu_pct", "connections"):
        given = resources[column].notna() & (resources[column].astype(str).str.strip() != "")
        values = pd.to_numeric(resources[column], errors="coerce")
        limit = MAX_EPOCH_S if column == "time" else MAX_RESOURCE_VALUE
        values = values.where((values >= 0) & (values <= limit))  # NaN and ±inf fail both comparisons
        dropped += int((given & values.isna()).sum())
        resources[column] = values
    rows = len(resources)
    resources = resources[resources["time"].notna()].reset_index(drop=True)
    for column in ("role", "color"):
        resources[column] = resources[column].fillna("").astype(str)
    note = None
    if dropped:
        note = (
            f"{directory.file('resources.csv')}: {dropped} value(s) that are not finite, non-negative numbers "
            f"dropped ({rows - len(resources)} row(s) without a valid time)"
        )
    return resources, note


def _read_users(directory: RunDirectory) -> pd.DataFrame:
    """Locust's "User Count" per second from its aggregated history rows."""
    rows = [
        (row.get("Timestamp"), row.get("User Count"))
        for row in directory.read_locust_history()
        if row.get("Name") == "Aggregated"
    ]
    users = pd.DataFrame(rows, columns=list(USER_COLUMNS))
    for column in USER_COLUMNS:
        users[column] = pd.to_numeric(users[column], errors="coerce")
    return users.dropna()


def _before(frame: pd.DataFrame, column: str, moment: float) -> pd.DataFrame:
    return frame.loc[frame[column] <= moment].reset_index(drop=True)


def load_run(path: Path | str, *, basis: Basis | None = None) -> RunData:
    """A run directory as frames; ``RunFormatError`` (exit 3) when its manifest or samples are
    not a run this loadbench can read, with one line naming the file and the problem.

    ``basis``: which latencies, ``service`` (from the send: samples.jsonl) or ``response`` (from
    each operation's intended start: samples-response.jsonl, open-model runs only). By default
    ``response`` where the run has it: the time the user waited (``loadtests.recorder.response``).

    A run that died without ending (``Manifest.orchestrator_lost_at``) is loaded up to that
    moment only: whole sample intervals that ended by then, and readings taken by then. What came
    after measured a dying run (backends stopping, users cut off), not the target, and is never
    judged, by ``check``, ``report`` or ``compare`` alike."""
    directory = RunDirectory(path)
    manifest = directory.read_manifest()
    available = directory.has_response_times()
    if basis == "response" and not available:
        raise ConfigError(f"{directory.path}: --basis response needs an open-model run (no {SAMPLES_RESPONSE})")
    basis = basis or ("response" if available else "service")
    samples, histograms, bad_lines = _read_samples(directory, basis)
    figures = pd.DataFrame(
        [(f.t, f.target, f.name, f.value) for f in directory.read_figures()], columns=list(FIGURE_COLUMNS)
    )
    events = [
        RunEvent(float(e["t"]), e["event"], {k: v for k, v in e.items() if k not in ("t", "event")})
        for e in directory.read_events()
    ]
    resources, resource_note = _read_resources(directory)
    users, unjudged = _read_users(directory), 0
    notes = [*directory.problems.values(), *([resource_note] if resource_note else [])]
    if (lost_at := manifest.orchestrator_lost_at) is not None:
        moment = lost_at + _EPSILON_S
        unjudged = int((samples["t1"] > moment).sum())
        samples = _before(samples, "t1", moment)
        figures, resources, users = (_before(frame, "time", moment) for frame in (figures, resources, users))
    return RunData(
        directory=directory,
        manifest=manifest,
        samples=samples,
        histograms=histograms,
        resources=resources,
        figures=figures,
        users=users,
        events=events,
        bad_sample_lines=bad_lines,
        unjudged_rows=unjudged,
        notes=tuple(notes),
        basis=basis,
    )
