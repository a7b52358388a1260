"""Fault injection and green's rate limiter, as one pure-ASGI middleware.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one wraps responses in a task and a
stream, which breaks WebSockets and adds its own latency to every streamed body. Only HTTP requests
are touched; WebSocket and Socket.IO traffic passes through, and ``/metrics`` is never faulted so a
monitor can watch the damage.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_backend.errors import error_body, nest_error, send_json
from reference_backend.metrics import METRICS_PATH, Metrics
from reference_backend.settings import Color, FaultSettings, RateLimitRule

SOFT_FAILURE_BODY = {"error": "Injected soft failure"}
INJECTED_ERROR = "Injected failure"
CONNECT_REFUSED = "Injected connection refusal"
_BURN_SLICE_S = 0.002  # the event loop is held at most this long at a time by a CPU burn


async def burn_cpu(seconds: float, *, clock: Callable[[], float] = time.thread_time) -> None:
    """Spend ``seconds`` of this thread's CPU time, in slices with the event loop served in between:
    the cost of a CPU-bound handler, measured in CPU time so a busy machine does not change it."""
    spent = 0.0
    while spent < seconds:
        start = clock()
        stop = start + min(_BURN_SLICE_S, seconds - spent)
        while clock() < stop:
            pass
        spent += clock() - start
        await asyncio.sleep(0)


def refuse_connection(faults: FaultSettings, rng: random.Random) -> bool:
    """Whether to refuse this real-time connection (``connect_failure_rate``)."""
    return faults.connect_failure_rate > 0 and rng.random() < faults.connect_failure_rate


def mounted_at(prefix: str, path: str) -> bool:
    """Express mount semantics: ``/api/auth`` covers ``/api/auth`` and ``/api/auth/...``, not ``/api/authx``."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    rule: RateLimitRule
    remaining: int
    reset_at: float  # epoch seconds at which the rule's current window ends

    def headers(self, now: float) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-ratelimit-limit", str(self.rule.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(math.ceil(self.reset_at)).encode()),
            (b"x-ratelimit-window", f"{self.rule.window_s:g}".encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(max(1, math.ceil(self.reset_at - now))).encode()))
        return headers


class RateLimiter:
    """Fixed windows per (rule, client IP), as green's Redis counters keep them.

    green mounts one limiter middleware per prefix, and the mounts overlap: a request to
    ``/api/chat/x`` counts against ``/api/chat`` and against the ``/api`` catch-all. Rules are checked
    in order and the first one over its limit answers 429 (later rules do not count that request).
    """

    def __init__(
        self, rules: Sequence[RateLimitRule], *, clock: Callable[[], float] = time.time, max_keys: int = 100_000
    ) -> None:
        self.rules = tuple(rules)
        self._clock = clock
        self._counts: dict[tuple[int, str, int], int] = {}
        self._max_keys = max_keys
        self._prune_above = max_keys

    def check(self, path: str, client: str) -> RateDecision | None:
        """Count the request; ``None`` when no rule covers the path."""
        now = self._clock()
        tightest: RateDecision | None = None
        for index, rule in enumerate(self.rules):
            if not mounted_at(rule.prefix, path):
                continue
            window = int(now // rule.window_s)
            key = (index, client, window)
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            decision = RateDecision(
                allowed=count <= rule.limit,
                rule=rule,
                remaining=max(rule.limit - count, 0),
                reset_at=(window + 1) * rule.window_s,
            )
            if not decision.allowed:
                tightest = decision
                break
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        if len(self._counts) > self._prune_above:
            self._prune(now)
        return tightest

    def _prune(self, now: float) -> None:
        current = [int(now // rule.window_s) for rule in self.rules]
        self._counts = {k: v for k, v in self._counts.items() if k[2] >= current[k[0]]}
        # Many live clients keep many live keys: back off so pruning stays amortised O(1).
        self._prune_above = max(self._max_keys, 2 * len(self._counts))


def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return send_with_headers


class FaultMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        color: Color,
        faults: FaultSettings,
        rng: random.Random,
        leak: list[bytes],
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        spawn: Callable[[Coroutine[Any, Any, None]], object] | None = None,
    ) -> None:
        self.app = app
        # Where a CPU burn runs: a background task (the work a request triggers: the request is
        # answered at once, other requests only wait for a slice), or inline when None.
        self.spawn = spawn
        self.color = color
        self.faults = faults
        self.rng = rng
        self.leak = leak
        self.metrics = metrics
        self.clock = clock
        self.limiter = RateLimiter(faults.rate_limits, clock=clock) if faults.rate_limit else None

    async def _burn(self, seconds: float) -> None:
        await burn_cpu(seconds)
        self.metrics.injected_faults.labels("cpu_burn").inc()  # counted once spent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.limiter is not None:
            client = scope.get("client")
            decision = self.limiter.check(path, client[0] if client else "unknown")
            if decision is not None:
                headers = decision.headers(self.clock())
                if not decision.allowed:
                    self.metrics.injected_faults.labels("rate_limited").inc()
                    await send_json(send, 429, nest_error(429, "Too Many Requests", path), headers)
                    return
                send = _with_headers(send, headers)
        faults = self.faults
        if faults.applies_to(path):
            if faults.memory_growth_kb_per_request > 0:
                # A planted leak: filled with a non-zero byte so every page is touched and counts in RSS.
                self.leak.append(b"\xa5" * int(faults.memory_growth_kb_per_request * 1024))
                self.metrics.injected_faults.labels("memory_growth").inc()
            if faults.cpu_burn_ms_per_request > 0:
                burn = self._burn(faults.cpu_burn_ms_per_request / 1000)
                if self.spawn is None:
                    await burn
                else:
                    self.spawn(burn)
            if faults.latency is not None:
                self.metrics.injected_faults.labels("latency").inc()
                await asyncio.sleep(faults.latency.sample(self.rng) / 1000)
            if faults.error_rate > 0 and self.rng.random() < faults.error_rate:
                self.metrics.injected_faults.labels("error").inc()
                await send_json(send, 500, error_body(self.color, 500, INJECTED_ERROR, path))
                return
            if faults.soft_failure_rate > 0 and self.rng.random() < faults.soft_failure_rate:
                self.metrics.injected_faults.labels("soft_failure").inc()
                status = 201 if self.color == "green" and scope["method"] == "POST" else 200
                await send_json(send, status, SOFT_FAILURE_BODY)
                return
        await self.app(scope, receive, send)
