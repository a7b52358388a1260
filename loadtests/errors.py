"""The suite's own errors, each carrying the exit code it ends a command with.

    LoadbenchError            exit 1 (a bug or an unclassified failure)
    ├── ConfigError           exit 2: usage or configuration (bad profile, bad flag, refused target)
    ├── InvalidRunError       exit 3: the run cannot be judged (saturated generator, too few samples,
    │                                 target never ready)
    └── InfrastructureError   exit 4: target unreachable, run interrupted

A failed SLO is a verdict (exit 1), not an exception. A misbehaving target is a measured outcome,
never an exception escaping a task.
"""

from __future__ import annotations

import sys
from typing import ClassVar, TextIO


class LoadbenchError(Exception):
    exit_code: ClassVar[int] = 1
    label: ClassVar[str] = "error"

    def show(self, file: TextIO | None = None) -> None:
        """Print the one-line reason on stderr."""
        print(f"loadbench: {self.label}: {one_line(str(self))}", file=file or sys.stderr)


def one_line(text: str) -> str:
    """``text`` with its control characters shown escaped (``\\n``, ``\\x1b``): a reason naming a
    file whose name holds a newline or a terminal escape stays one inert line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


class ConfigError(LoadbenchError):
    exit_code = 2
    label = "configuration error"


class InvalidRunError(LoadbenchError):
    exit_code = 3
    label = "invalid run"


class InfrastructureError(LoadbenchError):
    exit_code = 4
    label = "infrastructure error"


EXIT_OK = 0
EXIT_SLO_FAILED = 1
EXIT_CONFIG = ConfigError.exit_code
EXIT_INVALID = InvalidRunError.exit_code
EXIT_INFRA = InfrastructureError.exit_code
