"""The sans-IO protocol layer: what a user wants, turned into what goes on the wire, and back.

Rule 1: nothing here touches a socket, a clock or Locust. A dialect turns an intent (log in, open a
chat, ask a question) into a *step* (an HTTP request description or a real-time message to send),
and turns what came back (an ``HttpReply``, an ``Incoming`` socket event) into typed values.

Rule 2: a dialect judges success from the body, not from the status code alone: green answers a
wrong password with HTTP 201 and ``{"error": ...}``, and a client that trusts the status counts a
failed login as a success. ``Judgement`` carries the verdict and a short reason (never a secret).

The transports (``loadtests.transport``) do the I/O; ``loadtests.client.PlatformClient`` runs the
steps and times them. User classes only ever see the client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from loadtests.recorder.outcomes import Outcome  # the run directory's vocabulary; dialects produce it

T = TypeVar("T")

Kind = Literal["http", "ws", "sio"]
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Judgement(Generic[T]):
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


# ---------------------------------------------------------------------------------------------
# Values the dialects produce and the client hands back to them.


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthSession:
    """Tokens of one logged-in simulated user. ``expires_at`` comes from the token's ``exp`` claim
    (``None``: unknown, the client falls back to the configured lifetime)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class ChatRef:
    chat_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class CollectionRef:
    collection_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AgentRef:
    agent_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to send as multipart field ``file`` (contents never logged)."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str


# ---------------------------------------------------------------------------------------------
# Steps: descriptions of I/O for the transports.


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP call. ``name`` is the semantic metric name (``chat.history``), never the path."""

    name: str
    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    authenticated: bool = True
    upload: Upload | None = None  # sent as multipart field "file", with ``form`` as the other fields
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True, slots=True)
class WsText:
    """A native WebSocket text frame (blue)."""

    text: str


@dataclass(frozen=True, slots=True)
class SioEvent:
    """A Socket.IO event, outgoing (emit) or incoming (green)."""

    event: str
    data: Any = None


Outgoing = WsText | SioEvent
Incoming = WsText | SioEvent


@dataclass(frozen=True, slots=True)
class RealtimeEndpoint:
    """Where and how to open the real-time connection. ``query`` and ``auth`` may carry the token:
    transports must never log them."""

    kind: Kind
    path: str
    query: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth: Mapping[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Exchange:
    """Send ``send`` on the real-time connection; if ``until`` is set, wait for that event type.
    ``name`` is the metric the wait is recorded under."""

    send: Outgoing
    until: type[StreamEvent] | None = None
    name: str = ""


Step = HttpRequest | Exchange


# ---------------------------------------------------------------------------------------------
# Typed events decoded from the real-time connection.


class StreamEvent:
    """Base of everything ``Dialect.decode`` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Connected(StreamEvent):
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class RoomCreated(StreamEvent):
    chat_id: str


@dataclass(frozen=True, slots=True)
class Joined(StreamEvent):
    chat_id: str


@dataclass(frozen=True, slots=True)
class Accepted(StreamEvent):
    chat_id: str = ""


@dataclass(frozen=True, slots=True)
class Chunk(StreamEvent):
    text: str


@dataclass(frozen=True, slots=True)
class End(StreamEvent):
    pass


@dataclass(frozen=True, slots=True)
class StreamFailed(StreamEvent):
    message: str


@dataclass(frozen=True, slots=True)
class Refused(StreamFailed):
    """The server refused a real-time call and said why (green: Nest's ``exception`` event from a
    guard, e.g. "Forbidden resource" once the handshake token has expired). ``event`` is the call
    it refused, when the server names it."""

    event: str = ""


@dataclass(frozen=True, slots=True)
class Pong(StreamEvent):
    """``token`` echoes the ping's payload where the protocol allows it (green), so the round trip
    is correlated; blue's raw ``pong`` frame carries none."""

    token: str = ""


@dataclass(frozen=True, slots=True)
class Disconnected(StreamEvent):
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StreamSubscribed(StreamEvent):
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class RoomMessage(StreamEvent):
    """A user message relayed to the members of a chat room (the swarm's fan-out)."""

    text: str
    chat_id: str = ""


# ---------------------------------------------------------------------------------------------


