"""Run history: a local index of runs (``index.csv``), trends of a metric across runs, and the
pinned baseline that ``loadbench compare NEW`` compares against.

The index lives beside the run directories, in their parent folder (``results/`` by default, so
``results/index.csv``): one row per run and target, rewritten atomically under a file lock. It is
pandas-readable (``pd.read_csv``); columns are documented in results/README.md. A row is derived
from the run directory alone (manifest, verdict.json, samples), so ``rebuild_index`` can recreate
the file from the directories at any time.

The pinned baseline is ``baseline.json`` in the same folder.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.escape import mpl_text
from analysis.fingerprint import load_fingerprint
from analysis.hdr import Histogram
from analysis.load import RunData, load_run
from analysis.stats import OK, grouped_latency, outcome_counts, percentile_ms
from loadtests.errors import ConfigError, LoadbenchError
from loadtests.recorder.rundir import MANIFEST, RunDirectory, write_atomic
from loadtests.untrusted import MIB, UntrustedInputError, loads_json, read_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INDEX = "index.csv"
BASELINE = "baseline.json"
_LOCK = ".index.lock"
INDEX_MAX_BYTES = 256 * MIB  # index.csv (a row per run and target) and baseline.json are read within these
BASELINE_MAX_BYTES = 1 * MIB
P95_PREFIX = "p95_ms:"
# Always present (a stable header for scripts); the p95 of any other metric the run has follows.
KEY_METRICS = ("http", "chat.complete", "chat.first_token", "chat.connect", "auth.login", "chat.history", "health")
COLUMNS = (
    "run_id", "run", "path", "started_at", "ended_at", "profile", "profile_hash", "target_mode", "color", "status",
    "exit_code", "verdict", "checks_failed", "samples", "error_rate_pct",
    *(P95_PREFIX + name for name in KEY_METRICS),
    "git_sha", "loadbench_version", "indexed_at",
)  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _target_verdict(checks: Sequence[dict[str, Any]], color: str) -> tuple[str, str]:
    """``(pass|fail|no verdict|"", failed check names)`` of one target in ``verdict.json``."""
    mine = [check for check in checks if check.get("target") == color]
    if not mine:
        return "", ""
    failed = [str(check.get("name")) for check in mine if check.get("passed") is False]
    if failed:
        return "fail", " ".join(failed)
    if any(check.get("passed") is None and check.get("required", True) for check in mine):
        return "no verdict", ""
    return "pass", ""


def _p95s(run: RunData, rows: pd.DataFrame) -> dict[str, float | None]:
    values: dict[str, float | None] = {P95_PREFIX + name: None for name in KEY_METRICS}
    groups, merged = grouped_latency(rows, run.histograms, ["name"])
    p95 = merged.percentile_us(95)
    for name, group in zip(groups["name"], groups["group"], strict=True):
        if p95[group] >= 0:
            values[P95_PREFIX + str(name)] = round(float(p95[group]) / 1000.0, 3)
    http = rows[(rows["kind"] == "http") & (rows["outcome"] == OK) & (rows["hist_id"] >= 0)]
    values[P95_PREFIX + "http"] = percentile_ms(Histogram.of(run.histograms, http["hist_id"].to_numpy()), 95)
    return values


def index_rows(run: RunData) -> list[dict[str, Any]]:
    """One row per target of the run: identity, status, verdict, steady-state error rate and p95s."""
    directory = run.directory
    manifest = directory.read_manifest()  # fresh: the orchestrator writes the exit code last
    try:
        checks = directory.read_verdict().get("checks", [])
    except LoadbenchError:
        checks = []
    window = run.window("steady")
    rows = []
    for color in run.targets:
        selected = run.samples[run.samples["target"] == color]
        steady = selected[window.interval_mask(selected)]
        counts = outcome_counts(steady)
        verdict, failed = _target_verdict(checks, color)
        error_rate = counts.error_rate()
        rows.append(
            {
                "run_id": manifest.run_id,
                "run": directory.path.name,
                "path": str(directory.path.resolve()),
                "started_at": manifest.started_at,
                "ended_at": manifest.ended_at or "",
                "profile": manifest.profile_name,
                "profile_hash": load_fingerprint(manifest.profile or {}),
                "target_mode": manifest.target_mode,
                "color": color,
                "status": manifest.status,
                "exit_code": "" if manifest.exit_code is None else manifest.exit_code,
                "verdict": verdict,
                "checks_failed": failed,
                "samples": int(selected["count"].sum()),
                "error_rate_pct": "" if error_rate is None else round(error_rate, 4),
                **{key: ("" if value is None else value) for key, value in _p95s(run, steady).items()},
                "git_sha": manifest.git_sha or "",
                "loadbench_version": manifest.versions.get("loadbench", ""),
                "indexed_at": _now(),
            }
        )
    return rows


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Two runs ending at once must not lose each other's rows."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / _LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _index_text(path: Path) -> str | None:
    """``index.csv`` (``None`` when there is none), read within its cap, from a regular file only."""
    try:
        return read_text(path, limit=INDEX_MAX_BYTES)
    except FileNotFoundError:
        return None
    except UntrustedInputError as error:
        raise ConfigError(f"{error}: `loadbench history --rebuild` recreates it") from None


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = _index_text(path)
    if text is None:
        return [], []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as error:
        raise ConfigError(f"{path} is not a readable index ({error}): `loadbench history --rebuild`") from None


def _write_rows(path: Path, rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> None:
    known = list(COLUMNS)
    others = sorted({key for row in rows for key in row if key not in known} | set(extra) - set(known))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=known + others, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def add_to_index(run: RunData, folder: Path | None = None) -> Path:
    """Add (or replace) the run's rows in ``folder/index.csv`` (default: the run's parent folder)."""
    folder = folder if folder is not None else run.directory.path.resolve().parent
    path = folder / INDEX
    new = index_rows(run)
    with _locked(folder):
        header, rows = _read_rows(path)
        replaced = {(row["run_id"], row["color"]) for row in new}
        kept = [row for row in rows if (row.get("run_id"), row.get("color")) not in replaced]
        kept.sort(key=lambda row: row.get("started_at", ""))
        _write_rows(path, [*kept, *new], extra=header)
    return path


def index_run(run_dir: Path, run: RunData | None = None) -> str | None:
    """What ``loadbench run`` calls at its end. Never raises: a run's result matters more than its
    index entry, so a problem is returned as one line for the caller to show."""
    try:
        add_to_index(run if run is not None else load_run(run_dir))
    except Exception as error:  # best effort by design: the verdict is already written
        return f"not added to the run index ({run_dir.resolve().parent / INDEX}): {type(error).__name__}: {error}"
    return None


def rebuild_index(folder: Path, on_skip: Callable[[str], None] | None = None) -> Path:
    """Recreate ``folder/index.csv`` from the run directories in ``folder``. A directory that
    cannot be indexed (unreadable, refused as a run) is skipped, ``on_skip`` told why in one line
    (naming the directory and the problem), and the rebuild carries on with the next."""
    rows: list[dict[str, Any]] = []
    # Every folder holding a manifest.json entry, even a broken link: it was meant to be a run.
    children = folder.iterdir() if folder.is_dir() else iter(())
    manifests = sorted(path / MANIFEST for path in children if os.path.lexists(path / MANIFEST))
    for manifest in manifests:
        try:
            rows += index_rows(load_run(manifest.parent))
        except LoadbenchError as error:  # the readers' errors name the file and the problem
            if on_skip is not None:
                on_skip(str(error) if str(manifest.parent) in str(error) else f"{manifest.parent}: {error}")
        except (ValueError, ArithmeticError, OSError) as error:  # not expected: still one run, not the folder
            if on_skip is not None:
                on_skip(f"{manifest.parent}: cannot be indexed ({type(error).__name__}: {error})")
    rows.sort(key=lambda row: row.get("started_at", ""))
    with _locked(folder):
        _write_rows(folder / INDEX, rows)
    return folder / INDEX


def read_index(folder: Path) -> pd.DataFrame:
    path = folder / INDEX
    text = _index_text(path)
    if text is None:
        raise ConfigError(
            f"no run index at {path}: runs add themselves when they end (or: loadbench history --rebuild)"
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype={"run_id": str, "git_sha": str, "checks_failed": str, "verdict": str}
        )
    except (ValueError, pd.errors.ParserError) as error:
        message = " ".join(str(error).split())[:200]
        raise ConfigError(f"{path} is not a readable index ({message}): `loadbench history --rebuild`") from None
    if "started_at" not in frame.columns:
        raise ConfigError(f"{path} is not a run index (no started_at column): `loadbench history --rebuild`")
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, errors="coerce")
    return frame.sort_values("started_at").reset_index(drop=True)


def metrics_in(index: pd.DataFrame) -> list[str]:
    return [column.removeprefix(P95_PREFIX) for column in index.columns if column.startswith(P95_PREFIX)]


def trend(index: pd.DataFrame, metric: str, *, color: str | None = None) -> pd.DataFrame:
    """A metric's p95 across runs: ``started_at``, ``run``, ``profile``, ``color``, ``status``,
    ``verdict``, ``p95_ms`` (runs without that metric are left out)."""
    column = P95_PREFIX + metric
    if column not in index.columns:
        raise ConfigError(f"no metric {metric!r} in the index; it has: {', '.join(metrics_in(index))}")
    rows = index if color is None else index[index["color"] == color]
    table = rows[["started_at", "run", "profile", "color", "status", "verdict", column]].rename(
        columns={column: "p95_ms"}
    )
    table = table.assign(p95_ms=pd.to_numeric(table["p95_ms"], errors="coerce"))
    return table.dropna(subset=["p95_ms"]).reset_index(drop=True)


def trend_figure(table: pd.DataFrame, metric: str) -> Figure:
    """p95 of ``metric`` per run over time, one line per color; failed runs marked with a cross."""
    from matplotlib.figure import Figure

    from analysis.plots import OTHER_COLORS, TARGET_COLORS

    figure = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    ax = figure.subplots()
    for position, (color, data) in enumerate(table.groupby("color", sort=True)):
        line = TARGET_COLORS.get(str(color), OTHER_COLORS[position % len(OTHER_COLORS)])
        ax.plot(data["started_at"], data["p95_ms"], marker="o", color=line, lw=1.6, label=mpl_text(color))
        failed = data[data["verdict"] == "fail"]
        if len(failed):
            ax.scatter(failed["started_at"], failed["p95_ms"], marker="x", s=70, color="#c0392b", zorder=3)
    if table.empty:
        ax.text(0.5, 0.5, mpl_text(f"no run has {metric}"), ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(mpl_text(f"{metric} p95 (ms, steady state)"))
    ax.set_xlabel("run start (UTC)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(title="target (x: SLO failed)", fontsize=8)
    figure.autofmt_xdate()
    figure.suptitle(mpl_text(f"{metric}: p95 across runs"))
    return figure


# -- the pinned baseline ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    run: str  # absolute path of the run directory
    run_id: str
    color: str | None  # the target compared as A (None: blue, or the run's only target)
    pinned_at: str


def pin_baseline(folder: Path, run_dir: Path, *, color: str | None = None) -> Baseline:
    directory = RunDirectory(run_dir)
    manifest = directory.read_manifest()
    if color is not None and color not in [t.color for t in manifest.targets]:
        raise ConfigError(f"{run_dir} has no target {color!r}")
    baseline = Baseline(str(run_dir.resolve()), manifest.run_id, color, _now())
    write_atomic(folder / BASELINE, json.dumps(asdict(baseline), indent=2) + "\n")
    return baseline


def read_baseline(folder: Path) -> Baseline | None:
    path = folder / BASELINE
    try:
        data = loads_json(read_text(path, limit=BASELINE_MAX_BYTES))
        color = data.get("color")
        if color is not None and not isinstance(color, str):
            raise TypeError(f"color {color!r} is not a name")
        return Baseline(str(data["run"]), str(data.get("run_id", "")), color, str(data.get("pinned_at", "")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path} is unreadable ({error}): loadbench history --unpin, then pin again") from None


def unpin_baseline(folder: Path) -> bool:
    path = folder / BASELINE
    if path.exists():
        path.unlink()
        return True
    return False


def summary_frame(
    index: pd.DataFrame, *, metric: str | None = None, color: str | None = None, last: int = 20
) -> pd.DataFrame:
    """The runs to list: newest last, the error rate and the p95 of ``metric`` (or of the key ones)."""
    rows = index if color is None else index[index["color"] == color]
    metrics = [metric] if metric else [m for m in ("http", "chat.complete") if P95_PREFIX + m in rows.columns]
    columns = ["started_at", "run", "profile", "color", "status", "exit_code", "verdict", "error_rate_pct"]
    columns += [P95_PREFIX + m for m in metrics if P95_PREFIX + m in rows.columns]
    table = rows[columns].tail(last).copy()
    table["started_at"] = table["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return table.rename(columns={P95_PREFIX + m: f"{m} p95 ms" for m in metrics}).reset_index(drop=True)
