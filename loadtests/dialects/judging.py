"""Judging helpers both dialects share: a reply becomes a ``Judgement`` (Rule 2 of ``base``: success
is judged from the body, not from the status alone), and bodies are read into typed references.

Nothing here raises on a misbehaving server: a body that lacks what the caller needs is a
``soft_failure`` with a reason, a 429 is ``rate_limited`` (with the server's ``Retry-After``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from loadtests.dialects.steps import AgentRef, ChatRef, CollectionRef, HttpReply
from loadtests.recorder.outcomes import Outcome  # the run directory's vocabulary; dialects produce it

__all__ = [
    "MAX_RETRY_AFTER_S",
    "Judgement",
    "agent_list",
    "agent_ref",
    "chat_list",
    "chat_ref",
    "collection_list",
    "collection_ref",
    "count_of",
    "field_of",
    "ids_in",
    "json_document",
    "judge",
    "judge_refusal",
    "judge_status",
    "rate_limited",
    "retry_after_s",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Judgement(Generic[T]):
    """The verdict on one answer: its ``outcome``, the value the caller asked for (on success) and a
    short reason (never a secret)."""

    outcome: Outcome
    value: T | None = None
    reason: str = ""
    status: int | None = None  # the HTTP status, when the answer was HTTP and not a success
    retry_after_s: float | None = None  # a 429's Retry-After, when the server sent one

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def drop_value(self) -> Judgement[None]:
        return Judgement(self.outcome, None, self.reason, self.status, self.retry_after_s)


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_RETRY_AFTER_S = 24 * 3600.0  # a Retry-After beyond a day is read as a day


def retry_after_s(reply: HttpReply) -> float | None:
    """Seconds from a ``Retry-After`` header (its delta-seconds form); ``None`` when there is none."""
    value = reply.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if seconds == seconds else None


def rate_limited(reply: HttpReply) -> Judgement[Any]:
    wait = retry_after_s(reply)
    limit = reply.headers.get("x-ratelimit-limit", "")
    window = reply.headers.get("x-ratelimit-window", "")
    detail = f" (limit {limit} per {window} s)" if limit and window else ""
    after = f", Retry-After {wait:g} s" if wait is not None else ""
    return Judgement(Outcome.RATE_LIMITED, reason=f"429 rate limited{detail}{after}", status=429, retry_after_s=wait)


def judge_status(reply: HttpReply, *, ok: tuple[int, ...]) -> Judgement[Any]:
    """Classify by status and require a JSON body; the caller checks the body's shape.

    Returns ``ok`` with the decoded body as value when the status is one of ``ok`` and the body is
    JSON without an ``error`` key; otherwise a failure with a reason.
    """
    if reply.status == 429:
        return rate_limited(reply)
    body = reply.json()
    if reply.status not in ok:
        detail = ""
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("message") or body.get("error") or ""
        return Judgement(Outcome.ERROR, reason=f"HTTP {reply.status} {_short(detail)}".rstrip(), status=reply.status)
    if body is None and reply.body:
        return Judgement(Outcome.ERROR, reason=f"HTTP {reply.status} with a non-JSON body")
    if isinstance(body, dict) and body.get("error"):
        return Judgement(Outcome.SOFT_FAILURE, reason=f"HTTP {reply.status} body error: {_short(body['error'])}")
    return Judgement(Outcome.OK, value=body)


def judge(reply: HttpReply, *, ok: tuple[int, ...], extract: Callable[[Any], T | None], what: str) -> Judgement[T]:
    """Judge a reply: status first (``judge_status``), then the body's shape. ``extract`` returns the
    value the caller needs from the body, or ``None`` when the body lacks it: a success status with
    a body that lacks ``what`` is a soft failure."""
    judged = judge_status(reply, ok=ok)
    if not judged.ok:
        return judged.drop_value()
    value = extract(judged.value)
    if value is None:
        return Judgement(Outcome.SOFT_FAILURE, reason=f"HTTP {reply.status} but the body has no {what}")
    return Judgement(Outcome.OK, value)


def field_of(body: Any, *keys: str) -> Any:
    """The first present, non-empty value among ``keys`` of a dict body, else ``None``."""
    if isinstance(body, dict):
        for key in keys:
            if body.get(key) not in (None, ""):
                return body[key]
    return None


def chat_ref(body: Any) -> ChatRef | None:
    """A chat document (``_id`` or ``id``; green may wrap it in ``{data: ...}``) as a ``ChatRef``."""
    body = field_of(body, "data") if isinstance(field_of(body, "data"), dict) else body
    chat_id = field_of(body, "_id", "id")
    return ChatRef(str(chat_id), str(field_of(body, "name") or "")) if chat_id else None


def chat_list(body: Any) -> list[ChatRef] | None:
    items = body.get("data") if isinstance(body, dict) else body
    return [ref for item in items if (ref := chat_ref(item))] if isinstance(items, list) else None


def judge_refusal(reply: HttpReply, *, refused: tuple[int, ...]) -> Judgement[Any]:
    """An upload that was meant to be refused: the refusal is the success (``refused``); a server
    that accepts a file over its own limit is wrong (``error``)."""
    if reply.status in refused:
        return Judgement(Outcome.REFUSED, reason=f"HTTP {reply.status} as expected for a file over the limit")
    if reply.status == 429:
        return rate_limited(reply)
    if 200 <= reply.status < 300:
        return Judgement(Outcome.ERROR, reason=f"HTTP {reply.status}: a file over the limit was accepted")
    return Judgement(Outcome.ERROR, reason=f"HTTP {reply.status} instead of {'/'.join(map(str, refused))}")


def json_document(body: Any) -> Any:
    """The body when it is a JSON object or array (``None`` otherwise)."""
    return body if isinstance(body, list | dict) else None


def ids_in(items: Any, key: str) -> list[str] | None:
    """The distinct, non-empty ``key`` values of a list of objects, in order (``None``: not a list)."""
    if not isinstance(items, list):
        return None
    found = (str(item[key]) for item in items if isinstance(item, dict) and item.get(key) not in (None, ""))
    return list(dict.fromkeys(found))


def count_of(body: Any, *keys: str) -> int | None:
    """The length of the list found at ``body`` (or at ``body[key]`` for the first key present)."""
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else body
    return len(body) if isinstance(body, list) else None


def collection_ref(body: Any) -> CollectionRef | None:
    body = field_of(body, "data") if isinstance(field_of(body, "data"), dict) else body
    collection_id, name = field_of(body, "_id", "id"), field_of(body, "name")
    return CollectionRef(str(collection_id), str(name)) if collection_id and name else None


def collection_list(body: Any) -> list[CollectionRef] | None:
    items = body.get("data") if isinstance(body, dict) else body
    return [ref for item in items if (ref := collection_ref(item))] if isinstance(items, list) else None


def agent_ref(body: Any) -> AgentRef | None:
    body = field_of(body, "data") if isinstance(field_of(body, "data"), dict) else body
    agent_id = field_of(body, "_id", "id")
    return AgentRef(str(agent_id), str(field_of(body, "name") or "")) if agent_id else None


def agent_list(body: Any) -> list[AgentRef] | None:
    items = body.get("data") if isinstance(body, dict) else body
    return [ref for item in items if (ref := agent_ref(item))] if isinstance(items, list) else None
