"""``PlatformClient``'s branches in-process: fake transports, a fake clock, the real dialects.

No server and no socket: the HTTP transport answers from a script, and each real-time connection
is a scripted fake (what opening it does, what each frame sent on it is answered with). A fake
connection with nothing left to give answers ``None`` at once, as a real one does when its
deadline passes, so timeouts take no time. (``tests/test_client.py`` and
``tests/test_contract_facts.py`` run the same flows against the reference backends.)
"""

from __future__ import annotations

import base64
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
import socketio

from loadtests.client import LOGIN_RETRY_S, MAX_LOGIN_ATTEMPTS, PlatformClient, Timeouts
from loadtests.dialects import dialect_for
from loadtests.dialects.base import (
    Credentials,
    HttpReply,
    HttpRequest,
    Incoming,
    Outcome,
    Outgoing,
    RealtimeEndpoint,
    SioEvent,
    WsText,
)
from loadtests.timing import Timer
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import TransportError, classify
from loadtests.transport.wire import sio_refusal

Item = Incoming | TransportClosed


class Hook:
    """Collects fired request events (stands in for Locust's events.request)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.events.append(kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["name"] == name]

    def outcomes(self, name: str) -> list[str]:
        return [e["context"]["outcome"] for e in self.named(name)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwt(**claims: Any) -> str:
    """An unsigned JWT: the client only reads claims (expiry, which ones are missing)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.sig"


def full_token(color: str, ttl_s: float = 900, **extra: Any) -> str:
    claims = {"sub": "a" * 24, "username": "u1", "exp": int(time.time() + ttl_s)}
    claims |= {"nameID": "u1", "role": "Admin"} if color == "blue" else {"roles": ["Admin"]}
    return jwt(**claims | extra)


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpReply:
    return HttpReply(status, json.dumps(body).encode(), headers or {})


def login_reply(color: str, token: str) -> HttpReply:
    if color == "blue":
        return reply(200, {"token": token, "user": {"_id": "a" * 24}})
    return reply(201, {"accessToken": token, "refreshToken": "r-" + token[-8:], "user": {"_id": "a" * 24}})


Answer = HttpReply | TransportError | Callable[[HttpRequest], HttpReply]


class FakeHttp:
    """Answers by the request's semantic name; the last answer of a name repeats."""

    def __init__(self, answers: dict[str, list[Answer]]) -> None:
        self.answers = answers
        self.sent: list[HttpRequest] = []

    def send(self, request: HttpRequest, headers: Any) -> HttpReply:
        self.sent.append(request)
        queue = self.answers[request.name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, TransportError):
            raise answer
        return answer(request) if callable(answer) else answer

    def count(self, name: str) -> int:
        return sum(1 for request in self.sent if request.name == name)


class FakeConnection:
    """One scripted real-time connection."""

    def __init__(self, endpoint: RealtimeEndpoint, server: FakeServer) -> None:
        self.endpoint = endpoint
        self.server = server
        self.inbox: deque[Item] = deque()
        self.sent: list[Outgoing] = []
        self.state = "new"

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def open(self, timeout_s: float) -> None:
        if self.server.refuse is not None:
            raise self.server.refuse
        self.state = "open"
        self.inbox.extend(self.server.on_open)

    def send(self, message: Outgoing) -> None:
        self.sent.append(message)
        self.inbox.extend(self.server.answer(message))

    def receive(self, timeout_s: float) -> Item | None:
        return self.inbox.popleft() if self.inbox else None  # nothing (more): the deadline passed

    def drain(self) -> int:
        count = len(self.inbox)
        self.inbox.clear()
        return count

    def close(self) -> None:
        self.state = "closed"

    def push(self, *items: Item) -> None:
        self.inbox.extend(items)


