"""The appenders behind ``RunDirectory``'s writers: every line written is flushed at once, so a
killed process loses at most what it had not yet written. File names and formats belong to
``loadtests.recorder.rundir``; these only append (get them from a ``RunDirectory``).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TextIO, TypeVar


class JsonRow(Protocol):
    def to_json(self) -> str: ...


R = TypeVar("R", bound=JsonRow)


class RowsWriter(Generic[R]):
    """Appends rows (one JSON line each: ``samples.jsonl``, ``connections.jsonl``) and flushes
    them together, so a killed process loses at most the interval in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = path.open("a", encoding="utf-8")

    def write(self, rows: Iterable[R]) -> int:
        if self._handle is None:
            return 0
        lines = [row.to_json() + "\n" for row in rows]
        if lines:
            self._handle.writelines(lines)
            self._handle.flush()
        return len(lines)

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
    """Appends rows to a CSV file, writing ``header`` first when the file is new."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        new = not path.exists()
        self._handle: TextIO | None = path.open("a", encoding="utf-8", newline="")
        self._csv = csv.writer(self._handle)
        if new:
            self._csv.writerow(header)
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
