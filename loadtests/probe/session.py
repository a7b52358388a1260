"""One color's side of the probe: its accounts, its state between cases, and the two ways a case
talks to the target (an HTTP step, a real-time exchange), each turned into an ``Observation``.

Cases (``loadtests.probe.cases``) are written once for both colors in the dialects' vocabulary; a
step the color's dialect has no route or event for comes back ``None``, and the case is *absent*
on that color (its contract lacks it), which is not a failure.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from loadtests.dialects.base import (
    AuthSession,
    ChatRef,
    CollectionRef,
    Credentials,
    Dialect,
    Disconnected,
    Exchange,
    HttpReply,
    HttpRequest,
    Judgement,
    Outcome,
    Refused,
    StreamEvent,
    StreamFailed,
)
from loadtests.probe.http import ProbeHttp
from loadtests.probe.observe import error_format, secrets_in, shape
from loadtests.transport.base import RealtimeConnection, TransportClosed
from loadtests.transport.errors import TransportError
from loadtests.transport.realtime import open_realtime

RATE_HEADERS = ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-window")


class Skip(Exception):
    """The case cannot run here (a secret it needs, a step before it that failed)."""


@dataclass
class Observation:
    """What one case saw on one color. ``verdict`` and ``problems`` are filled by judging."""

    request: str  # "POST /api/auth/admin/login", or the real-time message sent
    status: int | None = None
    outcome: str = ""  # the dialect's judgement of the answer (Outcome), or ok/refused/timeout for sockets
    latency_ms: float | None = None
    shape: Any = None
    error_format: str | None = None
    event: str | None = None  # real-time: what came back ("room_joined", "close 1007", "HTTP 403", …)
    reason: str = ""
    secrets: list[dict[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = field(default=None, repr=False)  # kept for judging, never written
    route_missing: bool = False
    verdict: str = ""
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("body",)}
        return {k: v for k, v in data.items() if v not in (None, "", [], {}) or k in ("verdict",)}


@dataclass
class Accounts:
    """Who the probe is: the main user, another user (for "another user's resource") and the
    admin account; ``mint`` makes a session without logging in (``auth.mode: mint``), ``sign``
    signs claims with the target's secret when it is known (embedded backends, mint mode)."""

    user: Credentials
    other: Credentials
    admin: Credentials
    mint: Callable[[Credentials, Dialect], AuthSession] | None = None
    sign: Callable[[dict[str, Any]], str] | None = field(default=None, repr=False)


def _template(request: HttpRequest) -> str:
    """The request as the report shows it: ids replaced by ``{id}`` (they differ on every run)."""
    parts = ["{id}" if _looks_like_id(part) else part for part in request.path.split("/")]
    return f"{request.method} {'/'.join(parts)}"


def _looks_like_id(part: str) -> bool:
    return len(part) == 24 and all(c in "0123456789abcdef" for c in part.lower())