class FakeServer:
    """The real-time side of a target: the connection factory the client is handed."""

    def __init__(self, color: str) -> None:
        self.color = color
        self.connections: list[FakeConnection] = []
        self.refuse: TransportError | None = None
        self.on_open: list[Item] = [SioEvent("connected", {"userId": "a" * 24})] if color == "green" else []
        self.turn: list[Item] = []  # what a chat turn streams (blue: after the message frame)
        self.pongs = True  # whether it answers pings

    def __call__(self, base_url: str, endpoint: RealtimeEndpoint) -> FakeConnection:
        connection = FakeConnection(endpoint, self)
        self.connections.append(connection)
        return connection

    @property
    def last(self) -> FakeConnection:
        return self.connections[-1]

    def answer(self, message: Outgoing) -> list[Item]:
        if isinstance(message, SioEvent):  # green
            if message.event == "join-room":
                return [SioEvent("joined-room", {"chatId": message.data["chatId"]})]
            if message.event == "ping":
                return [SioEvent("pong", f"Pong: {message.data}")] if self.pongs else []
            return []
        frame = json.loads(message.text)  # blue
        kind = frame["type"]
        if kind == "join_room":
            return [WsText(json.dumps({"type": "room_joined", "data": {"chatId": frame["chatId"]}}))]
        if kind == "create_room":
            return [WsText(json.dumps({"type": "room_created", "data": {"chatId": "c" * 24}}))]
        if kind == "ping":
            return [WsText("pong")] if self.pongs else []
        if kind == "message":
            return list(self.turn)
        return []


def blue_frame(kind: str, data: Any = None) -> WsText:
    return WsText(json.dumps({"type": kind, "data": data}))


def make_client(
    color: str, http: FakeHttp, server: FakeServer, hook: Hook, clock: Clock | None = None
) -> PlatformClient:
    return PlatformClient(
        dialect=dialect_for(color),
        base_url="http://127.0.0.1:9",
        timer=Timer(hook, target=color, user_class="ChatUser"),
        credentials=Credentials("loadbench-user-0001", "pw"),
        timeouts=Timeouts(connect_s=5, exchange_s=5, first_token_s=5, complete_s=5),
        clock=clock or Clock(),
        http=http,
        realtime=server,
    )


def logged_in(
    color: str, hook: Hook, token: str | None = None, **answers: list[Answer]
) -> tuple[PlatformClient, FakeHttp, FakeServer]:
    http = FakeHttp({"auth.login": [login_reply(color, token or full_token(color))], **answers})
    server = FakeServer(color)
    client = make_client(color, http, server, hook)
    assert client.ensure_session()
    return client, http, server


# -- logging in --------------------------------------------------------------------------------


def test_a_rate_limited_login_waits_for_retry_after_and_gives_up_after_a_few() -> None:
    limited = reply(429, {"statusCode": 429, "message": "Too Many Requests"}, {"retry-after": "120"})
    http, hook, clock = FakeHttp({"auth.login": [limited]}), Hook(), Clock()
    client = make_client("green", http, FakeServer("green"), hook, clock)
    assert not client.ensure_session()
    assert hook.outcomes("auth.login") == ["rate_limited"] and "Retry-After 120 s" in str(hook.events[0]["exception"])
    clock.now += LOGIN_RETRY_S + 30  # past the client's own pause, not past the server's Retry-After
    assert not client.ensure_session() and http.count("auth.login") == 1
    for _ in range(MAX_LOGIN_ATTEMPTS + 2):
        clock.now += 121
        client.ensure_session()
    assert http.count("auth.login") == MAX_LOGIN_ATTEMPTS and client.gave_up_login and not client.logged_in


def test_a_refused_login_is_retried_after_login_retry_s_and_a_success_resets_the_count() -> None:
    refused = reply(401, {"detail": "User account not found or password not set"})
    http, clock = FakeHttp({"auth.login": [refused, login_reply("blue", full_token("blue"))]}), Clock()
    client = make_client("blue", http, FakeServer("blue"), Hook(), clock)
    assert not client.ensure_session()
    clock.now += LOGIN_RETRY_S - 1
    assert not client.ensure_session() and http.count("auth.login") == 1
    clock.now += 2
    assert client.ensure_session() and http.count("auth.login") == 2 and not client.gave_up_login


def test_an_http_call_that_gets_no_answer_is_a_sample_not_an_exception() -> None:
    client, _, _ = logged_in("green", hook := Hook(), **{"chat.history": [TransportError("timed out", timed_out=True)]})
    judged = client.chat_history()
    assert judged.outcome is Outcome.TIMEOUT and hook.named("chat.history")[0]["response_time"] is None


