"""Hostile run directories, and the command line run in this process on them.

``small_run`` writes a valid, small run directory (both colors, a few metrics, resources, events)
through the recorder's own format; tests and the hypothesis strategies below then damage one
thing in it. ``cli`` runs ``loadbench`` in this process (``loadtests.cli.main``): an exception that
escapes ``main`` is a traceback a user would have seen, and fails the test as itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from loadtests.recorder.format import iso
from loadtests.recorder.histogram import new_histogram
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import Manifest, RunDirectory, TargetInfo

START = 1_800_000_000.0
MAX_EPOCH_S = 2**33  # the latest time a run directory may hold (results/README.md)
RAMP_S = 5.0
SECONDS = 40


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """``loadbench ARGS`` in this process: exit code, stdout and stderr."""
    from loadtests.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in (env or {})}
    os.environ.update(env or {})
    os.environ.pop("GITHUB_STEP_SUMMARY", None) if env is None or "GITHUB_STEP_SUMMARY" not in env else None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(arg) for arg in args])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Result(code, out.getvalue(), err.getvalue())


def encoded(latencies_us: list[int], *, count: int = 1) -> str:
    histogram = new_histogram()
    for value in latencies_us:
        histogram.record_value(value, count)
    return histogram.encode().decode("ascii")


def small_run(
    path: Path,
    *,
    names: tuple[str, ...] = ("chat.history", "chat.complete", "health"),
    targets: tuple[str, ...] = ("blue", "green"),
    profile: dict[str, Any] | None = None,
) -> Path:
    """A valid run that passes the default SLOs that apply to it (about 40 ok samples per
    metric and target in the steady state, resources every second)."""
    directory = RunDirectory.create(out=path, results_root=path.parent, profile="hostile", target="both")
    directory.write_manifest(
        Manifest(
            run_id=f"hostile-{path.name}",
            status="complete",
            profile_name="hostile",
            profile=profile or {"name": "hostile", "users": 4, "duration_s": SECONDS, "spawn_rate": 1},
            target_mode="both" if len(targets) > 1 else targets[0],
            targets=[
                TargetInfo(color=t, url=f"http://127.0.0.1:{8000 + i}", embedded=True) for i, t in enumerate(targets)
            ],
            started_at=iso(datetime.fromtimestamp(START, UTC)),
            interval_s=1.0,
            versions={"loadbench": "0.1.0"},
        )
    )
    directory.append_event("test_start", t=START)
    directory.append_event("spawning_complete", t=START + RAMP_S, user_count=4)
    rows = []
    for second in range(SECONDS):
        t0 = START + second
        for target in targets:
            for position, name in enumerate(names):
                kind = "sio" if name == "chat.complete" else "http"
                latencies = [1000 * (5 + position * 40) + 100 * (second % 7), 1000 * (6 + position * 40)]
                rows.append(SampleRow(t0, t0 + 1, target, kind, name, "ChatUser", "ok", 2, 2, 0, 0, encoded(latencies)))
    writer = directory.samples_writer()
    writer.write(rows)
    writer.close()
    resources = directory.resources_writer()
    resources.write(
        (START + second, "target", target, "4242", 80.0 + second / 10, 10.0, "")
        for second in range(SECONDS)
        for target in targets
    )
    resources.close()
    figures = directory.figures_writer()
    for second in range(0, SECONDS, 5):
        for target in targets:
            figures.write(target, "users", 2, t=START + second)
    figures.close()
    directory.append_event("test_stop", t=START + SECONDS, recorder_errors=0)
    return path


def copy_run(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, symlinks=True)
    return destination


def rewrite_samples(run: Path, change: Any) -> None:
    """Apply ``change(row dict, index) -> row dict | None`` to every line of samples.jsonl."""
    path = run / "samples.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    lines = []
    for index, row in enumerate(rows):
        changed = change(dict(row), index)
        if changed is not None:
            lines.append(changed if isinstance(changed, str) else json.dumps(changed))
    path.write_text("\n".join(lines) + "\n")


# -- hypothesis: one hostile change to a valid run directory ---------------------------------------
FILES = ("manifest.json", "samples.jsonl", "events.jsonl", "resources.csv", "figures.jsonl")
SAMPLE_FIELDS = ("t0", "t1", "target", "kind", "name", "user_class", "outcome", "count", "timed", "nbytes", "hist")


@dataclass(frozen=True)
class Damage:
    """One change to a run directory and what every command must then say."""

    what: str  # for the failure message
    file: str  # the file it damages
    refused: bool  # the run must be refused (exit 3, one line naming ``file``); else judged with a note

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


hostile_numbers = st.sampled_from(
    [-45, -1, 2**63 - 1, 2**63 + 5, 2**53 + 1, 10**30, 1e30, -1e30, 1.5, True, False, None, "12", [], {}, 1e308]
)
hostile_text = st.sampled_from(
    [
        "",
        "a|b",
        "line\nbreak",
        "## heading",
        "<script>alert(1)</script>",
        "$\\notacommand{$",
        "x" * 5000,
        "\x00\x1b[31m",
    ]
)


def apply(run: Path, draw: Any) -> Damage:
    """Damage ``run`` in one way drawn by hypothesis; returns what was done."""
    file = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["type", "nesting", "size", "value", "line", "garbage"]))
    path = run / file
    if kind == "type":
        form = draw(st.sampled_from(["fifo", "directory", "dev-zero", "dangling", "loop"]))
        path.unlink()
        if form == "fifo":
            os.mkfifo(path)
        elif form == "directory":
            path.mkdir()
        elif form == "dev-zero":
            path.symlink_to("/dev/zero")
        elif form == "dangling":
            path.symlink_to(run / "nowhere")
        else:
            path.symlink_to(path.name)
        missing_is_fine = form == "dangling" and file != "manifest.json"
        return Damage(f"a {form} instead of the file", file, refused=not missing_is_fine and _strict(file))
    if kind == "size":
        with path.open("r+b") as handle:  # sparse: beyond every cap, costs no disk
            handle.truncate(64 * 1024**3)
        return Damage("a 64 GiB sparse file", file, refused=_strict(file))
    if kind == "nesting":
        depth = draw(st.sampled_from([40, 1000, 100_000]))
        if file == "manifest.json":
            data = json.loads(path.read_text())
            data["profile"]["deep"] = json.loads(nested(min(depth, 500))) if depth <= 500 else None
            text = json.dumps(data)
            if depth > 500:
                text = text[:-1] + f', "deeper": {nested(depth)}}}'
            path.write_text(text)
            return Damage(f"nested {depth} deep", file, refused=True)
        if file == "resources.csv":
            with path.open("a") as handle:
                handle.write(f"{START + 3},target,blue,1,{nested(depth)},1,\n")
            return Damage(f"a cell nested {depth} deep", file, refused=False)
        with path.open("a") as handle:
            handle.write(nested(depth) + "\n")
        return Damage(f"a line nested {depth} deep", file, refused=False)
    if kind == "line":  # one very long line, in the middle when the file allows it
        with path.open("a") as handle:
            handle.write("{" + " " * (3 * 1024 * 1024) + "\n")
        if file == "samples.jsonl":  # a valid line after it: the bad line is not a truncated last line
            first = path.read_text().splitlines()[0]
            with path.open("a") as handle:
                handle.write(first + "\n")
        return Damage("a 3 MiB line", file, refused=file in ("manifest.json", "samples.jsonl"))
    if kind == "garbage":
        data = draw(st.binary(min_size=1, max_size=200))
        if file == "samples.jsonl":
            with path.open("ab") as handle:
                handle.write(b"\x01" + data.replace(b"\n", b" ") + b"\n")
            first = path.read_text(errors="replace").splitlines()[0]
            with path.open("a") as handle:
                handle.write(first + "\n")
            return Damage("a line of binary garbage in the middle", file, refused=True)
        if file == "manifest.json":
            path.write_bytes(data)
            return Damage("binary garbage", file, refused=True)
        with path.open("ab") as handle:
            handle.write(data)
        return Damage("binary garbage appended", file, refused=False)
    # value: a well-formed line or field holding an impossible value
    if file == "manifest.json":
        field = draw(st.sampled_from(["format_version", "interval_s", "steady_state_from", "targets", "status"]))
        value = draw(hostile_numbers)
        data = json.loads(path.read_text())
        data[field] = value
        path.write_text(json.dumps(data))
        real = type(value) in (int, float)
        acceptable = (
            (field == "steady_state_from" and (value is None or (real and 0 <= value <= MAX_EPOCH_S)))
            or (field == "interval_s" and real and 0 < value <= 3600)
            or (field == "targets" and value == [])
        )
        return Damage(f"{field} = {value!r}", file, refused=not acceptable)
    if file == "samples.jsonl":
        field = draw(st.sampled_from(SAMPLE_FIELDS))
        value = draw(hostile_text if field in ("target", "kind", "name", "user_class") else hostile_numbers)
        line = draw(st.integers(0, 20))
        original: dict[str, Any] = {}

        def change(row: dict[str, Any], index: int) -> dict[str, Any]:
            if index == line:
                original.update(row)
                row[field] = value
            return row

        rewrite_samples(run, change)
        benign = _benign_sample_value(field, value, original)
        return Damage(f"line {line + 1}: {field} = {value!r}", file, refused=not benign)
    if file == "events.jsonl":
        value = draw(st.one_of(hostile_numbers, hostile_text))
        with path.open("a") as handle:
            handle.write(json.dumps({"t": value, "event": "spawning_complete", "recorder_errors": value}) + "\n")
        return Damage(f"an event at t = {value!r}", file, refused=False)
    if file == "figures.jsonl":
        value = draw(st.one_of(hostile_numbers, hostile_text))
        with path.open("a") as handle:
            handle.write(json.dumps({"t": START + 2, "target": "blue", "name": "connections_held", "value": value}))
            handle.write("\n")
        return Damage(f"a figure of value {value!r}", file, refused=False)
    value = draw(st.sampled_from(["inf", "-inf", "nan", "-45", "1e400", "1e30", "x", ""]))
    with path.open("a") as handle:
        handle.write(f"{START + 3},target,blue,4242,{value},{value},{value}\n")
    return Damage(f"a resource row of {value!r}", file, refused=False)


def _strict(file: str) -> bool:
    """Files whose damage refuses the run (the others are auxiliary: skipped with a note)."""
    return file in ("manifest.json", "samples.jsonl")


def _benign_sample_value(field: str, value: Any, row: dict[str, Any]) -> bool:
    """Whether the documented limits of a sample row (results/README.md) accept the value."""
    if field in ("target", "kind", "name", "user_class", "outcome"):
        return isinstance(value, str)
    if field in ("t0", "t1"):
        if type(value) not in (int, float):
            return False
        t0, t1 = (value, row["t1"]) if field == "t0" else (row["t0"], value)
        return 0 <= t0 <= t1 <= MAX_EPOCH_S and t1 - t0 <= 86_400
    if field == "hist":
        return value is None
    return type(value) is int and 0 <= value <= 2**32
