"""Per-phase deadlines of a simulated user (a value object the profile builds and the client obeys).

Kept apart from ``loadtests.client``: the profile needs it, and importing the client would import
Locust, whose import patches the standard library with gevent (the orchestrator must stay a
plain multi-threaded process).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-phase deadlines in seconds (like ``httpx.Timeout``, one per thing waited for)."""

    connect_s: float = 10.0
    http_s: float = 30.0
    exchange_s: float = 10.0  # ping/pong, join, create_room
    first_token_s: float = 30.0
    complete_s: float = 60.0


DEFAULT_TIMEOUTS = Timeouts()
