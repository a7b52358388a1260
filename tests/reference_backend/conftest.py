"""Fixtures for the reference backend's tests (helpers live in ``rb_helpers``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # when the project is not installed with ``pip install -e .``
    sys.path.insert(0, str(_ROOT))

from rb_helpers import SioRecorder  # noqa: E402


@pytest.fixture
def sio_clients() -> Iterator[Callable[[Iterable[str]], SioRecorder]]:
    """A factory of ``SioRecorder`` clients that are all closed after the test."""
    made: list[SioRecorder] = []

    def factory(events: Iterable[str] = ()) -> SioRecorder:
        recorder = SioRecorder(events)
        made.append(recorder)
        return recorder

    yield factory
    for recorder in made:
        recorder.close()
