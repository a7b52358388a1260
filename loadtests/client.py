"""``PlatformClient``: what one simulated user can do against one target, color-blind.

It runs the dialect's steps over the transports and times them through ``Timer``. A misbehaving
target never raises out of here: every call returns a ``Judgement`` and has recorded its sample
(``ok``, ``error``, ``soft_failure``, ``rate_limited`` or ``timeout``).

The transports are arguments (httpx's ``Client(transport=...)``): an HTTP transport (``send``) and
a factory of real-time connections, by default the real ones (``HttpTransport``, ``open_realtime``);
tests hand in fakes and run the client's branches in-process, with no server and no socket. The
real-time half (connect, chat, ping, read with a deadline) is ``loadtests.chat_socket.ChatSocket``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TypeVar

from loadtests.chat_socket import ChatSocket, judge_event
from loadtests.dialects.base import (
    Accepted,
    AgentRef,
    AuthSession,
    ChatRef,
    Chunk,
    CollectionRef,
    Credentials,
    Dialect,
    End,
    Exchange,
    HttpReply,
    HttpRequest,
    Judgement,
    Kind,
    Outcome,
    StreamEvent,
    Upload,
)
from loadtests.timeouts import DEFAULT_TIMEOUTS, Timeouts
from loadtests.timing import Mark, Timer
from loadtests.transport.base import HttpSender, RealtimeFactory
from loadtests.transport.errors import TransportError
from loadtests.transport.http import HttpTransport
from loadtests.transport.realtime import open_realtime

T = TypeVar("T")


LOGIN_RETRY_S = 30.0  # a failed login is retried no sooner: green allows 5 logins per 15 minutes
MAX_LOGIN_ATTEMPTS = 3  # per simulated user and run: a login that keeps failing is not hammered


class PlatformClient:
    def __init__(
        self,
        *,
        dialect: Dialect,
        base_url: str,
        timer: Timer,
        credentials: Credentials,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        token_ttl_s: float | None = None,
        refresh_margin_s: float = 60.0,
        mint: Callable[[], AuthSession] | None = None,
        clock: Callable[[], float] = time.monotonic,
        role: str = "Admin",
        http: HttpSender | None = None,
        realtime: RealtimeFactory = open_realtime,
    ) -> None:
        """``http``: the HTTP transport (``None``: ``HttpTransport`` on ``base_url`` with the
        timeouts); ``realtime``: opens real-time connections (``open_realtime``)."""
        self.dialect = dialect
        self.role = role  # the account's role (blue refuses some routes to Students by design)
        self.base_url = base_url
        self.timer = timer
        self.timeouts = timeouts
        self._credentials = credentials
        self._mint = mint  # auth.mode mint: tokens are signed locally, there is no login request
        self._token_ttl_s = token_ttl_s
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        if http is None:
            http = HttpTransport(base_url, timeout_s=timeouts.http_s, connect_timeout_s=timeouts.connect_s)
        self._http = http
        self._socket = ChatSocket(
            dialect=dialect,
            base_url=base_url,
            timer=timer,
            timeouts=timeouts,
            clock=clock,
            session=lambda: self._session,
            factory=realtime,
        )
        self._session: AuthSession | None = None
        self._session_deadline: float | None = None
        self._margin_s = refresh_margin_s
        self._next_login_at: float | None = None
        self._login_attempts = 0

    # -- HTTP ---------------------------------------------------------------------------------
    def call(
        self, request: HttpRequest, read: Callable[[HttpReply], Judgement[T]], *, start: Mark | None = None
    ) -> Judgement[T]:
        """Send one request, judge the reply, record the sample under ``request.name``."""
        headers = self.dialect.auth_headers(self._session) if request.authenticated and self._session else {}
        start = start or self.timer.start()
        try:
            reply = self._http.send(request, headers)
        except TransportError as error:
            judged: Judgement[T] = Judgement(error.outcome, reason=str(error))
            self.timer.record(request.name, "http", start, judged.outcome, reason=judged.reason)
            return judged
        end_ns = time.perf_counter_ns()  # judging the body is our time, not the server's
        judged = read(reply)
        self.timer.record(
            request.name, "http", start, judged.outcome, nbytes=len(reply.body), reason=judged.reason, end_ns=end_ns
        )
        return judged

    # -- authentication -----------------------------------------------------------------------
    @property
    def logged_in(self) -> bool:
        return self._session is not None

    def _adopt(self, session: AuthSession) -> None:
        self._session = session
        lifetime: float | None = None
        if session.expires_at is not None:
            lifetime = session.expires_at - time.time()
        elif self._token_ttl_s is not None:
            lifetime = self._token_ttl_s
        self._session_deadline = None if lifetime is None else self._clock() + lifetime
        # Refresh at most half-way through a short-lived token's life: a margin as long as the
        # token's life would refresh before every task.
        self._margin_s = self._refresh_margin_s if lifetime is None else min(self._refresh_margin_s, lifetime / 2)

    @property
    def gave_up_login(self) -> bool:
        """Every login attempt this user may make failed: it stays logged out for the run."""
        return self._session is None and self._login_attempts >= MAX_LOGIN_ATTEMPTS

    def login(self) -> bool:
        """Log in (or mint). A refused login is retried no sooner than ``LOGIN_RETRY_S``, or the
        server's ``Retry-After`` when it is later, and at most ``MAX_LOGIN_ATTEMPTS`` times."""
        self._login_attempts += 1
        if self._mint is not None:
            self._adopt(self._mint())
            return True
        judged = self.call(self.dialect.login(self._credentials), self.dialect.read_login)
        if judged.ok and judged.value is not None:
            self._adopt(judged.value)
            self._login_attempts = 0
            return True
        self._next_login_at = self._clock() + max(LOGIN_RETRY_S, judged.retry_after_s or 0.0)
        return False

    def refresh(self) -> bool:
        if self._session is None:
            return False
        if self._mint is not None:
            self._adopt(self._mint())
        else:
            previous = self._session
            judged = self.call(self.dialect.refresh(previous), lambda reply: self.dialect.read_refresh(reply, previous))
            if not judged.ok or judged.value is None:
                return False
            self._adopt(judged.value)
        if self.dialect.reopen_after_refresh and self._socket.connection is not None:
            self.disconnect()  # the next real-time call reopens it with the new token
        return True

    def ensure_session(self) -> bool:
        """Logged in with a token that will not expire within the margin: log in once, refresh
        before expiry, log in again only if the refresh fails (see ``login`` for the pacing)."""
        now = self._clock()
        if self._session is not None:
            deadline = self._session_deadline
            if deadline is None or now < deadline - self._margin_s:
                return True
            if self.refresh():
                return True
            self._session = None
        if self._login_attempts >= MAX_LOGIN_ATTEMPTS:
            return False
        if self._next_login_at is not None and now < self._next_login_at:
            return False
        return self.login()

    def me(self) -> Judgement[str]:
        return self.call(self.dialect.me(), self.dialect.read_me)

    def health(self) -> Judgement[None]:
        return self.call(self.dialect.health(), self.dialect.read_health)

    # -- chats over REST ----------------------------------------------------------------------
    def chat_history(self) -> Judgement[list[ChatRef]]:
        return self.call(self.dialect.chat_history(), self.dialect.read_chat_history)

    def get_chat(self, chat_id: str) -> Judgement[ChatRef] | None:
        return self.optional(self.dialect.get_chat(chat_id), self.dialect.read_chat)

    def chat_exists(self, chat_id: str) -> Judgement[bool]:
        """Whether the server still has this chat of the user's: one read of the chat where the
        color has such a route (``chat.get``), else a read of the list (``chat.history``)."""
        judged = self.get_chat(chat_id)
        if judged is not None:
            if judged.not_found:
                return Judgement(Outcome.OK, False)
            return Judgement(judged.outcome, True if judged.ok else None, judged.reason, judged.status)
        listed = self.chat_history()
        if not listed.ok or listed.value is None:
            return Judgement(listed.outcome, None, listed.reason, listed.status)
        return Judgement(Outcome.OK, any(ref.chat_id == chat_id for ref in listed.value))

    def delete_chat(self, chat_id: str) -> Judgement[None] | None:
        """``None`` (nothing sent) where the color cannot delete a chat (green)."""
        request = self.dialect.delete_chat(chat_id)
        if request is None:
            return None
        if self._socket.joined_chat == chat_id:
            self._socket.joined_chat = None
        return self.call(request, self.dialect.read_deleted)

    def create_chat(self, name: str) -> Judgement[ChatRef]:
        step = self.dialect.create_chat(name)
        if isinstance(step, HttpRequest):
            return self.call(step, self.dialect.read_created_chat)
        judged = self.exchange(step)
        if not judged.ok or judged.value is None:
            return Judgement(judged.outcome, reason=judged.reason)
        created = self.dialect.read_created_chat(judged.value)
        if created.ok and created.value is not None:
            # Created over the socket (blue): that opened the socket, and put it on the new chat.
            self._socket.on_chat(created.value.chat_id)
        return created

    # -- real time (``ChatSocket``) -------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._socket.connected

    def connect(self) -> bool:
        """Open the real-time connection, timed as ``chat.connect`` (``ChatSocket.connect``)."""
        return self._socket.connect()

    def disconnect(self) -> None:
        self._socket.disconnect()

    def exchange(self, step: Exchange, wanted: Callable[[StreamEvent], bool] | None = None) -> Judgement[StreamEvent]:
        """Send one message; when the step waits for an answer, time it under ``step.name``."""
        return self._socket.exchange(step, wanted)

    @property
    def can_ping(self) -> bool:
        """Connected, and (blue) past the opening frame: a ping as a first frame is refused."""
        return self._socket.can_ping

    def ping(self) -> Judgement[StreamEvent] | None:
        """``chat.rtt``; ``None`` (nothing sent, nothing recorded) on a socket that may not take a ping yet."""
        return self._socket.ping()

    def open_chat(self, chat_id: str) -> Judgement[StreamEvent | None]:
        """Put the real-time connection on a chat (connecting first if needed)."""
        return self._socket.open_chat(chat_id)

    def ask(self, chat_id: str, text: str) -> Judgement[str]:
        """Send a chat message and stream the answer. Records ``chat.first_token`` and
        ``chat.complete`` from one start (blue: the message frame; green: the ``ask`` POST), plus
        ``chat.accepted`` where the server acknowledges (blue). Returns the answer text."""
        kind = self.dialect.realtime_kind
        if not self.open_chat(chat_id).ok or (connection := self._socket.connection) is None:
            return Judgement(Outcome.ERROR, reason="chat not open")
        connection.drain()  # late frames of an earlier, timed-out turn must not count for this one
        step = self.dialect.ask(chat_id, text)
        start = self.timer.start()
        if isinstance(step, HttpRequest):
            posted = self.call(step, self.dialect.read_ask, start=start)
            if not posted.ok:
                return self._turn_failed(kind, start, posted.outcome, f"ask refused: {posted.reason}")
        else:
            try:
                connection.send(step.send)
            except TransportError as error:
                self.disconnect()
                return self._turn_failed(kind, start, Outcome.ERROR, str(error))
        return self._stream(kind, start, first="chat.first_token", complete="chat.complete", accepted="chat.accepted")

    def _stream(
        self,
        kind: Kind,
        start: Mark,
        *,
        first: str,
        complete: str,
        accepted: str | None = None,
        on_first: Callable[[], object] | None = None,
    ) -> Judgement[str]:
        """Read a streamed answer until its end: ``first`` at the first chunk, ``complete`` at the
        end, both from ``start``; a missing end within the deadline is a timeout, never a hang."""
        first_deadline = self._clock() + self.timeouts.first_token_s
        complete_deadline = self._clock() + self.timeouts.complete_s
        got_first, parts = False, []
        streamed = (Accepted, Chunk, End)
        while True:
            deadline = complete_deadline if got_first else min(first_deadline, complete_deadline)
            event = self._socket.await_event(lambda e: isinstance(e, streamed), deadline)
            if isinstance(event, Accepted):
                if accepted:
                    self.timer.record(accepted, kind, start, Outcome.OK)
            elif isinstance(event, Chunk):
                if not got_first:
                    self.timer.record(first, kind, start, Outcome.OK)
                    got_first = True
                    if on_first is not None:
                        on_first()
                parts.append(event.text)
            elif isinstance(event, End):
                answer = "".join(parts)
                self.timer.record(complete, kind, start, Outcome.OK, nbytes=len(answer.encode()))
                return Judgement(Outcome.OK, answer)
            else:
                outcome, reason = judge_event(event, End)
                if got_first:
                    self.timer.record(complete, kind, start, outcome, reason=reason)
                    return Judgement(outcome, reason=reason)
                return self._turn_failed(kind, start, outcome, reason, names=(first, complete))

    def _turn_failed(
        self,
        kind: Kind,
        start: Mark,
        outcome: Outcome,
        reason: str,
        names: tuple[str, str] = ("chat.first_token", "chat.complete"),
    ) -> Judgement[str]:
        # One turn records one first-token and one completion sample, whatever happened.
        for name in names:
            self.timer.record(name, kind, start, outcome, reason=reason)
        return Judgement(outcome, reason=reason)

    # -- chats, uploads, collections, agents, admin ---------------------------------------------
    def optional(self, request: HttpRequest | None, read: Callable[[HttpReply], Judgement[T]]) -> Judgement[T] | None:
        """``None`` (and no sample) when this color has no such route."""
        return None if request is None else self.call(request, read)

    def rename_chat(self, chat_id: str, name: str) -> Judgement[None] | None:
        return self.optional(self.dialect.rename_chat(chat_id, name), self.dialect.read_renamed)

    def pin_chat(self, chat_id: str, pinned: bool) -> Judgement[None] | None:
        return self.optional(self.dialect.pin_chat(chat_id, pinned), self.dialect.read_json)

    def clear_memory(self, chat_id: str) -> Judgement[None]:
        return self.call(self.dialect.clear_memory(chat_id), self.dialect.read_json)

    def memory_stats(self, chat_id: str) -> Judgement[None] | None:
        return self.optional(self.dialect.memory_stats(chat_id), self.dialect.read_json)

    def admin_memory_stats(self) -> Judgement[None] | None:
        return self.optional(self.dialect.admin_memory_stats(), self.dialect.read_json)

    def allowed(self, name: str) -> bool:
        """Whether this user's role may call the step named ``name`` on this color at all."""
        return self.dialect.role_allows(name, self.role)

    def upload(self, upload: Upload, *, over_limit: bool = False) -> Judgement[str]:
        return self.call(self.dialect.upload(upload), lambda r: self.dialect.read_upload(r, over_limit=over_limit))

    def list_collections(self) -> Judgement[list[CollectionRef]]:
        return self.call(self.dialect.list_collections(), self.dialect.read_collections)

    def create_collection(self, name: str) -> Judgement[CollectionRef]:
        return self.call(self.dialect.create_collection(name), lambda r: self.dialect.read_created_collection(r, name))

    def add_document(self, collection: CollectionRef, upload: Upload, *, over_limit: bool = False) -> Judgement[int]:
        request = self.dialect.add_document(collection, upload)
        return self.call(request, lambda r: self.dialect.read_document(r, over_limit=over_limit))

    def list_documents(self, collection: CollectionRef) -> Judgement[list[str]]:
        return self.call(self.dialect.list_documents(collection), self.dialect.read_documents)

    def delete_documents(self, collection: CollectionRef, ids: list[str]) -> Judgement[None]:
        return self.call(self.dialect.delete_documents(collection, ids), self.dialect.read_json)

    def search(self, collection: CollectionRef, query: str) -> Judgement[int] | None:
        return self.optional(self.dialect.search(collection, query), self.dialect.read_search)

    def collection_stats(self, collection: CollectionRef) -> Judgement[None] | None:
        return self.optional(self.dialect.collection_stats(collection), self.dialect.read_json)

    def update_collection(self, collection: CollectionRef, permission: str) -> Judgement[CollectionRef]:
        request = self.dialect.update_collection(collection, permission)
        return self.call(request, lambda r: self.dialect.read_created_collection(r, collection.name))

    def delete_collection(self, collection: CollectionRef) -> Judgement[None]:
        return self.call(self.dialect.delete_collection(collection), self.dialect.read_collection_deleted)

    def list_agents(self) -> Judgement[list[AgentRef]]:
        return self.call(self.dialect.list_agents(), self.dialect.read_agents)

    def agent_templates(self) -> Judgement[list[str]] | None:
        return self.optional(self.dialect.agent_templates(), self.dialect.read_templates)

    def get_agent(self, agent_id: str) -> Judgement[AgentRef]:
        return self.call(self.dialect.get_agent(agent_id), self.dialect.read_agent)

    def agent_from_template(self, template_id: str, name: str) -> Judgement[AgentRef] | None:
        return self.optional(self.dialect.agent_from_template(template_id, name), self.dialect.read_agent)

    def rate_agent(self, agent_id: str, rating: int) -> Judgement[None] | None:
        return self.optional(self.dialect.rate_agent(agent_id, rating), self.dialect.read_json)

    def create_agent(self, name: str) -> Judgement[AgentRef]:
        return self.call(self.dialect.create_agent(name), self.dialect.read_agent)

    def update_agent(self, agent_id: str, description: str) -> Judgement[AgentRef]:
        return self.call(self.dialect.update_agent(agent_id, description), self.dialect.read_agent)

    def delete_agent(self, agent_id: str) -> Judgement[None]:
        return self.call(self.dialect.delete_agent(agent_id), self.dialect.read_agent_deleted)

    def run_agent(self, agent_id: str, chat_id: str, text: str) -> Judgement[str]:
        """Run an agent and stream its answer: ``agent.run`` from the start (blue: the chat message
        carrying the agent id; green: the ``execute-streaming`` POST) to completion, and
        ``agent.first_token``; the run's status is polled once while it streams where the color
        has a status route."""
        kind = self.dialect.realtime_kind
        session_id = secrets.token_hex(12)  # 24 hex, like a Mongo id
        subscribe = self.dialect.subscribe_agent_run(session_id)
        opened = self.exchange(subscribe) if subscribe is not None else self.open_chat(chat_id)
        if not opened.ok or (connection := self._socket.connection) is None:
            return Judgement(Outcome.ERROR, reason="agent stream not open")
        connection.drain()
        user_id = self._session.user_id if self._session else ""
        step = self.dialect.run_agent(
            agent_id=agent_id, chat_id=chat_id, session_id=session_id, user_id=user_id, text=text
        )
        names = ("agent.first_token", "agent.run")
        start = self.timer.start()
        if isinstance(step, HttpRequest):
            posted = self.call(step, self.dialect.read_agent_started, start=start)
            if not posted.ok:
                return self._turn_failed(kind, start, posted.outcome, f"run refused: {posted.reason}", names=names)
        else:
            try:
                connection.send(step.send)
            except TransportError as error:
                self.disconnect()
                return self._turn_failed(kind, start, Outcome.ERROR, str(error), names=names)
        status = self.dialect.agent_status(session_id)
        poll = (lambda: self.call(status, self.dialect.read_agent_status)) if status is not None else None
        return self._stream(kind, start, first=names[0], complete=names[1], on_first=poll)

    def admin(self, request: HttpRequest) -> Judgement[None]:
        return self.call(request, self.dialect.read_admin)

    def close(self) -> None:
        self.disconnect()
