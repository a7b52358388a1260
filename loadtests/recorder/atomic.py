"""Writing a run directory's outputs atomically and through no symbolic link (issue 13, item 3:
a ``plots/`` linked to ``/etc`` once received six PNGs), and strict JSON. ``RunDirectory`` writes
through these; outputs outside a run directory (``report --out``, the run index) too."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from loadtests.recorder.format import RunFormatError

__all__ = ["strict_json", "write_atomic", "write_into"]


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


def write_into(folder: Path, name: str, data: bytes) -> Path:
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
    """Write ``path`` atomically without following a link at its name (see ``write_into``):
    for outputs outside a run directory (``report --out``, the run index, the pinned baseline)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_into(path.parent, path.name, payload)


def strict_json(data: Any, *, indent: int | None = 2) -> str:
    """JSON text, strictly: ``NaN`` or ``Infinity`` raise ``ValueError`` instead of being written
    (they are not JSON: a reader such as ``jq`` or a browser refuses the file)."""
    return json.dumps(data, indent=indent, default=str, allow_nan=False)
