"""The run directory: one module reads and writes it (a public, versioned contract).

Format history (``FORMAT_VERSION``); loaders refuse versions newer than they know:
  1 (2026-11-26) manifest.json, run-config.json, samples.jsonl (per-interval HDR rows, see
    ``rows.SampleRow``), events.jsonl, resources.csv, locust/ (Locust's CSV, HTML and log),
    verdict.json, summary.md. Added within version 1 (readers treat them as optional):
    figures.jsonl (run-level gauges such as ``connections_held``), junit.xml, plots/*.png,
    report.html, connections.jsonl (the swarm's connection counters, ``loadtests.swarm.gauge``),
    manifest ``orchestrator_lost_at`` (a run killed without ending: samples after it are not judged).

Everything is written as it is measured: samples are appended and flushed every interval, the
manifest is replaced atomically, and it says ``partial`` until the run ends well. A run killed
with SIGKILL therefore leaves a readable directory whose manifest says ``partial`` (and when the
run was last seen alive: ``loadtests.parent_watch``).

A run directory is untrusted input (it may come from an artifact, a colleague, an attacker):
  - reading: only regular files, each under a size cap and a line-length cap, strict JSON nested
    at most ``loadtests.untrusted.MAX_DEPTH`` deep (``loadtests.untrusted``). The manifest and
    ``samples.jsonl`` are the evidence: a problem in them refuses the run (``RunFormatError``,
    exit 3, one line naming the file and, for samples, the line), except an unreadable *last*
    line of ``samples.jsonl`` (a killed run's truncated write), which is skipped and counted. A
    sample row whose values are impossible (``check_sample_columns``) refuses the run. The other
    files are written by several processes and are auxiliary: an unreadable line or value is
    skipped, and ``problems`` says what was skipped (the verdict's notes show it).
  - writing: every output goes through ``atomic.write_into``, which never follows a symbolic link
    inside the run directory (a linked ``plots/`` is refused; a linked file is replaced, never
    written through) and writes a fresh, unpredictable temporary file first.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadtests.errors import ConfigError
from loadtests.recorder.atomic import strict_json, write_atomic, write_into

__all__ = [  # the model and the directory, and the format's names its readers take from here
    "CONNECTIONS", "EVENTS", "FIGURES", "MANIFEST", "MAX_COUNT", "MAX_EPOCH_S", "RESOURCE_COLUMNS", "SAMPLES",
    "VERDICT", "Figure", "Manifest", "RunDirectory", "TargetInfo", "iter_resource_rows", "strict_json", "utc_now",
    "write_atomic",
]  # fmt: skip
from loadtests.recorder.format import (
    ARRIVALS,
    CONNECTIONS,
    EVENTS,
    FIGURES,
    FORMAT_VERSION,
    JSON_MAX_BYTES,
    LOCUST_DIR,
    LOCUST_HISTORY,
    MANIFEST,
    MANIFEST_MAX_BYTES,
    MAX_COUNT,
    MAX_EPOCH_S,
    RESOURCE_COLUMNS,
    RESOURCES,
    SAMPLES,
    SAMPLES_BY_BASIS,
    SAMPLES_RESPONSE,
    SIDE_MAX_BYTES,
    SIDE_MAX_LINE,
    STORM_EVENT,
    VERDICT,
    Basis,
    RunFormatError,
    RunStatus,
    short_path,
    utc_now,
)
from loadtests.recorder.rows import ArrivalsRow, ConnectionsRow, SampleRow
from loadtests.recorder.samples import (
    REAL_TYPES,
    SamplesReader,
    SamplesReadResult,
    refuse_constant,
    shown,
)
from loadtests.recorder.writers import FiguresWriter, ResourcesWriter, RowsWriter
from loadtests.untrusted import (
    UntrustedInputError,
    iter_lines,
    read_json,
)


class TargetInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    color: str
    url: str
    embedded: bool
    dialect: dict[str, Any] = Field(default_factory=dict)
    pid: int | None = None


class Manifest(BaseModel):
    # readers of version 1 ignore fields they do not know; numbers are finite (JSON has no NaN)
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    format_version: int = FORMAT_VERSION
    run_id: str
    status: RunStatus = "partial"
    profile_name: str
    profile: dict[str, Any] = Field(default_factory=dict)  # resolved, secrets removed
    target_mode: str
    targets: list[TargetInfo] = Field(default_factory=list)
    started_at: str
    ended_at: str | None = None
    steady_state_from: float | None = Field(default=None, ge=0, le=MAX_EPOCH_S)  # epoch s: the end of the ramp-up
    interval_s: float = Field(default=1.0, gt=0, le=3600)
    versions: dict[str, str] = Field(default_factory=dict)
    git_sha: str | None = None
    host: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    # What the preflight found that the run will meet (a defect of a target): the verdict names them.
    preflight_notes: list[str] = Field(default_factory=list)
    invalid_reason: str | None = None
    exit_code: int | None = None
    # Epoch seconds: the run died without ending (SIGKILL…) and was last seen alive then; written by
    # the Locust process that noticed. Samples after it are not judged.
    orchestrator_lost_at: float | None = Field(default=None, allow_inf_nan=False)


_MAX_SUFFIX = 1000  # runs of the same profile and target started within the same second


@dataclass(frozen=True)
class Figure:
    """One run-level gauge reading (``figures.jsonl``): e.g. the swarm's ``connections_held``."""

    t: float  # epoch seconds
    target: str
    name: str
    value: float