# -- refreshing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("color", ["blue", "green"])
def test_a_refresh_reopens_the_socket_on_green_and_keeps_it_on_blue(color: str) -> None:
    first, second = full_token(color, ttl_s=100), full_token(color, ttl_s=900, jti="second")
    refreshed = login_reply(color, second) if color == "green" else reply(200, {"token": second})
    http = FakeHttp({"auth.login": [login_reply(color, first)], "auth.refresh": [refreshed]})
    server, clock, hook = FakeServer(color), Clock(), Hook()
    client = make_client(color, http, server, hook, clock)
    assert client.ensure_session() and client.connect()
    clock.now += 40  # within the token's life less the margin (half of 100 s): nothing to do
    assert client.ensure_session() and http.count("auth.refresh") == 0 and client.connected
    clock.now += 12
    assert client.ensure_session() and http.count("auth.refresh") == 1
    if color == "green":  # every guarded event re-verifies the handshake token: a new socket, new token
        assert not client.connected and server.connections[0].state == "closed"
        assert client.open_chat("c" * 24).ok and len(server.connections) == 2
        assert dict(server.last.endpoint.auth or {}) == {"token": second}
    else:  # the token is checked once, at the handshake
        assert client.connected and len(server.connections) == 1
    assert set(hook.outcomes("chat.connect")) == {"ok"}


# -- the socket's first frame ---------------------------------------------------------------------


def test_blue_sends_no_ping_before_the_socket_has_opened_a_chat() -> None:
    client, _, server = logged_in("blue", hook := Hook())
    assert client.connect()
    assert client.ping() is None and server.last.sent == [] and not hook.named("chat.rtt")
    assert client.open_chat("c" * 24).ok
    ping = client.ping()
    assert ping is not None and ping.ok
    assert [json.loads(m.text)["type"] for m in server.last.sent] == ["join_room", "ping"]  # type: ignore[union-attr]
    assert hook.outcomes("chat.join") == ["ok"] and hook.outcomes("chat.rtt") == ["ok"]


def test_a_blue_chat_created_over_the_socket_opened_it() -> None:
    client, _, server = logged_in("blue", Hook())
    created = client.create_chat("first frame")
    assert created.ok and created.value is not None and client.can_ping
    assert client.open_chat(created.value.chat_id).ok and len(server.last.sent) == 1  # already on it: nothing sent


def test_green_may_ping_at_once_and_matches_its_pong_by_token() -> None:
    client, _, server = logged_in("green", hook := Hook())
    assert client.connect() and client.can_ping
    server.pongs = False
    server.last.push(SioEvent("pong", "Pong: p99"))  # a late pong of some other ping: not this one's
    unanswered = client.ping()
    assert unanswered is not None and unanswered.outcome is Outcome.TIMEOUT
    server.pongs = True
    answered = client.ping()
    assert answered is not None and answered.ok and hook.outcomes("chat.rtt") == ["timeout", "ok"]
    assert server.last.sent == [SioEvent("ping", "p1"), SioEvent("ping", "p2")]


def test_green_connect_waits_for_connected_and_gives_up_at_the_deadline() -> None:
    client, _, server = logged_in("green", hook := Hook())
    server.on_open = []
    assert not client.connect() and not client.connected
    assert hook.outcomes("chat.connect") == ["timeout"] and server.last.state == "closed"


# -- a streamed answer ------------------------------------------------------------------------------

