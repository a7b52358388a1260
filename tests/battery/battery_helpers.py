"""Helpers of the bad-input battery: run the real command line in its own process, bounded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def reason(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def loadbench(*args: str, env: dict[str, str] | None = None, timeout: float = 150, cwd: Path | None = None) -> Result:
    """Run the real command line in its own process, bounded in time."""
    proc = subprocess.run(
        [sys.executable, "-m", "loadtests.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def loadbench_all(
    commands: dict[str, list[str]], *, at_once: int = 4, timeout: float = 150, env: dict[str, str] | None = None
) -> dict[str, Result]:
    """``loadbench(*args)`` for every entry, ``at_once`` processes at a time (each is a second of
    imports, so a batch of refusals takes a fraction of its one-by-one time)."""
    results: dict[str, Result] = {}
    pending = list(commands.items())
    running: list[tuple[str, subprocess.Popen[str]]] = []
    while pending or running:
        while pending and len(running) < at_once:
            key, args = pending.pop(0)
            command = [sys.executable, "-m", "loadtests.cli", *args]
            proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
            running.append((key, proc))
        key, proc = running.pop(0)
        stdout, stderr = proc.communicate(timeout=timeout)
        results[key] = Result(proc.returncode, stdout, stderr)
    return results


def assert_clean_failure(result: Result, code: int, pattern: str) -> None:
    """The documented exit code, a one-line reason, and no traceback anywhere."""
    assert result.code == code, (result.code, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert re.search(pattern, result.stdout + result.stderr), (pattern, result.stdout[-1500:], result.stderr[-1500:])
