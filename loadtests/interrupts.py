"""Ctrl-C and SIGTERM during a run: the orchestrator measures inside ``interruptible()`` and
writes its results inside ``interruptible(defer=...)``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class RunInterrupted(Exception):
    def __init__(self, signame: str) -> None:
        super().__init__(f"interrupted by {signame}")
        self.signame = signame


@contextmanager
def interruptible(*, defer: list[str] | None = None) -> Iterator[None]:
    """SIGINT and SIGTERM become ``RunInterrupted`` once; a second signal is ignored so that the
    cleanup that writes the partial run is not itself interrupted. With ``defer``, signals are
    only noted there: writing the results finishes first (they take seconds, and half a verdict
    helps no one)."""
    fired: list[str] = [] if defer is None else defer

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signal.Signals(signum).name)
        if defer is None:
            raise RunInterrupted(fired[0])

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