_CONNECTIONS_FIELDS = frozenset(ConnectionsRow.__slots__)
_ARRIVALS_FIELDS = frozenset(ArrivalsRow.__slots__)


def _epoch(value: Any) -> bool:
    return type(value) in REAL_TYPES and 0 <= value <= MAX_EPOCH_S


class RunDirectory:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        # What the readers skipped, by file (an unreadable line, a value out of range): one line
        # each, for the verdict's notes. Replaced each time a file is read again.
        self.problems: dict[str, str] = {}

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, *, out: Path | None, results_root: Path, profile: str, target: str) -> RunDirectory:
        """``out`` is used exactly when given; otherwise ``<results_root>/<UTC timestamp>-<profile>-<target>``.

        Atomic: two runs started at the same instant never share a directory. A generated name is
        taken by ``mkdir`` itself (which fails for all but one caller), the next suffix on a
        collision; a given ``--out`` (new, or existing and empty) is claimed by creating its
        ``locust/`` folder, which only one caller can do."""
        if out is None:
            stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{stamp}-{profile}-{target}")
            for suffix in range(1, _MAX_SUFFIX + 1):
                candidate = results_root / (slug if suffix == 1 else f"{slug}-{suffix}")
                try:
                    candidate.mkdir(parents=True)
                except FileExistsError:
                    continue
                except OSError as error:
                    raise ConfigError(
                        f"cannot create run directory {short_path(candidate)}: {error.strerror}"
                    ) from None
                (candidate / LOCUST_DIR).mkdir()
                return cls(candidate)
            raise ConfigError(f"{short_path(results_root)} already holds {_MAX_SUFFIX} runs named {slug}; clean it up")
        try:
            if out.exists() and not out.is_dir():
                raise ConfigError(f"--out {short_path(out)} is a file; name a new or empty directory")
            out.mkdir(parents=True, exist_ok=True)
            if any(out.iterdir()):
                raise ConfigError(f"--out {short_path(out)} exists and is not empty; choose a new directory")
            (out / LOCUST_DIR).mkdir()  # the claim: of two runs given the same --out, one gets here
        except FileExistsError:
            raise ConfigError(f"--out {short_path(out)} exists and is not empty; choose a new directory") from None
        except OSError as error:
            raise ConfigError(f"cannot create run directory {short_path(out)}: {error.strerror}") from None
        return cls(out)

    # -- paths --------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def locust_dir(self) -> Path:
        return self.path / LOCUST_DIR

    # -- manifest -----------------------------------------------------------------------------
    def write_manifest(self, manifest: Manifest) -> None:
        write_into(self.path, MANIFEST, (manifest.model_dump_json(indent=2) + "\n").encode("utf-8"))

    def read_manifest(self) -> Manifest:
        path = self.file(MANIFEST)
        try:
            data = read_json(path, limit=MANIFEST_MAX_BYTES)
        except FileNotFoundError:
            raise RunFormatError(f"{self.path} is not a run directory: {MANIFEST} is missing") from None
        except UntrustedInputError as error:
            raise RunFormatError(str(error)) from None
        if not isinstance(data, dict):
            raise RunFormatError(f"{path} is not a JSON object")
        version = data.get("format_version")
        if type(version) is not int:  # True is an int to isinstance: it is no version
            if "format_version" not in data:
                raise RunFormatError(f"{path} has no format_version")
            raise RunFormatError(f"{path}: format_version {shown(version)} is not a version")
        if version < 1:
            raise RunFormatError(f"{path}: format_version {version} is not a version")
        if version > FORMAT_VERSION:
            raise RunFormatError(
                f"{self.path} has run format version {version}; this loadbench reads up to {FORMAT_VERSION}: upgrade"
            )
        try:  # strict: no number from a string or a boolean (the suite writes numbers)
            return Manifest.model_validate(data, strict=True)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise RunFormatError(
                f"{path} does not match format version {version}: {where + ': ' if where else ''}{first['msg']}"
            ) from None

    def update_manifest(self, **changes: Any) -> Manifest:
        manifest = self.read_manifest().model_copy(update=changes)
        self.write_manifest(manifest)
        return manifest

    # -- JSON side files ----------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        """Strict JSON (``strict_json``): a ``NaN`` raises instead of making the file unreadable."""
        self.write_text(name, strict_json(data) + "\n")

    def read_json(self, name: str) -> Any:
        path = self.file(name)
        try:
            return read_json(path, limit=JSON_MAX_BYTES)
        except FileNotFoundError:
            raise RunFormatError(f"{self.path} has no {name}") from None
        except UntrustedInputError as error:
            raise RunFormatError(str(error)) from None

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    # -- verdict.json (its content: ``analysis.slo.Verdict.to_json``) -------------------------
    def write_verdict(self, data: dict[str, Any]) -> Path:
        """``verdict.json``, strict JSON; returns its path."""
        return self.write_text(VERDICT, strict_json(data) + "\n")

    def read_verdict(self) -> dict[str, Any]:
        """``verdict.json``; ``RunFormatError`` when it is missing, unreadable or not a JSON object."""
        data = self.read_json(VERDICT)
        if not isinstance(data, dict):
            raise RunFormatError(f"{self.file(VERDICT)} is not a JSON object")
        return data

    # -- samples ------------------------------------------------------------------------------
    def samples_writer(self, basis: Basis = "service") -> RowsWriter[SampleRow]:
        return RowsWriter(self.file(SAMPLES_BY_BASIS[basis]))

    def iter_samples(self, basis: Basis = "service") -> SamplesReader:
        return SamplesReader(self.file(SAMPLES_BY_BASIS[basis]))

    def has_response_times(self) -> bool:
        """An open-model run: its samples-response.jsonl holds response times from intended starts."""
        return self.file(SAMPLES_RESPONSE).is_file()

    def read_samples(self, basis: Basis = "service") -> SamplesReadResult:
        reader = self.iter_samples(basis)
        rows = list(reader)
        return SamplesReadResult(rows, reader.bad_lines)

    # -- events and figures -------------------------------------------------------------------
    def append_event(self, event: str, *, t: float | None = None, **fields: Any) -> None:
        """One line of ``events.jsonl`` (appended and closed: a killed run keeps it)."""
        stamp = time.time() if t is None else t
        line = json.dumps({"t": round(stamp, 3), "event": event, **fields})
        with self.file(EVENTS).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read_events(self) -> list[dict[str, Any]]:
        """``events.jsonl``: ``{"t": epoch s, "event": name, ...}`` per line (a line without a
        time in range or a name is skipped, and counted in ``problems``)."""
        return list(self._json_lines(EVENTS, lambda e: _epoch(e.get("t")) and type(e.get("event")) is str))

    def spawning_completed_at(self) -> float | None:
        """When Locust had started every user (the first ``spawning_complete`` event), or ``None``."""
        return next((float(e["t"]) for e in self.read_events() if e["event"] == "spawning_complete"), None)

    def append_storm(self, *, t: float, **fields: Any) -> None:
        """One ``reconnect_storm`` event: a target killed at ``t`` and restarted (``StormResult``)."""
        self.append_event(STORM_EVENT, t=t, **fields)

    def read_storms(self) -> list[dict[str, Any]]:
        """The run's ``reconnect_storm`` events, in the order they were written."""
        return [event for event in self.read_events() if event["event"] == STORM_EVENT]

    def _json_lines(self, name: str, valid: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
        """Objects of a JSON-lines side file (written by several processes, so a killed one may
        leave a truncated line anywhere): a line that is not a ``valid`` JSON object is skipped
        and counted; a file that cannot be read is skipped whole. Either way ``problems[name]``."""
        self.problems.pop(name, None)
        skipped = 0
        try:
            for line in iter_lines(self.file(name), limit=SIDE_MAX_BYTES, max_line=SIDE_MAX_LINE):
                if line is not None and not line.strip():
                    continue
                try:
                    data = json.loads(line, parse_constant=refuse_constant) if line is not None else None
                except (ValueError, RecursionError):
                    data = None
                if isinstance(data, dict) and valid(data):
                    yield data
                else:
                    skipped += 1
        except FileNotFoundError:
            return
        except UntrustedInputError as error:
            self.problems[name] = f"{error}: skipped"
            return
        if skipped:
            self.problems[name] = f"{self.file(name)}: {skipped} unreadable or out-of-range line(s) skipped"

    def figures_writer(self) -> FiguresWriter:
        return FiguresWriter(self.file(FIGURES))

    def read_figures(self) -> list[Figure]:
        """``figures.jsonl``: a reading whose time or value is not a finite number in range (or
        whose names are not strings) is skipped and counted in ``problems``."""

        def valid(data: dict[str, Any]) -> bool:
            value = data.get("value")
            return (
                _epoch(data.get("t"))
                and type(value) in REAL_TYPES
                and math.isfinite(value)
                and 0 <= value <= MAX_COUNT
                and type(data.get("target")) is str
                and type(data.get("name")) is str
            )

        return [
            Figure(float(data["t"]), data["target"], data["name"], float(data["value"]))
            for data in self._json_lines(FIGURES, valid)
        ]

    # -- the swarm's connection counters ------------------------------------------------------
    def connections_writer(self) -> RowsWriter[ConnectionsRow]:
        return RowsWriter(self.file(CONNECTIONS))

    def read_connections(self) -> Iterator[ConnectionsRow]:
        """``connections.jsonl`` (``loadtests.swarm.gauge``): a line that is not a row (a killed
        process's truncated write) is skipped and counted in ``problems``."""
        for data in self._json_lines(CONNECTIONS, _CONNECTIONS_FIELDS.issubset):
            yield ConnectionsRow.from_dict(data)

    # -- an open-model run's schedule (loadtests.recorder.schedule) ----------------------------
    def arrivals_writer(self) -> RowsWriter[ArrivalsRow]:
        return RowsWriter(self.file(ARRIVALS))

    def read_arrivals(self) -> Iterator[ArrivalsRow]:
        for data in self._json_lines(ARRIVALS, _ARRIVALS_FIELDS.issubset):
            yield ArrivalsRow.from_dict(data)

    # -- Locust's own files -------------------------------------------------------------------
    def read_locust_history(self) -> list[dict[str, str]]:
        """Rows of Locust's ``stats_stats_history.csv`` (empty when Locust did not write it)."""
        return list(self.csv_rows(f"{LOCUST_DIR}/{LOCUST_HISTORY}"))

    def csv_rows(self, name: str) -> Iterator[dict[str, str]]:
        """The rows of a CSV side file as dicts (a row that does not parse is skipped and
        counted in ``problems``; a file that cannot be read is skipped whole)."""
        self.problems.pop(name, None)
        skipped = 0

        def lines() -> Iterator[str]:
            nonlocal skipped
            for line in iter_lines(self.file(name), limit=SIDE_MAX_BYTES, max_line=SIDE_MAX_LINE):
                if line is None:
                    skipped += 1
                else:
                    yield line + "\n"

        reader = csv.reader(lines())  # a quoted field may hold a newline: records are not lines
        header: list[str] | None = None
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error:  # NUL, a field over csv's limit: the record is skipped
                    skipped += 1
                    continue
                if not any(cell.strip() for cell in cells):
                    continue
                if header is None:
                    header = cells
                elif len(cells) > len(header):
                    skipped += 1
                else:
                    yield dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
        except FileNotFoundError:
            return
        except UntrustedInputError as error:
            self.problems[name] = f"{error}: skipped"
            return
        if skipped:
            self.problems[name] = f"{self.file(name)}: {skipped} unreadable line(s) skipped"

    # -- rendered outputs ---------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``name`` (may be ``plots/x.png``) atomically, through no symbolic link
        (``atomic.write_into``); returns its path."""
        return write_into(self.path, name, data)

    # -- resources ----------------------------------------------------------------------------
    def resources_writer(self) -> ResourcesWriter:
        return ResourcesWriter(self.file(RESOURCES), header=RESOURCE_COLUMNS)


def iter_resource_rows(run: RunDirectory) -> Iterator[dict[str, str]]:
    """The rows of ``resources.csv`` as text (bounded: ``RunDirectory.csv_rows``)."""
    yield from run.csv_rows(RESOURCES)
