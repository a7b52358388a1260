"""The run directory: one module reads and writes it (a public, versioned contract).

Format history (``FORMAT_VERSION``); loaders refuse versions newer than they know:
  1 (2026-11-26) manifest.json, run-config.json, samples.jsonl (per-interval HDR rows, see
    ``rows.SampleRow``), events.jsonl, resources.csv, locust/ (Locust's CSV, HTML and log),
    verdict.json, summary.md. Added within version 1 (readers treat them as optional):
    figures.jsonl (run-level gauges such as ``connections_held``), junit.xml, plots/*.png,
    report.html, connections.jsonl (the swarm's connection counters, ``loadtests.swarm.gauge``).

Everything is written as it is measured: samples are appended and flushed every interval, the
manifest is replaced atomically, and it says ``partial`` until the run ends well. A run killed
with SIGKILL therefore leaves a readable directory whose manifest says ``partial``.

Every output goes through ``_write_atomic``, which never follows a symbolic link inside the run
directory (a linked ``plots/`` is refused; a linked file is replaced, never written through) and
writes a fresh, unpredictable temporary file first.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import itertools
import json
import operator
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadtests.errors import ConfigError, InvalidRunError
from loadtests.recorder.rows import SampleRow

FORMAT_VERSION = 1

RunStatus = Literal["partial", "complete", "invalid"]

MANIFEST = "manifest.json"
RUN_CONFIG = "run-config.json"
SAMPLES = "samples.jsonl"
RESOURCES = "resources.csv"
VERDICT = "verdict.json"
SUMMARY = "summary.md"
JUNIT = "junit.xml"
EVENTS = "events.jsonl"
FIGURES = "figures.jsonl"
REPORT = "report.html"
PLOTS_DIR = "plots"
LOCUST_DIR = "locust"
LOCUST_HISTORY = "stats_stats_history.csv"  # Locust's --csv history: one row per second

RESOURCE_COLUMNS = ("time", "role", "color", "pids", "rss_mb", "cpu_pct", "connections")


class RunFormatError(InvalidRunError):
    """The directory is not a readable run of a format this version knows."""


class TargetInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    color: str
    url: str
    embedded: bool
    dialect: dict[str, Any] = Field(default_factory=dict)
    pid: int | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")  # readers of version 1 ignore fields they do not know

    format_version: int = FORMAT_VERSION
    run_id: str
    status: RunStatus = "partial"
    profile_name: str
    profile: dict[str, Any] = Field(default_factory=dict)  # resolved, secrets removed
    target_mode: str
    targets: list[TargetInfo] = Field(default_factory=list)
    started_at: str
    ended_at: str | None = None
    steady_state_from: float | None = None  # epoch seconds: the end of the ramp-up
    interval_s: float = 1.0
    versions: dict[str, str] = Field(default_factory=dict)
    git_sha: str | None = None
    host: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    invalid_reason: str | None = None
    exit_code: int | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _open_subdirectory(parent_fd: int, name: str, shown: Path) -> int:
    """The directory ``name`` under ``parent_fd`` (created when missing), never through a link."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, dir_fd=parent_fd)
    try:
        return os.open(name, _DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            what = "a symbolic link" if os.path.islink(shown) else "not a directory"
            raise RunFormatError(f"{shown} is {what}; loadbench does not write through it (remove it)") from None
        raise


def _write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """Write ``folder/name`` (``name`` may be ``plots/x.png``) atomically, following no symbolic
    link below ``folder``: each folder of ``name`` is opened with ``O_NOFOLLOW`` (a link is
    refused), the data go to a fresh temporary file created with ``O_EXCL | O_NOFOLLOW`` (a link
    planted there is never written through) and are renamed over the final name (a link there
    is replaced, not followed). ``folder`` itself is the one the user named and may be a link."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        raise ValueError(f"not a name inside the run directory: {name!r}")
    fd = os.open(folder, _DIRECTORY_FLAGS)
    try:
        for depth, part in enumerate(parts[:-1]):
            inner = _open_subdirectory(fd, part, folder.joinpath(*parts[: depth + 1]))
            os.close(fd)
            fd = inner
        final = parts[-1]
        try:
            existing = os.stat(final, dir_fd=fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            existing = None
        if existing is not None and not (stat.S_ISREG(existing) or stat.S_ISLNK(existing)):
            raise RunFormatError(f"{folder / name} exists and is not a regular file; remove it")
        tmp = f".{final}.{secrets.token_hex(6)}.tmp"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=fd)
        try:
            with os.fdopen(out, "wb") as handle:
                handle.write(data)
            os.replace(tmp, final, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            raise
    finally:
        os.close(fd)
    return folder / name


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``path`` atomically without following a link at its name (see ``_write_atomic``):
    for outputs outside a run directory (``report --out``, the run index, the pinned baseline)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_atomic(path.parent, path.name, payload)


@dataclass(frozen=True)
class SamplesReadResult:
    rows: list[SampleRow]
    bad_lines: int  # a truncated last line (a killed run) or corruption


SAMPLE_FIELDS: tuple[str, ...] = tuple(SampleRow.__slots__)
SAMPLES_PER_CHUNK = 10_000
_FIELD_GETTER = operator.itemgetter(*SAMPLE_FIELDS)


@dataclass(frozen=True)
class SampleChunk:
    """Consecutive rows of ``samples.jsonl`` as columns: one list per ``SampleRow`` field."""

    columns: dict[str, list[Any]]
    size: int


class SamplesReader:
    """The rows of ``samples.jsonl``, streamed (memory: one chunk), counting unreadable lines.

    Iterate it for ``SampleRow``s, or call ``chunks()`` for columns: a run of millions of rows is
    parsed a chunk at a time in one ``json.loads`` call, which is several times faster than one
    call and one object per line. A chunk holding a bad line (the truncated last line of a killed
    run) is parsed again line by line, and only the bad line is skipped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bad_lines = 0

    def __iter__(self) -> Iterator[SampleRow]:
        for chunk in self.chunks():
            columns = [chunk.columns[name] for name in SAMPLE_FIELDS]
            for values in zip(*columns, strict=True):
                yield SampleRow(*values)

    def chunks(self, rows: int = SAMPLES_PER_CHUNK) -> Iterator[SampleChunk]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            while lines := [line for line in itertools.islice(handle, rows) if line.strip()]:
                yield self._parse(lines)

    def _parse(self, lines: list[str]) -> SampleChunk:
        try:
            objects = json.loads("[" + ",".join(lines) + "]")
            transposed = zip(*map(_FIELD_GETTER, objects), strict=True) if objects else ((),) * len(SAMPLE_FIELDS)
            columns = {name: list(values) for name, values in zip(SAMPLE_FIELDS, transposed, strict=True)}
            return SampleChunk(columns, len(objects))
        except (ValueError, KeyError, TypeError):
            pass
        good: list[SampleRow] = []
        for line in lines:
            try:
                good.append(SampleRow.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                self.bad_lines += 1
        columns = {name: [getattr(row, name) for row in good] for name in SAMPLE_FIELDS}
        return SampleChunk(columns, len(good))


@dataclass(frozen=True)
class Figure:
    """One run-level gauge reading (``figures.jsonl``): e.g. the swarm's ``connections_held``."""

    t: float  # epoch seconds
    target: str
    name: str
    value: float


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines file; a truncated or corrupt line (a killed run) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                yield data


class RunDirectory:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, *, out: Path | None, results_root: Path, profile: str, target: str) -> RunDirectory:
        """``out`` is used exactly when given; otherwise ``<results_root>/<UTC timestamp>-<profile>-<target>``."""
        if out is None:
            stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{stamp}-{profile}-{target}")
            out = results_root / slug
            suffix = 1
            while out.exists():
                suffix += 1
                out = results_root / f"{slug}-{suffix}"
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"--out {out} exists and is not empty; choose a new directory")
        try:
            (out / LOCUST_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot create run directory {out}: {error.strerror}") from None
        return cls(out)

    # -- paths --------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def locust_dir(self) -> Path:
        return self.path / LOCUST_DIR

    # -- manifest -----------------------------------------------------------------------------
    def write_manifest(self, manifest: Manifest) -> None:
        _write_atomic(self.path, MANIFEST, (manifest.model_dump_json(indent=2) + "\n").encode("utf-8"))

    def read_manifest(self) -> Manifest:
        path = self.file(MANIFEST)
        if not path.is_file():
            raise RunFormatError(f"{self.path} is not a run directory: {MANIFEST} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RunFormatError(f"{path} is not readable JSON: {error}") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise RunFormatError(f"{path} has no format_version")
        if version > FORMAT_VERSION:
            raise RunFormatError(
                f"{self.path} has run format version {version}; this loadbench reads up to {FORMAT_VERSION}: upgrade"
            )
        try:
            return Manifest.model_validate(data)
        except ValidationError as error:
            raise RunFormatError(
                f"{path} does not match format version {version}: {error.errors()[0]['msg']}"
            ) from None

    def update_manifest(self, **changes: Any) -> Manifest:
        manifest = self.read_manifest().model_copy(update=changes)
        self.write_manifest(manifest)
        return manifest

    # -- JSON side files ----------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        path = self.file(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFormatError(f"{self.path} has no {name}") from None
        except (OSError, ValueError) as error:
            raise RunFormatError(f"{path} is not readable JSON: {error}") from None

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    # -- samples ------------------------------------------------------------------------------
    def samples_writer(self) -> SamplesWriter:
        return SamplesWriter(self.file(SAMPLES))

    def iter_samples(self) -> SamplesReader:
        return SamplesReader(self.file(SAMPLES))

    def read_samples(self) -> SamplesReadResult:
        reader = self.iter_samples()
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
        """``events.jsonl``: ``{"t": epoch s, "event": name, ...}`` per line."""
        return [event for event in _json_lines(self.file(EVENTS)) if "event" in event and "t" in event]

    def figures_writer(self) -> FiguresWriter:
        return FiguresWriter(self.file(FIGURES))

    def read_figures(self) -> list[Figure]:
        figures = []
        for data in _json_lines(self.file(FIGURES)):
            try:
                figures.append(Figure(float(data["t"]), str(data["target"]), str(data["name"]), float(data["value"])))
            except (KeyError, TypeError, ValueError):
                continue
        return figures

    # -- Locust's own files -------------------------------------------------------------------
    def read_locust_history(self) -> list[dict[str, str]]:
        """Rows of Locust's ``stats_stats_history.csv`` (empty when Locust did not write it)."""
        path = self.locust_dir / LOCUST_HISTORY
        if not path.exists():
            return []
        with path.open(encoding="utf-8", newline="", errors="replace") as handle:
            return list(csv.DictReader(handle))

    # -- rendered outputs ---------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``name`` (may be ``plots/x.png``) atomically, through no symbolic link
        (``_write_atomic``); returns its path."""
        return _write_atomic(self.path, name, data)

    # -- resources ----------------------------------------------------------------------------
    def resources_writer(self) -> ResourcesWriter:
        return ResourcesWriter(self.file(RESOURCES))


class SamplesWriter:
    """Appends rows and flushes them, so a killed process loses at most the interval in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = path.open("a", encoding="utf-8")

    def write(self, rows: Iterable[SampleRow]) -> int:
        if self._handle is None:
            return 0
        count = 0
        for row in rows:
            self._handle.write(row.to_json() + "\n")
            count += 1
        if count:
            self._handle.flush()
        return count

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


class FiguresWriter:
    """Appends run-level gauge readings to ``figures.jsonl`` and flushes each one.

    For processes other than Locust that measure something per target (the swarm writes
    ``connections_held``: the connections it holds open at that moment). Several processes may
    append to the same file: each line is written with one ``write`` call.
    """

    def __init__(self, path: Path) -> None:
        self._handle: TextIO | None = path.open("a", encoding="utf-8")

    def write(self, target: str, name: str, value: float, *, t: float | None = None) -> None:
        if self._handle is None:
            return
        stamp = time.time() if t is None else t
        line = json.dumps({"t": round(stamp, 3), "target": target, "name": name, "value": value})
        self._handle.write(line + "\n")
        self._handle.flush()

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


class ResourcesWriter:
    def __init__(self, path: Path) -> None:
        new = not path.exists()
        self._handle: TextIO | None = path.open("a", encoding="utf-8", newline="")
        self._csv = csv.writer(self._handle)
        if new:
            self._csv.writerow(RESOURCE_COLUMNS)
            self._handle.flush()

    def write(self, rows: Iterable[tuple[Any, ...]]) -> None:
        if self._handle is None:
            return
        self._csv.writerows(rows)
        self._handle.flush()

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


def iter_resource_rows(run: RunDirectory) -> Iterator[dict[str, str]]:
    path = run.file(RESOURCES)
    if not path.exists():
        return
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)
