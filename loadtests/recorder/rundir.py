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
  - writing: every output goes through ``_write_atomic``, which never follows a symbolic link
    inside the run directory (a linked ``plots/`` is refused; a linked file is replaced, never
    written through) and writes a fresh, unpredictable temporary file first.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import operator
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadtests.errors import ConfigError, InvalidRunError
from loadtests.recorder.rows import ConnectionsRow, SampleRow
from loadtests.recorder.writers import FiguresWriter, ResourcesWriter, RowsWriter
from loadtests.untrusted import (
    GIB,
    KIB,
    MIB,
    UntrustedInputError,
    iter_line_blocks,
    iter_lines,
    read_json,
)

FORMAT_VERSION = 1

RunStatus = Literal["partial", "complete", "invalid"]

MANIFEST = "manifest.json"
RUN_CONFIG = "run-config.json"
SAMPLES = "samples.jsonl"
CONNECTIONS = "connections.jsonl"
RESOURCES = "resources.csv"
VERDICT = "verdict.json"
SUMMARY = "summary.md"
JUNIT = "junit.xml"
EVENTS = "events.jsonl"
STORM_EVENT = "reconnect_storm"  # in events.jsonl: one per restart the run planted (``loadtests.swarm.storm``)
FIGURES = "figures.jsonl"
REPORT = "report.html"
PLOTS_DIR = "plots"
LOCUST_DIR = "locust"
LOCUST_HISTORY = "stats_stats_history.csv"  # Locust's --csv history: one row per second

RESOURCE_COLUMNS = ("time", "role", "color", "pids", "rss_mb", "cpu_pct", "connections")

# What a reader accepts (results/README.md, "Limits"). Sized far above any real run: a week-long
# run at one-second intervals writes ~11 GB of samples; a sample line is below 100 KB.
MANIFEST_MAX_BYTES = 8 * MIB
JSON_MAX_BYTES = 64 * MIB  # verdict.json and the other JSON side files
SAMPLES_MAX_BYTES = 32 * GIB
SAMPLES_MAX_LINE = 1 * MIB
SIDE_MAX_BYTES = 1 * GIB  # events.jsonl, figures.jsonl, resources.csv, Locust's history
SIDE_MAX_LINE = 64 * KIB
MAX_COUNT = 2**32  # count, timed, overflow of one row, and one histogram bucket's count
MAX_NBYTES = 2**34  # bytes of one row
MAX_EPOCH_S = 2**33  # the latest time (epoch seconds, year 2242) a run may hold
MAX_INTERVAL_S = 86_400.0  # the longest interval one sample row may cover
# With these caps no sum over a file within SAMPLES_MAX_BYTES can pass 2**63: counts never wrap.


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
_SHORT_PATH = 160  # characters of a path quoted in a one-line message


def _short(path: Path) -> str:
    """A path for a one-line message: an absurdly long one keeps its ends."""
    text = str(path)
    return text if len(text) <= _SHORT_PATH else f"{text[: _SHORT_PATH // 2 - 1]}…{text[-(_SHORT_PATH // 2) :]}"


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


def strict_json(data: Any, *, indent: int | None = 2) -> str:
    """JSON text, strictly: ``NaN`` or ``Infinity`` raise ``ValueError`` instead of being written
    (they are not JSON: a reader such as ``jq`` or a browser refuses the file)."""
    return json.dumps(data, indent=indent, default=str, allow_nan=False)


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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _shown(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, int) and abs(value) >= 10**6:
        return f"{value:.4g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


_REAL = frozenset((int, float))
_TEXT_FIELDS = ("target", "kind", "name", "user_class", "outcome")
_COUNT_LIMITS = (("count", MAX_COUNT), ("timed", MAX_COUNT), ("nbytes", MAX_NBYTES), ("overflow", MAX_COUNT))


