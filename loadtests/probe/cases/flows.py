"""Steps several cases share: a chat made over the right protocol, a socket opened for one message,
an answer streamed to its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loadtests.dialects.base import (
    ChatRef,
    End,
    Exchange,
    HttpRequest,
)
from loadtests.probe.session import ColorProbe, Observation


def make_chat(p: ColorProbe, name: str, *, token: str | None = None) -> ChatRef | None:
    step = p.dialect.create_chat(name)
    if isinstance(step, HttpRequest):
        result = p.http(step, p.dialect.read_created_chat, token=token or "session")
        assert result is not None
        p.last, judged = result
        return judged.value if judged.ok else None
    session_token = token or p.need(p.session, "a logged-in session").access_token
    connection, p.last = p.open_socket(session_token)
    if connection is None:
        return None
    try:
        p.last, event = p.exchange(connection, step)
    finally:
        connection.close()
    judged = p.dialect.read_created_chat(event) if event is not None else None
    return judged.value if judged is not None and judged.ok else None


def socket_case(
    p: ColorProbe, step_of: Callable[[], Exchange | None], *, token: str | None = None
) -> Observation | None:
    """Open a fresh connection, send one step as its first message, observe the answer."""
    step = step_of()
    if step is None:
        return None
    connection, observation = p.open_socket(token or p.need(p.session, "a logged-in session").access_token)
    if connection is None:
        return observation
    try:
        observation, _ = p.exchange(connection, step)
    finally:
        connection.close()
    return observation


def stream(
    p: ColorProbe,
    chat_id: str,
    step_of: Callable[[], Exchange | HttpRequest],
    *,
    subscribe: Exchange | None = None,
    read: Callable[..., Any] | None = None,
) -> Observation:
    """Open a socket on the chat (or subscribe), send the step, read chunks until the end."""
    connection, observation = p.open_socket(p.need(p.session, "a session").access_token)
    if connection is None:
        return observation
    try:
        opening = subscribe or p.dialect.open_chat(chat_id, first=True)
        if opening is not None:
            opened, _ = p.exchange(connection, opening)
            if opened.outcome != "ok":
                return opened
        step = step_of()
        if isinstance(step, HttpRequest):
            result = p.http(step, read or p.dialect.read_ask)
            assert result is not None
            posted, judged = result
            if not judged.ok:
                return posted
            observation = Observation(posted.request, status=posted.status, shape=posted.shape)
            observation.latency_ms = posted.latency_ms
            end_observation, _ = readstream(p, connection)
        else:
            end_observation, _ = p.exchange(connection, step, End)
            observation = end_observation
        observation.outcome, observation.event = end_observation.outcome, end_observation.event
        if end_observation.latency_ms is not None and observation.latency_ms is not None:
            observation.latency_ms = round(observation.latency_ms + end_observation.latency_ms, 3)
    finally:
        connection.close()
    return observation


def readstream(p: ColorProbe, connection: object) -> tuple[Observation, object]:
    observation = Observation("stream")
    start = time.perf_counter()
    event = p.await_event(connection, lambda e: isinstance(e, End), timeout_s=max(p.timeout_s, 15.0))  # type: ignore[arg-type]
    observation.latency_ms = round((time.perf_counter() - start) * 1000, 3)
    if isinstance(event, End):
        observation.outcome, observation.event = "ok", "End"
    else:
        observation.outcome, observation.event = p.describe_failure(event, "End")
    return observation, event
