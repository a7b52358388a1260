"""Reading what came from disk or the network: untrusted input, read in bounded memory and time.

Rule 1: only regular files are read. A FIFO, a device (``/dev/zero``), a socket or a directory is
refused before a byte is read: the file is opened with ``O_NONBLOCK`` (opening a FIFO does not
wait for a writer) and checked with ``fstat`` on the open descriptor (no window between check and
read). Symbolic links are followed for reading: what they point to is checked the same way.
Rule 2: every file has a size cap and every line of a line-oriented file a length cap; nothing
is read past them.
Rule 3: JSON holds finite numbers only (``NaN``/``Infinity`` are not JSON) and nests at most
``MAX_DEPTH`` levels (a deeper document would exhaust the parser's stack).
Rule 4: YAML is strict: a key given twice, a key that is not a string, an alias (``*name``: the
"billion laughs" expand exponentially), a non-finite number (``.nan``, ``.inf``) or nesting deeper
than ``MAX_DEPTH`` is an error naming its line.

Every refusal is an ``UntrustedInputError`` (a ``ValueError``) whose text is one line naming the
file and the problem; callers turn it into their own error class (a profile's ``ConfigError``,
exit 2; a run directory's ``RunFormatError``, exit 3).
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 32  # JSON and YAML nesting; the deepest document the suite writes has 7 levels
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
_BLOCK = 4 * MIB  # bytes read at once from a line-oriented file

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UntrustedInputError(ValueError):
    """A file refused, or its content: the message names the file and the problem."""


def _size(count: int) -> str:
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if count >= factor:
            return f"{count / factor:.4g} {unit}"
    return f"{count} bytes"


def open_regular(path: Path, *, limit: int) -> int:
    """A read-only descriptor of ``path`` once it is known to be a regular file of at most
    ``limit`` bytes. Raises ``FileNotFoundError`` when it does not exist (callers decide whether a
    missing file is an error), ``UntrustedInputError`` for anything else wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        raise UntrustedInputError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise UntrustedInputError(f"{path} is {kind}, not a regular file")
        if info.st_size > limit:
            raise UntrustedInputError(f"{path} is too large ({_size(info.st_size)}; the limit is {_size(limit)})")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, *, limit: int) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (checked again while reading: a
    file that grows past the cap is refused too)."""
    fd = open_regular(path, limit=limit)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UntrustedInputError(f"{path} is too large (more than {_size(limit)})")
    return data


def read_text(path: Path, *, limit: int) -> str:
    """``read_bytes`` decoded as UTF-8 (an invalid byte becomes U+FFFD)."""
    return read_bytes(path, limit=limit).decode("utf-8", errors="replace")


def iter_line_blocks(path: Path, *, limit: int, max_line: int) -> Iterator[list[str | None]]:
    """The lines of a regular file (without their newline), a block at a time. A line longer
    than ``max_line`` bytes is never held in memory: it comes out as ``None`` (the caller decides
    what an unreadable line means). At most ``limit`` bytes are read."""
    fd = open_regular(path, limit=limit)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        pending = b""  # the start of a line whose end is not read yet (at most max_line bytes)
        skipping = False  # inside an overlong line: its bytes are dropped up to the next newline
        total = 0
        while block := handle.read(_BLOCK):
            total += len(block)
            if total > limit:
                raise UntrustedInputError(f"{path} is too large (more than {_size(limit)})")
            lines: list[str | None] = []
            last = block.rfind(b"\n")
            if last < 0:  # no line ends in this block
                if not skipping:
                    pending += block
                    if len(pending) > max_line:
                        pending, skipping = b"", True
                continue
            head, rest = block[:last], block[last + 1 :]
            pieces = head.split(b"\n")
            first = pieces[0]
            if skipping:
                lines.append(None)
                skipping = False
            else:
                whole = pending + first
                lines.append(None if len(whole) > max_line else whole.decode("utf-8", errors="replace"))
            for piece in pieces[1:]:
                lines.append(None if len(piece) > max_line else piece.decode("utf-8", errors="replace"))
            pending = rest
            if len(pending) > max_line:
                pending, skipping = b"", True
            yield lines
        if skipping:
            yield [None]
        elif pending:
            yield [pending.decode("utf-8", errors="replace")]


def iter_lines(path: Path, *, limit: int, max_line: int) -> Iterator[str | None]:
    for block in iter_line_blocks(path, limit=limit, max_line=max_line):
        yield from block


# -- JSON -------------------------------------------------------------------------------------------
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep containers nest in ``value`` (0 for a scalar), counted without recursion and
    without looking further than ``limit + 1`` levels."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if level > limit:
            return level
        stack.extend((child, level) for child in children)
    return deepest


def loads_json(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON: ``ValueError`` for malformed text, ``NaN``/``Infinity``, a number too large
    for a double (``1e400``) or nesting deeper than ``max_depth``."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nests deeper than {max_depth} levels") from None
    problem = non_finite(data, max_depth=max_depth)
    if problem:
        raise ValueError(problem)
    return data


def non_finite(data: Any, *, max_depth: int = MAX_DEPTH, where: str = "") -> str | None:
    """The first problem of a parsed document: nesting deeper than ``max_depth``, or a number
    that is not finite (``inf`` from ``1e400``; a YAML ``.nan``) or beyond ±2**63; else ``None``."""
    if depth(data, max_depth) > max_depth:
        return f"nests deeper than {max_depth} levels"
    stack: list[tuple[Any, str]] = [(data, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            stack.extend((value, f"{path}.{key}" if path else str(key)) for key, value in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((value, f"{path}.{index}" if path else str(index)) for index, value in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{path or 'the document'}: {item} is not a finite number"
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**63:
            return f"{path or 'the document'}: {item:.3g} is too large"
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_json(path: Path, *, limit: int, max_depth: int = MAX_DEPTH) -> Any:
    """A JSON file, read by the rules above; ``UntrustedInputError`` names the file."""
    data = read_bytes(path, limit=limit)
    try:
        return loads_json(data, max_depth=max_depth)
    except ValueError as error:
        raise UntrustedInputError(f"{path} is not readable JSON: {_one_line(str(error))}") from None


def boolean_as_number(raw: Any, validated: Any, where: str = "") -> str | None:
    """The path of the first boolean in ``raw`` (data as parsed) that validation turned into a
    number in ``validated`` (the model's ``model_dump()``), or ``None``. pydantic reads ``true``
    as 1 for an ``int``, a ``float`` or ``Literal[1]``; a profile must say the number. Paths the
    model reshaped (a bare number for a distribution, an SLO override) are not followed."""
    stack: list[tuple[Any, Any, str]] = [(raw, validated, where)]
    while stack:
        given, kept, path = stack.pop()
        if isinstance(given, bool):
            if isinstance(kept, int | float) and not isinstance(kept, bool):
                return path or "(top level)"
            continue
        if isinstance(given, dict) and isinstance(kept, dict):
            pairs: Iterable[tuple[Any, Any]] = ((key, value) for key, value in given.items() if key in kept)
        elif isinstance(given, list | tuple) and isinstance(kept, list | tuple) and len(given) == len(kept):
            pairs = enumerate(given)
        else:
            continue
        stack.extend((value, kept[key], f"{path}.{key}" if path else str(key)) for key, value in pairs)
    return None


# -- YAML -------------------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate and non-string keys, aliases and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not accepted", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nests deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise yaml.constructor.ConstructorError(
                        None, None, "merge keys (<<) are not accepted", key_node.start_mark
                    )
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, str):
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is not a string", key_node.start_mark
                    )
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def loads_yaml(text: str) -> Any:
    """Strict YAML (see the module docstring); ``ValueError`` says what and at which line."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = _one_line(error.problem or error.context or "malformed YAML")
        if problem.startswith(("aliases", "merge keys", "key ", "nests deeper")):
            raise ValueError(f"{problem}{where}") from None
        raise ValueError(f"malformed YAML{where}") from None
    except yaml.YAMLError:
        raise ValueError("malformed YAML") from None
    except RecursionError:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels") from None
    problem = non_finite(data)
    if problem:
        raise ValueError(problem)
    return data


def read_yaml(path: Path, *, limit: int = MIB) -> Any:
    """A YAML file (a profile, an SLO file) read by the rules above."""
    text = read_text(path, limit=limit)
    try:
        return loads_yaml(text)
    except ValueError as error:
        raise UntrustedInputError(f"{path}: {error}") from None
