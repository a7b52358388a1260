"""The one place where measurements become request events.

Every sample the suite records (HTTP, WebSocket, Socket.IO) goes through ``Timer.record``: it takes
durations from ``perf_counter_ns`` and time stamps from the wall clock, and fires Locust's
``request`` event with DESIGN.md's fields in ``context`` (target, kind, outcome, user_class). The
web UI shows the event; the recorder (``loadtests.recorder``) turns it into exact histograms.

A stream's ``chat.first_token`` and ``chat.complete`` are two events sharing one ``Mark``. Something
that was not measured gets no number: a timeout is fired with ``response_time=None``.

Open-model load (``loadtests.users.open_model``): while an operation runs, ``Timer.lag_ns`` holds how
late it started against its intended time; every sample carries it (``context["lag_us"]``), and
the response-time recorder adds it to the latency (the time from the intended start).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from loadtests.dialects.base import Kind, Outcome


class RequestHook(Protocol):
    """Locust's ``events.request`` (or anything with the same ``fire``)."""

    def fire(self, **kwargs: Any) -> Any: ...


class RequestFailure(Exception):
    """What Locust lists in its Failures tab for a failed sample: the outcome and a short reason."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(f"{outcome.value}: {reason}" if reason else outcome.value)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Mark:
    """The start of a measurement."""

    wall_s: float
    perf_ns: int


def request_type(target: str, kind: Kind) -> str:
    """Locust's "Type" column: keeps blue and green rows apart under the same semantic name."""
    return f"{target}/{kind}"


class Timer:
    """Fires request events for one simulated user (its target and user class)."""

    __slots__ = ("hook", "lag_ns", "target", "user_class")

    def __init__(self, hook: RequestHook, *, target: str, user_class: str) -> None:
        self.hook = hook
        self.target = target
        self.user_class = user_class
        self.lag_ns = 0  # the running open-model operation's start lag (0: closed model)

    @staticmethod
    def start() -> Mark:
        return Mark(time.time(), time.perf_counter_ns())

    def record(
        self,
        name: str,
        kind: Kind,
        start: Mark,
        outcome: Outcome,
        *,
        nbytes: int = 0,
        reason: str = "",
        end_ns: int | None = None,
    ) -> None:
        """Fire one sample measured from ``start`` to now (or ``end_ns``)."""
        if outcome is Outcome.TIMEOUT:
            response_time = None  # we know only that no answer came: no latency to report
        else:
            response_time = ((end_ns or time.perf_counter_ns()) - start.perf_ns) / 1e6
        self._fire(name, kind, outcome, response_time, nbytes, reason, start.wall_s)

    def count(self, name: str, kind: Kind, outcome: Outcome, *, reason: str = "", wall_s: float | None = None) -> None:
        """Fire an event that has an outcome but no latency (a dropped connection, a lost ping, a
        receiver that never got a message), at ``wall_s`` (default: now). It goes the way every
        sample goes, with ``response_time=None``: the web UI counts it, the recorder keeps it out of
        the histograms."""
        self._fire(name, kind, outcome, None, 0, reason, time.time() if wall_s is None else wall_s)

    def _fire(
        self,
        name: str,
        kind: Kind,
        outcome: Outcome,
        response_time: float | None,
        nbytes: int,
        reason: str,
        wall_s: float,
    ) -> None:
        self.hook.fire(
            request_type=request_type(self.target, kind),
            name=name,
            response_time=response_time,
            response_length=nbytes,
            response=None,
            exception=RequestFailure(outcome, reason) if outcome.is_failure else None,
            context={
                "target": self.target,
                "kind": kind,
                "outcome": outcome.value,
                "user_class": self.user_class,
                "lag_us": self.lag_ns // 1000,
            },
            start_time=wall_s,
            url=None,
        )
