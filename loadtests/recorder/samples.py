"""Reading ``samples.jsonl``, the run's evidence, as untrusted input: chunks of rows as columns, each
row's values checked (an impossible one refuses the run, naming its line), bounded in memory."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.recorder.format import (
    MAX_COUNT,
    MAX_EPOCH_S,
    MAX_INTERVAL_S,
    MAX_NBYTES,
    SAMPLES_MAX_BYTES,
    SAMPLES_MAX_LINE,
    RunFormatError,
)
from loadtests.recorder.rows import SampleRow
from loadtests.untrusted import (
    MIB,
    UntrustedInputError,
    iter_line_blocks,
)


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


def refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def shown(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, int) and abs(value) >= 10**6:
        return f"{value:.4g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


REAL_TYPES = frozenset((int, float))


_TEXT_FIELDS = ("target", "kind", "name", "user_class", "outcome")


_COUNT_LIMITS = (("count", MAX_COUNT), ("timed", MAX_COUNT), ("nbytes", MAX_NBYTES), ("overflow", MAX_COUNT))


def check_sample_columns(columns: dict[str, list[Any]]) -> tuple[int, str] | None:
    """The first impossible value of a chunk of sample rows, as ``(row index, problem)``, or
    ``None``. Times are epoch seconds in [0, ``MAX_EPOCH_S``] with ``0 <= t1 - t0 <=
    MAX_INTERVAL_S``; names are strings; counts are integers (not booleans) in [0, ``MAX_COUNT``]
    (bytes: ``MAX_NBYTES``); ``hist`` is a string or null. Checked a column at a time."""

    def first(name: str, bad: Callable[[Any], bool], problem: str) -> tuple[int, str]:
        index = next(i for i, value in enumerate(columns[name]) if bad(value))
        return index, f"{name} {shown(columns[name][index])} {problem}"

    times = {}
    for name in ("t0", "t1"):
        if not set(map(type, columns[name])) <= REAL_TYPES:
            return first(name, lambda v: type(v) not in REAL_TYPES, "is not a number")
        try:
            values = np.asarray(columns[name], dtype=np.float64)
        except OverflowError:
            values = np.asarray([float("inf") if abs(v) > MAX_EPOCH_S else v for v in columns[name]])
        outside = ~((values >= 0) & (values <= MAX_EPOCH_S))
        if outside.any():
            index = int(np.argmax(outside))
            return index, f"{name} {shown(columns[name][index])} is not a time (epoch seconds, 0 to 2**33)"
        times[name] = values
    span = times["t1"] - times["t0"]
    wrong = ~((span >= 0) & (span <= MAX_INTERVAL_S))
    if wrong.any():
        index = int(np.argmax(wrong))
        return index, f"interval {shown(columns['t0'][index])} to {shown(columns['t1'][index])} is not an interval"
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
            objects = json.loads("[" + ",".join(lines) + "]", parse_constant=refuse_constant)  # type: ignore[arg-type]
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
                data = json.loads(line, parse_constant=refuse_constant)
                good.append(_FIELD_GETTER(data))
                numbers.append(number)
            except RecursionError:
                self._suspect = (number, "is nested too deep to be a sample row")
            except (ValueError, KeyError, TypeError):
                self._suspect = (number, "is not a sample row (JSON object with every field of results/README.md)")
        columns = {name: [values[index] for values in good] for index, name in enumerate(SAMPLE_FIELDS)}
        return columns, numbers