class ColorProbe:
    def __init__(self, *, dialect: Dialect, base_url: str, accounts: Accounts, timeout_s: float = 5.0) -> None:
        self.dialect = dialect
        self.color = dialect.color
        self.base_url = base_url
        self.accounts = accounts
        self.timeout_s = timeout_s
        self.http_client = ProbeHttp(base_url, timeout_s=timeout_s)
        self.session: AuthSession | None = None
        self.other_session: AuthSession | None = None
        self.admin_session: AuthSession | None = None
        self.refreshed: AuthSession | None = None
        # State the cases hand on to each other.
        self.chat: ChatRef | None = None
        self.other_chat: ChatRef | None = None
        self.agent_id: str | None = None
        self.collection: CollectionRef | None = None
        self.document_ids: list[str] = []
        self.template_ids: list[str] = []
        self.rate_limits: dict[str, str] = {}  # the first X-RateLimit-* headers seen on a login
        self.last: Observation | None = None  # the last step of a case made of several

    def close(self) -> None:
        self.http_client.close()

    # -- accounts -----------------------------------------------------------------------------
    def need(self, value: Any, what: str) -> Any:
        if value is None:
            raise Skip(f"needs {what}")
        return value

    def login_as(self, credentials: Credentials) -> AuthSession | None:
        """A session for the account: minted when the secret is known, else a login (not a case:
        the login case itself is ``auth.login``)."""
        if self.accounts.mint is not None:
            return self.accounts.mint(credentials, self.dialect)
        try:
            reply, _ = self.http_client.send(self.dialect.login(credentials), {})
        except TransportError:
            return None
        judged = self.dialect.read_login(reply)
        return judged.value if judged.ok else None

    def forged_token(self) -> str:
        """A token with the color's claims, signed with a secret the target cannot know."""
        claims = self.dialect.mint_claims(
            username=self.accounts.user.username, user_id="0" * 24, role="Admin", now=time.time(), ttl_s=600
        )
        return jwt.encode(claims, secrets.token_hex(16), algorithm="HS256")

    def signed_token(self, *, issued_at: float, ttl_s: float) -> str:
        """A genuine token of the main user, but with the lifetime asked for (needs the secret)."""
        sign = self.need(self.accounts.sign, "the JWT secret (auth: {mode: mint}, or the embedded backends)")
        session = self.need(self.session, "a session")
        claims = self.dialect.mint_claims(
            username=self.accounts.user.username, user_id=session.user_id, role="Admin", now=issued_at, ttl_s=ttl_s
        )
        return sign(claims)

    def expired_token(self) -> str:
        return self.signed_token(issued_at=time.time() - 3600, ttl_s=60)

    def short_token(self, ttl_s: float) -> str:
        return self.signed_token(issued_at=time.time(), ttl_s=ttl_s)

    # -- HTTP ---------------------------------------------------------------------------------
    def http(
        self,
        request: HttpRequest | None,
        read: Callable[[HttpReply], Judgement[Any]],
        *,
        token: str | None = "session",
        allowed_secrets: frozenset[str] = frozenset(),
    ) -> tuple[Observation, Judgement[Any]] | None:
        """Send one step; ``token`` is "session" (the main user's), another token, or ``None``."""
        if request is None:
            return None
        headers: dict[str, str] = {}
        if request.authenticated and token is not None:
            if token == "session":
                session = self.need(self.session, "a logged-in session (auth.login failed)")
                headers = self.dialect.auth_headers(session)
            else:
                headers = {"Authorization": f"Bearer {token}"}
        observation = Observation(_template(request))
        try:
            reply, latency_ms = self.http_client.send(request, headers)
        except TransportError as error:
            observation.outcome = error.outcome.value
            observation.reason = str(error)
            return observation, Judgement(Outcome(observation.outcome), reason=str(error))
        judged = read(reply)
        body = reply.json()
        observation.status = reply.status
        observation.outcome = judged.outcome.value
        observation.latency_ms = round(latency_ms, 3)
        observation.shape = shape(body) if body is not None else None
        observation.body = body
        observation.reason = judged.reason
        if reply.status >= 400 or not judged.ok:
            observation.error_format = error_format(reply.status, body, reply.body)
        observation.secrets = secrets_in(body, allowed=allowed_secrets) if body is not None else []
        observation.headers = {k: reply.headers[k] for k in RATE_HEADERS if k in reply.headers}
        return observation, judged

    # -- real time ----------------------------------------------------------------------------
    def open_socket(self, token: str | None) -> tuple[RealtimeConnection | None, Observation]:
        """Open a real-time connection with ``token`` (``None``: none at all); the observation says
        how it went (``connected``, ``HTTP 403``, ``connect_error: …``)."""
        endpoint = self.dialect.realtime_endpoint(AuthSession(token or ""))
        if token is None:
            endpoint = type(endpoint)(endpoint.kind, endpoint.path)
        connection = open_realtime(self.base_url, endpoint)
        observation = Observation(f"{endpoint.kind} {endpoint.path}")
        start = time.perf_counter()
        try:
            connection.open(self.timeout_s)
        except TransportError as error:
            observation.latency_ms = round((time.perf_counter() - start) * 1000, 3)
            observation.outcome = "refused" if error.refused else ("timeout" if error.timed_out else "error")
            observation.event = str(error)
            return None, observation
        ready = self.dialect.ready_event
        if ready is not None:
            event = self.await_event(connection, lambda e: isinstance(e, ready))
            if not isinstance(event, ready):
                connection.close()
                observation.outcome, observation.event = self.describe_failure(event, ready.__name__)
                return None, observation
        observation.latency_ms = round((time.perf_counter() - start) * 1000, 3)
        observation.outcome = "ok"
        observation.event = "connected"
        return connection, observation

    def await_event(
        self, connection: RealtimeConnection, wanted: Callable[[StreamEvent], bool], timeout_s: float | None = None
    ) -> StreamEvent | None:
        """The first decoded event ``wanted`` accepts, a refusal, a close (``Disconnected``), or
        ``None`` when nothing of the kind came in time."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        for _ in range(10_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            item = connection.receive(remaining)
            if item is None:
                return None
            if isinstance(item, TransportClosed):
                return Disconnected(item.reason)
            event = self.dialect.decode(item)
            if event is not None and (wanted(event) or isinstance(event, StreamFailed)):
                if isinstance(event, StreamFailed) and not isinstance(event, Refused):
                    # an error frame may be followed by a close: report both
                    closed = self._close_after(connection)
                    return Disconnected(f"error {event.message!r}, then {closed}") if closed else event
                return event
        return None

    def _close_after(self, connection: RealtimeConnection) -> str:
        item = connection.receive(1.0)
        return item.reason if isinstance(item, TransportClosed) else ""

    @staticmethod
    def describe_failure(event: StreamEvent | None, waited_for: str) -> tuple[str, str]:
        if event is None:
            return "timeout", f"no {waited_for} within the deadline"
        if isinstance(event, Refused):
            where = f" (on {event.event})" if event.event else ""
            return "refused", f"exception: {event.message}{where}"
        if isinstance(event, StreamFailed):
            return "refused", f"error: {event.message}"
        if isinstance(event, Disconnected):
            return "refused", event.reason
        return "error", f"unexpected {type(event).__name__}"

    def exchange(
        self, connection: RealtimeConnection, step: Exchange, wanted: type[StreamEvent] | None = None
    ) -> tuple[Observation, StreamEvent | None]:
        """Send one real-time message and wait for ``wanted`` (default: the step's ``until``)."""
        until = wanted or step.until
        observation = Observation(_describe(step))
        start = time.perf_counter()
        try:
            connection.send(step.send)
        except TransportError as error:
            observation.outcome, observation.event = "error", str(error)
            return observation, None
        if until is None:
            observation.outcome = "ok"
            return observation, None
        event = self.await_event(connection, lambda e: isinstance(e, until))
        observation.latency_ms = round((time.perf_counter() - start) * 1000, 3)
        if isinstance(event, until):
            observation.outcome, observation.event = "ok", type(event).__name__
            return observation, event
        observation.outcome, observation.event = self.describe_failure(event, until.__name__)
        return observation, event


def _describe(step: Exchange) -> str:
    message = step.send
    text = getattr(message, "text", None)
    if text is not None:
        try:
            kind = json.loads(text).get("type", "?")
        except (ValueError, AttributeError):
            kind = "text"
        return f"ws frame {kind}"
    return f"sio emit {getattr(message, 'event', '?')}"