def check_sample_columns(columns: dict[str, list[Any]]) -> tuple[int, str] | None:
    """The first impossible value of a chunk of sample rows, as ``(row index, problem)``, or
    ``None``. Times are epoch seconds in [0, ``MAX_EPOCH_S``] with ``0 <= t1 - t0 <=
    MAX_INTERVAL_S``; names are strings; counts are integers (not booleans) in [0, ``MAX_COUNT``]
    (bytes: ``MAX_NBYTES``); ``hist`` is a string or null. Checked a column at a time."""

    def first(name: str, bad: Callable[[Any], bool], problem: str) -> tuple[int, str]:
        index = next(i for i, value in enumerate(columns[name]) if bad(value))
        return index, f"{name} {_shown(columns[name][index])} {problem}"

    times = {}
    for name in ("t0", "t1"):
        if not set(map(type, columns[name])) <= _REAL:
            return first(name, lambda v: type(v) not in _REAL, "is not a number")
        try:
            values = np.asarray(columns[name], dtype=np.float64)
        except OverflowError:
            values = np.asarray([float("inf") if abs(v) > MAX_EPOCH_S else v for v in columns[name]])
        outside = ~((values >= 0) & (values <= MAX_EPOCH_S))
        if outside.any():
            index = int(np.argmax(outside))
            return index, f"{name} {_shown(columns[name][index])} is not a time (epoch seconds, 0 to 2**33)"
        times[name] = values
    span = times["t1"] - times["t0"]
    wrong = ~((span >= 0) & (span <= MAX_INTERVAL_S))
    if wrong.any():
        index = int(np.argmax(wrong))
        return index, f"interval {_shown(columns['t0'][index])} to {_shown(columns['t1'][index])} is not an interval"
    for name in _TEXT_FIELDS:
        if not set(map(type, columns[name])) <= {str}:
            return first(name, lambda v: type(v) is not str, "is not a string")
    for name, limit in _COUNT_LIMITS:
        if not set(map(type, columns[name])) <= {int}:
            return first(name, lambda v: type(v) is not int, "is not an integer")
        try:
            values = np.asarray(columns[name], dtype=np.int64)
        except OverflowError:
            return first(name, lambda v: abs(v) >= 2**63, f"is beyond the limit of {limit:.4g}")
        if len(values) and values.min() < 0:
            return first(name, lambda v: v < 0, "is negative")
        if len(values) and values.max() > limit:
            return first(name, lambda v, limit=limit: v > limit, f"is beyond the limit of {limit:.4g}")
    if not set(map(type, columns["hist"])) <= {str, type(None)}:
        return first("hist", lambda v: v is not None and type(v) is not str, "is not an encoded histogram")
    return None