CHAT = "c" * 24
STREAMS: dict[str, tuple[list[Item], str, tuple[str, str], str]] = {
    # what the server streams → the turn's outcome, (first_token, complete) outcomes, reason
    "ends": ([blue_frame("accepted", {"chatId": CHAT}), blue_frame("chunk", "Hel"), blue_frame("chunk", "lo"),
              blue_frame("end")], "ok", ("ok", "ok"), ""),
    "times out before a chunk": ([blue_frame("accepted", {"chatId": CHAT})], "timeout", ("timeout", "timeout"),
                                 "no End before the deadline"),
    "times out after a chunk": ([blue_frame("chunk", "Hel")], "timeout", ("ok", "timeout"),
                                "no End before the deadline"),
    "fails": ([blue_frame("chunk", "Hel"), blue_frame("error", "LLM down")], "error", ("ok", "error"),
              "server error: LLM down"),
    "is cut off": ([blue_frame("chunk", "Hel"), TransportClosed("closed by peer with code 1011")], "error",
                   ("ok", "error"), "connection lost: closed by peer with code 1011"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(STREAMS))
def test_a_blue_stream_that(case: str) -> None:
    streamed, outcome, samples, reason = STREAMS[case]
    client, _, server = logged_in("blue", hook := Hook())
    server.turn = streamed
    judged = client.ask(CHAT, "hello")
    assert judged.outcome.value == outcome and reason in judged.reason
    assert (judged.value == "Hello") == (outcome == "ok")
    (first,), (complete,) = hook.named("chat.first_token"), hook.named("chat.complete")
    assert (first["context"]["outcome"], complete["context"]["outcome"]) == samples
    assert first["start_time"] == complete["start_time"]  # one start, two timing points
    assert (complete["response_time"] is None) == (samples[1] == "timeout")  # nothing made up
    assert client.connected == (case != "is cut off")


def test_a_green_stream_follows_the_accepted_ask() -> None:
    streamed: list[Item] = [SioEvent("stream", {"type": "chunk", "data": "Hi"}), SioEvent("stream", {"type": "end"})]

    def accepted(request: HttpRequest) -> HttpReply:
        server.last.push(*streamed)  # the answer streams to the chat's room once the POST is accepted
        return reply(201, {"status": "accepted", "channel": f"chat:{CHAT}"})

    client, http, server = logged_in("green", hook := Hook(), **{"chat.ask": [accepted]})
    judged = client.ask(CHAT, "hello")
    assert judged.ok and judged.value == "Hi" and http.count("chat.ask") == 1
    assert server.last.sent == [SioEvent("join-room", {"chatId": CHAT})]  # then the POST, over HTTP
    assert hook.outcomes("chat.first_token") == ["ok"] and hook.outcomes("chat.complete") == ["ok"]


def test_a_green_ask_refused_in_a_201_body_fails_the_turn_without_waiting() -> None:
    refused = reply(201, {"error": "Chat not found"})
    client, _, _ = logged_in("green", hook := Hook(), **{"chat.ask": [refused]})
    judged = client.ask(CHAT, "hello")
    assert judged.outcome is Outcome.SOFT_FAILURE and judged.reason.startswith("ask refused:")
    assert hook.outcomes("chat.first_token") == hook.outcomes("chat.complete") == ["soft_failure"]


# -- a refused handshake ----------------------------------------------------------------------------


def refused_as_green_refuses() -> TransportError:
    """What ``SocketIOConnection.open`` raises when the server's connect handler says no."""
    error = socketio.exceptions.ConnectionError("One or more namespaces failed to connect: /")
    return classify(error, server_refusal=sio_refusal({"message": "Authentication failed"}))


def test_a_handshake_refused_for_a_token_without_claims_names_the_missing_ones() -> None:
    # green's auth.refresh issues access tokens that carry `sub` alone (CONTRACT.md, a real defect)
    client, _, server = logged_in("green", hook := Hook(), token=jwt(sub="a" * 24, exp=int(time.time() + 900)))
    server.refuse = refused_as_green_refuses()
    assert not client.connect()
    (event,) = hook.named("chat.connect")
    reason = str(event["exception"])
    assert event["context"]["outcome"] == "error"
    assert "handshake refused: Authentication failed" in reason  # the server's words, not the library's
    assert "carries no `username` and `roles` claim" in reason


@pytest.mark.parametrize(
    ("refusal", "outcome"),
    [(refused_as_green_refuses(), "error"), (TransportError("timed out", timed_out=True), "timeout")],
)
def test_a_failed_connect_with_a_sound_token_blames_no_claim(refusal: TransportError, outcome: str) -> None:
    client, _, server = logged_in("green", hook := Hook())
    server.refuse = refusal
    assert not client.connect()
    (event,) = hook.named("chat.connect")
    assert event["context"]["outcome"] == outcome and "claim" not in str(event["exception"])