class Dialect(Protocol):
    """What a color speaks. Blue and green implement it; user classes never branch on the color.

    A step a color has no route or event for is ``None``: the client then sends nothing and
    records nothing (CONTRACT.md: green has no ``GET chats/{id}``, blue no search route, ...).
    """

    color: str
    realtime_kind: Kind
    # The event that says a fresh real-time connection is ready (green: `connected`); None: the
    # open socket is ready (blue).
    ready_event: type[StreamEvent] | None
    # blue: a socket's first frame must open a chat (join_room, create_room); anything else, a
    # ping included, is refused with close code 1007. The client sends nothing else before it.
    opening_required: bool
    # green: every guarded event re-verifies the handshake token, so a socket opened with a token
    # that has since been refreshed is refused once the old token expires: reopen it after refresh.
    reopen_after_refresh: bool

    # auth
    def login(self, credentials: Credentials) -> HttpRequest: ...
    def read_login(self, reply: HttpReply) -> Judgement[AuthSession]: ...
    def refresh(self, session: AuthSession) -> HttpRequest: ...
    def read_refresh(self, reply: HttpReply, previous: AuthSession) -> Judgement[AuthSession]: ...
    def me(self) -> HttpRequest: ...
    def read_me(self, reply: HttpReply) -> Judgement[str]: ...
    def auth_headers(self, session: AuthSession) -> dict[str, str]: ...
    def token_problem(self, session: AuthSession) -> str | None:
        """Why this session's token cannot work on this color (claims it lacks), or ``None``."""
        ...

    default_token_ttl_s: int

    def mint_claims(self, *, username: str, user_id: str, role: str, now: float, ttl_s: float) -> dict[str, Any]: ...

    # chat
    def chat_history(self) -> HttpRequest: ...
    def read_chat_history(self, reply: HttpReply) -> Judgement[list[ChatRef]]: ...
    def get_chat(self, chat_id: str) -> HttpRequest | None: ...
    def read_chat(self, reply: HttpReply) -> Judgement[ChatRef]: ...
    def create_chat(self, name: str) -> Step: ...
    def read_created_chat(self, result: HttpReply | StreamEvent) -> Judgement[ChatRef]: ...
    def delete_chat(self, chat_id: str) -> HttpRequest | None: ...
    def read_deleted(self, reply: HttpReply) -> Judgement[None]: ...
    def open_chat(self, chat_id: str, *, first: bool) -> Exchange | None:
        """Put the socket on a chat; ``first``: nothing has been sent on this socket yet."""
        ...

    def ask(self, chat_id: str, text: str) -> Step: ...
    def add_message(self, chat_id: str, text: str) -> HttpRequest | None:
        """Store a user message without asking the model (green's ``POST chats/{id}/messages``)."""
        ...

    def read_ask(self, reply: HttpReply) -> Judgement[None]: ...

    # real time
    def realtime_endpoint(self, session: AuthSession) -> RealtimeEndpoint: ...
    def ping(self, token: str) -> Exchange: ...
    def decode(self, incoming: Incoming) -> StreamEvent | None: ...

    # fan-out (the connection swarm): a room several connections join, and a message relayed to
    # it; None where the color relays no user message to a room (blue)
    def room_create(self, name: str) -> Exchange | None: ...
    def room_send(self, chat_id: str, text: str) -> Exchange | None: ...

    # health
    def health(self) -> HttpRequest: ...
    def health_detailed(self) -> HttpRequest | None: ...
    def read_health(self, reply: HttpReply) -> Judgement[None]: ...

    # chats (housekeeping); None: this color has no such route
    def rename_chat(self, chat_id: str, name: str) -> HttpRequest | None: ...
    def read_renamed(self, reply: HttpReply) -> Judgement[None]: ...
    def pin_chat(self, chat_id: str, pinned: bool) -> HttpRequest | None: ...
    def clear_memory(self, chat_id: str) -> HttpRequest: ...
    def memory_stats(self, chat_id: str) -> HttpRequest | None:
        """One chat's conversation memory (green); ``None`` where there is no such route (blue)."""
        ...

    def admin_memory_stats(self) -> HttpRequest | None:
        """Every chat's memory, for admins (blue); ``None`` where there is no such route (green)."""
        ...

    def role_allows(self, name: str, role: str) -> bool:
        """Whether an account of ``role`` may call the step named ``name`` at all (a refusal by
        design is not a measurement: blue forbids Students to delete collections, say)."""
        ...

    def read_json(self, reply: HttpReply) -> Judgement[None]:
        """Any JSON document with a success status (routes whose body the client does not use)."""
        ...

    # uploads and knowledge collections
    upload_limit_bytes: int
    document_limit_bytes: int | None  # None: the application sets no limit
    document_formats: tuple[str, ...]

    def upload(self, upload: Upload) -> HttpRequest: ...
    def read_upload(self, reply: HttpReply, *, over_limit: bool) -> Judgement[str]: ...
    def list_collections(self) -> HttpRequest: ...
    def public_collections(self) -> HttpRequest: ...
    def read_collections(self, reply: HttpReply) -> Judgement[list[CollectionRef]]: ...
    def create_collection(self, name: str) -> HttpRequest: ...
    def read_created_collection(self, reply: HttpReply, name: str) -> Judgement[CollectionRef]: ...
    def add_document(self, collection: CollectionRef, upload: Upload) -> HttpRequest: ...
    def read_document(self, reply: HttpReply, *, over_limit: bool) -> Judgement[int]: ...
    def list_documents(self, collection: CollectionRef) -> HttpRequest: ...
    def read_documents(self, reply: HttpReply) -> Judgement[list[str]]:
        """The ids ``delete_documents`` takes (blue: chunk ids; green: document ids)."""
        ...

    def delete_documents(self, collection: CollectionRef, ids: list[str]) -> HttpRequest: ...
    def search(self, collection: CollectionRef, query: str) -> HttpRequest | None: ...
    def read_search(self, reply: HttpReply) -> Judgement[int]: ...
    def collection_stats(self, collection: CollectionRef) -> HttpRequest | None: ...
    def update_collection(self, collection: CollectionRef, permission: str) -> HttpRequest: ...
    def delete_collection(self, collection: CollectionRef) -> HttpRequest: ...
    def read_collection_deleted(self, reply: HttpReply) -> Judgement[None]: ...

    # agents
    def list_agents(self) -> HttpRequest: ...
    def read_agents(self, reply: HttpReply) -> Judgement[list[AgentRef]]: ...
    def agent_templates(self) -> HttpRequest | None: ...
    def read_templates(self, reply: HttpReply) -> Judgement[list[str]]: ...
    def create_agent(self, name: str) -> HttpRequest: ...
    def read_agent(self, reply: HttpReply) -> Judgement[AgentRef]: ...
    def get_agent(self, agent_id: str) -> HttpRequest: ...
    def agent_from_template(self, template_id: str, name: str) -> HttpRequest | None: ...
    def rate_agent(self, agent_id: str, rating: int) -> HttpRequest | None: ...
    def use_agent(self, agent_id: str) -> HttpRequest | None: ...
    def update_agent(self, agent_id: str, description: str) -> HttpRequest: ...
    def delete_agent(self, agent_id: str) -> HttpRequest: ...
    def read_agent_deleted(self, reply: HttpReply) -> Judgement[None]: ...
    def subscribe_agent_run(self, session_id: str) -> Exchange | None: ...
    def run_agent(self, *, agent_id: str, chat_id: str, session_id: str, user_id: str, text: str) -> Step: ...
    def read_agent_started(self, reply: HttpReply) -> Judgement[None]: ...
    def agent_status(self, session_id: str) -> HttpRequest | None: ...
    def cancel_agent_run(self, session_id: str) -> HttpRequest | None: ...
    def read_agent_status(self, reply: HttpReply) -> Judgement[None]: ...

    # admin and stats
    def admin_list(self) -> HttpRequest: ...
    def stats_total(self) -> HttpRequest: ...
    def stats_daily(self) -> HttpRequest: ...
    def stats_range(self, start_date: str, end_date: str) -> HttpRequest: ...
    def read_admin(self, reply: HttpReply) -> Judgement[None]: ...


# ---------------------------------------------------------------------------------------------
# Judging helpers shared by both dialects.


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


def agent_body(name: str) -> dict[str, Any]:
    """An agent as both colors accept it (CONTRACT.md, "Agents")."""
    return {
        "name": name,
        "description": "created by loadbench",
        "systemPrompt": "You are a concise teaching assistant.",
        "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "collectionNames": [],
        "temperature": 0.7,
        "maxTokens": 4000,
        "isPublic": False,
        "tags": ["loadbench"],
    }