class SamplesReader:
    """The rows of ``samples.jsonl``, streamed (memory: one chunk), checked as they come.

    Iterate it for ``SampleRow``s, or call ``chunks()`` for columns: a run of millions of rows is
    parsed a chunk at a time in one ``json.loads`` call, which is several times faster than one
    call and one object per line; each chunk's values are then checked a column at a time
    (``check_sample_columns``). A chunk holding a line that is not a sample row is parsed again
    line by line. Such a line is skipped and counted (``bad_lines``) only when it is the file's
    last: a killed run's truncated write. Anywhere else it is corruption, and so is a row with an
    impossible value: ``RunFormatError`` names the line (exit 3).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bad_lines = 0
        self._suspect: tuple[int, str] | None = None  # an unreadable line: fine only if it is the last

    def __iter__(self) -> Iterator[SampleRow]:
        for chunk in self.chunks():
            columns = [chunk.columns[name] for name in SAMPLE_FIELDS]
            for values in zip(*columns, strict=True):
                yield SampleRow(*values)

    def _refuse(self, line: int, problem: str) -> RunFormatError:
        return RunFormatError(f"{self.path} line {line}: {problem}")

    def chunks(self, rows: int = SAMPLES_PER_CHUNK) -> Iterator[SampleChunk]:
        self.bad_lines, self._suspect = 0, None
        try:
            blocks = iter_line_blocks(self.path, limit=SAMPLES_MAX_BYTES, max_line=SAMPLES_MAX_LINE)
            pending: list[str | None] = []
            first_line = 1
            for block in blocks:
                pending.extend(block)
                while len(pending) >= rows:
                    lines, pending = pending[:rows], pending[rows:]
                    yield self._parse(lines, first_line)
                    first_line += len(lines)
            if pending:
                yield self._parse(pending, first_line)
        except FileNotFoundError:
            return
        except UntrustedInputError as error:
            raise RunFormatError(str(error)) from None
        if self._suspect is not None:
            self.bad_lines += 1

    def _parse(self, lines: list[str | None], first_line: int) -> SampleChunk:
        if self._suspect is not None and any(line is None or line.strip() for line in lines):
            raise self._refuse(*self._suspect)
        try:
            objects = json.loads("[" + ",".join(lines) + "]", parse_constant=_refuse_constant)  # type: ignore[arg-type]
            transposed = zip(*map(_FIELD_GETTER, objects), strict=True) if objects else ((),) * len(SAMPLE_FIELDS)
            columns = {name: list(values) for name, values in zip(SAMPLE_FIELDS, transposed, strict=True)}
            line_numbers = None  # row i is line first_line + i
        except (ValueError, KeyError, TypeError, RecursionError):
            columns, line_numbers = self._parse_lines(lines, first_line)
        problem = check_sample_columns(columns)
        if problem is not None:
            row, text = problem
            raise self._refuse(first_line + row if line_numbers is None else line_numbers[row], text)
        return SampleChunk(columns, len(columns["t0"]))

    def _parse_lines(self, lines: list[str | None], first_line: int) -> tuple[dict[str, list[Any]], list[int]]:
        """Line by line: the rows that parse, and their line numbers; an unreadable line becomes
        the suspect (refused as soon as another line follows it)."""
        good: list[tuple[Any, ...]] = []
        numbers: list[int] = []
        for offset, line in enumerate(lines):
            number = first_line + offset
            if line is not None and not line.strip():
                continue
            if self._suspect is not None:
                raise self._refuse(*self._suspect)
            if line is None:
                self._suspect = (number, f"is longer than {SAMPLES_MAX_LINE // MIB} MiB: not a sample row")
                continue
            try:
                data = json.loads(line, parse_constant=_refuse_constant)
                good.append(_FIELD_GETTER(data))
                numbers.append(number)
            except RecursionError:
                self._suspect = (number, "is nested too deep to be a sample row")
            except (ValueError, KeyError, TypeError):
                self._suspect = (number, "is not a sample row (JSON object with every field of results/README.md)")
        columns = {name: [values[index] for values in good] for index, name in enumerate(SAMPLE_FIELDS)}
        return columns, numbers


@dataclass(frozen=True)
class Figure:
    """One run-level gauge reading (``figures.jsonl``): e.g. the swarm's ``connections_held``."""

    t: float  # epoch seconds
    target: str
    name: str
    value: float


_CONNECTIONS_FIELDS = frozenset(ConnectionsRow.__slots__)


def _epoch(value: Any) -> bool:
    return type(value) in _REAL and 0 <= value <= MAX_EPOCH_S


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
                    raise ConfigError(f"cannot create run directory {_short(candidate)}: {error.strerror}") from None
                (candidate / LOCUST_DIR).mkdir()
                return cls(candidate)
            raise ConfigError(f"{_short(results_root)} already holds {_MAX_SUFFIX} runs named {slug}; clean it up")
        try:
            if out.exists() and not out.is_dir():
                raise ConfigError(f"--out {_short(out)} is a file; name a new or empty directory")
            out.mkdir(parents=True, exist_ok=True)
            if any(out.iterdir()):
                raise ConfigError(f"--out {_short(out)} exists and is not empty; choose a new directory")
            (out / LOCUST_DIR).mkdir()  # the claim: of two runs given the same --out, one gets here
        except FileExistsError:
            raise ConfigError(f"--out {_short(out)} exists and is not empty; choose a new directory") from None
        except OSError as error:
            raise ConfigError(f"cannot create run directory {_short(out)}: {error.strerror}") from None
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
            raise RunFormatError(f"{path}: format_version {_shown(version)} is not a version")
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
    def samples_writer(self) -> RowsWriter[SampleRow]:
        return RowsWriter(self.file(SAMPLES))

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
                    data = json.loads(line, parse_constant=_refuse_constant) if line is not None else None
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
                and type(value) in _REAL
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
        (``_write_atomic``); returns its path."""
        return _write_atomic(self.path, name, data)

    # -- resources ----------------------------------------------------------------------------
    def resources_writer(self) -> ResourcesWriter:
        return ResourcesWriter(self.file(RESOURCES), header=RESOURCE_COLUMNS)


def iter_resource_rows(run: RunDirectory) -> Iterator[dict[str, str]]:
    """The rows of ``resources.csv`` as text (bounded: ``RunDirectory.csv_rows``)."""
    yield from run.csv_rows(RESOURCES)
