"""CONTRACT.md's bold points, as the suite's own protocol code must meet them: the dialects on
recorded exchanges (pure), and the client against reference backends that behave as the real
ones do (each fact here once made a clean run record errors the servers never made)."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest

from loadtests.client import MAX_LOGIN_ATTEMPTS, PlatformClient, Timeouts
from loadtests.dialects import dialect_for
from loadtests.dialects.base import (
    MB,
    AuthSession,
    Credentials,
    HttpReply,
    Joined,
    Outcome,
    Refused,
    SioEvent,
    WsText,
)
from loadtests.timing import Timer


def token(claims: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig"


# -- dialects, on recorded exchanges ---------------------------------------------------------------


def test_blue_opens_a_socket_with_join_room_once_and_then_moves_by_message() -> None:
    blue = dialect_for("blue")
    assert blue.opening_required  # a ping as the first frame is closed with 1007
    first = blue.open_chat("c" * 24, first=True)
    assert first is not None and first.until is Joined
    assert json.loads(first.send.text) == {"type": "join_room", "chatId": "c" * 24}  # type: ignore[union-attr]
    assert blue.open_chat("d" * 24, first=False) is None  # a later join_room is ignored by the server
    assert blue.decode(WsText('{"type":"room_joined","data":{"chatId":"c1"}}')) == Joined("c1")


def test_blue_never_relays_a_users_message() -> None:
    blue = dialect_for("blue")
    assert blue.decode(WsText('{"type":"user_message","data":{"chatId":"c","text":"hi"}}')) is None
    assert blue.room_send("c" * 24, "x") is None and blue.room_create("r") is None


def test_green_has_no_route_for_one_chat() -> None:
    green = dialect_for("green")
    assert green.get_chat("c" * 24) is None and green.delete_chat("c" * 24) is None
    assert green.rename_chat("c" * 24, "n") is None and green.pin_chat("c" * 24, True) is None


def test_green_exception_is_a_refusal_with_the_servers_reason() -> None:
    green = dialect_for("green")
    event = SioEvent(
        "exception", {"status": "error", "message": "Forbidden resource", "cause": {"pattern": "join-room"}}
    )
    assert green.decode(event) == Refused("Forbidden resource", "join-room")


def test_greens_refreshed_token_without_claims_is_named() -> None:
    green, blue = dialect_for("green"), dialect_for("blue")
    claimless = AuthSession(token({"sub": "u" * 24, "exp": 2_000_000_000}))
    problem = green.token_problem(claimless)
    assert problem is not None and "no `username` and `roles` claim" in problem and "auth.refresh" in problem
    full = AuthSession(token({"sub": "u", "username": "n", "roles": ["Admin"], "exp": 2_000_000_000}))
    assert green.token_problem(full) is None
    assert blue.token_problem(AuthSession(token({"sub": "u", "username": "n", "nameID": "n", "role": "Admin"}))) is None


def test_upload_limits_are_ten_megabytes_on_both_colors() -> None:
    assert dialect_for("blue").upload_limit_bytes == dialect_for("green").upload_limit_bytes == 10 * MB


def test_a_429_carries_its_retry_after() -> None:
    reply = HttpReply(429, b'{"statusCode":429}', {"retry-after": "840", "x-ratelimit-limit": "5",
                                                   "x-ratelimit-window": "900"})  # fmt: skip
    judged = dialect_for("green").read_login(reply)
    assert judged.outcome is Outcome.RATE_LIMITED and judged.retry_after_s == 840
    assert judged.reason == "429 rate limited (limit 5 per 900 s), Retry-After 840 s"


def test_green_wrong_password_is_judged_from_the_body() -> None:
    judged = dialect_for("green").read_login(HttpReply(201, b'{"error":"Invalid credentials"}'))
    assert judged.outcome is Outcome.SOFT_FAILURE


# -- the client against the reference backends ------------------------------------------------------


class Hook:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.events.append(kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["name"] == name]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(backend: Any, password: str, hook: Hook, **kwargs: Any) -> PlatformClient:
    return PlatformClient(
        dialect=dialect_for(backend.color),
        base_url=backend.url,
        timer=Timer(hook, target=backend.color, user_class="ChatUser"),
        credentials=Credentials("loadbench-user-0001", password),
        timeouts=Timeouts(connect_s=5, exchange_s=5),
        **kwargs,
    )


def test_a_rate_limited_login_waits_for_retry_after_and_gives_up_after_a_few(start_backend, pool_password) -> None:
    # Windows are aligned to the epoch (green's Redis keys name the window): a day-long one, so the
    # real window cannot roll over while the test runs, and Retry-After is hours, not seconds (a
    # 900 s window left under 60 s in 1 of 15 runs, and the client rightly tried again).
    rules = [{"prefix": "/api/auth", "limit": 1, "window_s": 86_400}]
    backend = start_backend("green", faults={"rate_limit": True, "rate_limits": rules})
    hook, clock = Hook(), Clock()
    assert client(backend, pool_password, Hook()).login()  # takes the window's only login
    user = client(backend, pool_password, hook, clock=clock)
    assert not user.ensure_session()
    (first,) = hook.named("auth.login")
    assert first["context"]["outcome"] == "rate_limited" and "Retry-After" in str(first["exception"])
    retry_after = float(re.search(r"Retry-After (\d+) s", str(first["exception"])).group(1))  # type: ignore[union-attr]
    assert retry_after > 60
    clock.now += 60  # past LOGIN_RETRY_S, not past Retry-After: no new attempt
    assert not user.ensure_session() and len(hook.named("auth.login")) == 1
    for _ in range(MAX_LOGIN_ATTEMPTS + 2):
        clock.now += retry_after + 1
        user.ensure_session()
    assert len(hook.named("auth.login")) == MAX_LOGIN_ATTEMPTS and user.gave_up_login


def test_green_reopens_its_socket_after_a_refresh(start_backend, pool_password) -> None:
    # Every guarded green event re-verifies the handshake token: a socket left open on the old
    # token would be refused ("Forbidden resource") once it expires.
    # The server stamps `exp` in whole seconds, so a token issued with a 6 s life lives 5 to 6 s:
    # the client refreshes half-way (2.5 to 3 s in), the first token is dead 6 s in, and the
    # refreshed one lives to 7.5 s at the earliest. (A 3 s life left the refreshed token as
    # little as 0.4 s after the first one's death: the ask could meet it expired.)
    backend = start_backend("green", access_token_ttl_s=6)
    hook = Hook()
    user = client(backend, pool_password, hook)
    try:
        assert user.ensure_session()
        issued = time.monotonic()  # the token came before this, its refresh is due by issued + 3
        assert user.connect()
        chat = user.create_chat("refreshing")
        assert chat.ok and chat.value is not None and user.open_chat(chat.value.chat_id).ok
        time.sleep(max(0.0, issued + 3.1 - time.monotonic()))  # past half the token's life
        assert user.ensure_session() and not user.connected  # refreshed, socket let go
        time.sleep(max(0.0, issued + 6.2 - time.monotonic()))  # the first token has expired by now
        answer = user.ask(chat.value.chat_id, "still there?")
        assert answer.ok, answer.reason
    finally:
        user.close()
    assert [e["context"]["outcome"] for e in hook.named("chat.connect")] == ["ok", "ok"]
    assert all(e["context"]["outcome"] == "ok" for e in hook.events)


def test_a_socket_refused_for_a_claimless_refreshed_token_says_so(start_backend, pool_password) -> None:
    backend = start_backend("green", access_token_ttl_s=3, faults={"deviations": {"refresh_without_claims": True}})
    hook = Hook()
    user = client(backend, pool_password, hook)
    try:
        assert user.ensure_session() and user.connect()
        time.sleep(1.6)
        assert user.ensure_session()  # the refresh itself succeeds
        assert not user.connect()
    finally:
        user.close()
    refused = hook.named("chat.connect")[-1]
    reason = str(refused["exception"])
    assert refused["context"]["outcome"] == "error"
    assert "handshake refused: Authentication failed" in reason  # the server's words, not the library's
    assert "carries no `username` and `roles` claim" in reason


def test_blue_sends_no_ping_before_the_socket_has_opened_a_chat(blue, pool_password) -> None:
    hook = Hook()
    user = client(blue, pool_password, hook)
    try:
        assert user.ensure_session() and user.connect()
        assert user.ping() is None  # nothing sent, nothing recorded
        chat = user.create_chat("first frame")  # create_room: a valid first frame
        assert chat.ok
        ping = user.ping()
        assert ping is not None and ping.ok
    finally:
        user.close()
    assert len(hook.named("chat.rtt")) == 1
    assert all(e["context"]["outcome"] == "ok" for e in hook.events)


@pytest.mark.e2e
@pytest.mark.parametrize("color", ["blue", "green"])
def test_a_fresh_socket_opens_an_existing_chat_before_pinging(color: str, request: pytest.FixtureRequest,
                                                              pool_password: str) -> None:  # fmt: skip
    backend = request.getfixturevalue(color)
    hook = Hook()
    user = client(backend, pool_password, hook)
    try:
        assert user.ensure_session()
        chat = user.create_chat("reopen")
        assert chat.ok and chat.value is not None
        user.disconnect()
        assert user.open_chat(chat.value.chat_id).ok  # blue: join_room as the first frame, answered
        ping = user.ping()
        assert ping is not None and ping.ok
    finally:
        user.close()
    assert all(e["context"]["outcome"] == "ok" for e in hook.events)
    assert "chat.join" in {e["name"] for e in hook.events}
