"""The compatibility probe's cases: every route and socket flow of CONTRACT.md, once per color,
positive and negative, in the order a user meets them (later cases use what earlier ones made).

A case is written once, in the dialects' vocabulary, with what the contract promises per color:
``expect`` (``ok``: the call succeeds; ``refused``: a correct server refuses it), the statuses the
contract names, and the fields it promises. ``uses`` names the user classes whose workload takes
the step: the preflight of ``loadbench run`` runs those positive cases only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loadtests.dialects.base import (
    AgentRef,
    ChatRef,
    CollectionRef,
    Credentials,
    End,
    Exchange,
    HttpRequest,
    Outcome,
    Pong,
    Upload,
)
from loadtests.probe.observe import route_missing
from loadtests.probe.session import ColorProbe, Observation, Skip

Expect = Literal["ok", "refused"]
ALL = frozenset({"ChatUser", "UploaderUser", "AgentRunnerUser", "AdminReader", "SwarmUser"})
CHAT = frozenset({"ChatUser"})
SOCKET_USERS = frozenset({"ChatUser", "AgentRunnerUser", "SwarmUser"})
UPLOADS = frozenset({"UploaderUser"})
AGENTS = frozenset({"AgentRunnerUser"})
ADMIN = frozenset({"AdminReader"})


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    title: str
    run: Callable[[ColorProbe], Observation | None]
    expect: Expect | Mapping[str, Expect] = "ok"
    statuses: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    uses: frozenset[str] = frozenset()  # user classes whose workload needs this step
    burst: bool = False  # only with `loadbench probe --burst`

    def expect_for(self, color: str) -> Expect:
        return self.expect if isinstance(self.expect, str) else self.expect[color]


CASES: list[Case] = []


def case(
    id: str,
    group: str,
    title: str,
    *,
    expect: Expect | Mapping[str, Expect] = "ok",
    statuses: Mapping[str, tuple[int, ...]] | None = None,
    required: Mapping[str, tuple[str, ...]] | None = None,
    uses: frozenset[str] = frozenset(),
    burst: bool = False,
) -> Callable[[Callable[[ColorProbe], Observation | None]], Callable[[ColorProbe], Observation | None]]:
    def register(run: Callable[[ColorProbe], Observation | None]) -> Callable[[ColorProbe], Observation | None]:
        CASES.append(Case(id, group, title, run, expect, statuses or {}, required or {}, uses, burst))
        return run

    return register


def _obs(result: tuple[Observation, object] | None) -> Observation | None:
    return None if result is None else result[0]


def _txt(size: int = 2_500) -> Upload:
    text = ("Lecture notes on sorting algorithms and graph theory. " * (size // 50 + 1))[:size]
    return Upload("probe-notes.txt", text.encode(), "text/plain")


# -- authentication ----------------------------------------------------------------------------
@case(
    "auth.login", "auth", "log in with the right password",
    statuses={"blue": (200,), "green": (201,)},
    required={"blue": ("token", "user"), "green": ("accessToken", "refreshToken", "user")},
    uses=ALL,
)  # fmt: skip
def _login(p: ColorProbe) -> Observation | None:
    if p.accounts.mint is not None and not p.accounts.user.password:
        p.session = p.accounts.mint(p.accounts.user, p.dialect)
        raise Skip("auth.mode mint: the run logs nobody in, and the probe has no password")
    request = p.dialect.login(p.accounts.user)
    result = p.http(request, p.dialect.read_login, allowed_secrets=frozenset({"token", "accessToken", "refreshToken"}))
    assert result is not None
    observation, judged = result
    p.rate_limits = {k: v for k, v in observation.headers.items() if k.startswith("x-ratelimit")}
    if judged.ok:
        p.session = judged.value
    elif p.accounts.mint is not None:
        p.session = p.accounts.mint(p.accounts.user, p.dialect)  # minted runs do not depend on logins
    return observation


@case(
    "auth.login.wrong_password", "auth", "log in with a wrong password", expect="refused",
    statuses={"blue": (401,), "green": (201,)},
)  # fmt: skip
def _wrong_password(p: ColorProbe) -> Observation | None:
    wrong = Credentials(p.accounts.user.username, "not-" + secrets.token_hex(8))
    return _obs(p.http(p.dialect.login(wrong), p.dialect.read_login))


@case(
    "auth.login.invalid_body", "auth", "log in without a password", expect="refused",
    statuses={"blue": (422,), "green": (400,)},
)  # fmt: skip
def _login_invalid(p: ColorProbe) -> Observation | None:
    request = p.dialect.login(Credentials(p.accounts.user.username, ""))
    body = {"username": p.accounts.user.username}
    return _obs(p.http(HttpRequest(request.name, request.method, request.path, json=body, authenticated=False),
                       p.dialect.read_login))  # fmt: skip


@case(
    "auth.me", "auth", "read the logged-in user",
    required={"blue": ("_id|id", "username", "role"), "green": ("userId", "username", "roles")}, uses=ALL,
)  # fmt: skip
def _me(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.me(), p.dialect.read_me))


@case("auth.me.no_token", "auth", "read the user with no token", expect="refused",
      statuses={"blue": (401, 403), "green": (401,)})  # fmt: skip
def _me_no_token(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.me(), p.dialect.read_me, token=None))


@case("auth.me.forged_token", "auth", "read the user with a forged token", expect="refused", statuses={"*": (401,)})
def _me_forged(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.me(), p.dialect.read_me, token=p.forged_token()))


@case("auth.me.expired_token", "auth", "read the user with an expired token", expect="refused", statuses={"*": (401,)})
def _me_expired(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.me(), p.dialect.read_me, token=p.expired_token()))


@case(
    "auth.refresh", "auth", "refresh the token; the new one carries the claims the color needs",
    statuses={"blue": (200,), "green": (201,)},
    required={"blue": ("token",), "green": ("accessToken", "refreshToken")}, uses=ALL,
)  # fmt: skip
def _refresh(p: ColorProbe) -> Observation | None:
    session = p.need(p.session, "a logged-in session")
    if session.refresh_token is None and p.dialect.color == "green":
        raise Skip("needs a refresh token (minted sessions have none)")
    allowed = frozenset({"token", "accessToken", "refreshToken"})
    result = p.http(p.dialect.refresh(session), lambda r: p.dialect.read_refresh(r, session), allowed_secrets=allowed)
    assert result is not None
    observation, judged = result
    if judged.ok and judged.value is not None:
        p.refreshed = judged.value
        problem = p.dialect.token_problem(judged.value)
        if problem is not None:
            observation.problems.append(f"defect: {problem}")
        p.session = judged.value if problem is None else session
    return observation


@case("auth.refresh.invalid", "auth", "refresh with a token the server never issued", expect="refused",
      statuses={"blue": (401,), "green": (201,)})  # fmt: skip
def _refresh_invalid(p: ColorProbe) -> Observation | None:
    from loadtests.dialects.base import AuthSession

    bogus = AuthSession(p.forged_token(), secrets.token_hex(32))
    request = p.dialect.refresh(bogus)
    return _obs(p.http(request, lambda r: p.dialect.read_refresh(r, bogus), token=bogus.access_token))


# -- real time ---------------------------------------------------------------------------------
@case("chat.connect", "realtime", "open the real-time connection", uses=SOCKET_USERS)
def _connect(p: ColorProbe) -> Observation | None:
    session = p.need(p.session, "a logged-in session")
    connection, observation = p.open_socket(session.access_token)
    if connection is not None:
        connection.close()
    return observation


@case("chat.connect.refreshed_token", "realtime", "open the connection with a refreshed token", uses=SOCKET_USERS)
def _connect_refreshed(p: ColorProbe) -> Observation | None:
    refreshed = p.need(p.refreshed, "a refreshed session (auth.refresh)")
    connection, observation = p.open_socket(refreshed.access_token)
    if connection is not None:
        connection.close()
    elif (problem := p.dialect.token_problem(refreshed)) is not None:
        observation.problems.append(f"defect: {problem}")
    return observation


@case("chat.connect.no_token", "realtime", "open the connection with no token", expect="refused")
def _connect_no_token(p: ColorProbe) -> Observation | None:
    connection, observation = p.open_socket(None)
    if connection is not None:
        connection.close()
    return observation


@case("chat.connect.forged_token", "realtime", "open the connection with a forged token", expect="refused")
def _connect_forged(p: ColorProbe) -> Observation | None:
    connection, observation = p.open_socket(p.forged_token())
    if connection is not None:
        connection.close()
    return observation


@case(
    "chat.create", "chat", "create a chat (blue: create_room over the socket; green: POST chats)",
    statuses={"green": (201,)}, required={"green": ("_id",)}, uses=CHAT | AGENTS,
)  # fmt: skip
def _create_chat(p: ColorProbe) -> Observation | None:
    p.chat = _make_chat(p, "probe chat")
    return p.last


def _make_chat(p: ColorProbe, name: str, *, token: str | None = None) -> ChatRef | None:
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


def _socket_case(
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


@case(
    "chat.join", "realtime", "put a fresh socket on the user's chat (blue: join_room as the first frame)",
    uses=CHAT | AGENTS | frozenset({"SwarmUser"}),
)  # fmt: skip
def _join(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _socket_case(p, lambda: p.dialect.open_chat(chat.chat_id, first=True))


@case("chat.join.unknown", "realtime", "join a chat that does not exist",
      expect={"blue": "refused", "green": "ok"})  # fmt: skip
def _join_unknown(p: ColorProbe) -> Observation | None:
    # green's gateway checks neither existence nor ownership of a room (CONTRACT.md)
    return _socket_case(p, lambda: p.dialect.open_chat(secrets.token_hex(12), first=True))


@case("chat.join.other_user", "realtime", "join another user's chat", expect={"blue": "refused", "green": "ok"})
def _join_other(p: ColorProbe) -> Observation | None:
    other = p.need(p.login_as(p.accounts.other), "the other account's session")
    p.other_session = other
    p.other_chat = p.need(_make_chat(p, "other user's chat", token=other.access_token), "another user's chat")
    return _socket_case(p, lambda: p.dialect.open_chat(p.other_chat.chat_id, first=True))  # type: ignore[union-attr]


@case("chat.first_frame.ping", "realtime", "send a ping as a socket's first message",
      expect={"blue": "refused", "green": "ok"})  # fmt: skip
def _first_ping(p: ColorProbe) -> Observation | None:
    return _socket_case(p, lambda: p.dialect.ping("probe"))


@case("chat.rtt", "realtime", "ping on an open socket", uses=CHAT | frozenset({"SwarmUser"}))
def _rtt(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    connection, observation = p.open_socket(p.need(p.session, "a session").access_token)
    if connection is None:
        return observation
    try:
        opening = p.dialect.open_chat(chat.chat_id, first=True)
        if opening is not None:
            opened, _ = p.exchange(connection, opening)
            if opened.outcome != "ok":
                return opened
        observation, _ = p.exchange(connection, p.dialect.ping("probe"), Pong)
    finally:
        connection.close()
    return observation


@case("chat.ask", "realtime", "ask in the chat and stream the answer to its end", uses=CHAT)
def _ask(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _stream(p, chat.chat_id, lambda: p.dialect.ask(chat.chat_id, "What is on the syllabus?"))


def _stream(
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
            end_observation, _ = _read_stream(p, connection)
        else:
            end_observation, _ = p.exchange(connection, step, End)
            observation = end_observation
        observation.outcome, observation.event = end_observation.outcome, end_observation.event
        if end_observation.latency_ms is not None and observation.latency_ms is not None:
            observation.latency_ms = round(observation.latency_ms + end_observation.latency_ms, 3)
    finally:
        connection.close()
    return observation


def _read_stream(p: ColorProbe, connection: object) -> tuple[Observation, object]:
    import time

    observation = Observation("stream")
    start = time.perf_counter()
    event = p.await_event(connection, lambda e: isinstance(e, End), timeout_s=max(p.timeout_s, 15.0))  # type: ignore[arg-type]
    observation.latency_ms = round((time.perf_counter() - start) * 1000, 3)
    if isinstance(event, End):
        observation.outcome, observation.event = "ok", "End"
    else:
        observation.outcome, observation.event = p.describe_failure(event, "End")
    return observation, event


@case("chat.guard.expired_socket", "realtime",
      "a guarded event on a socket whose handshake token has expired", expect="refused")  # fmt: skip
def _expired_socket(p: ColorProbe) -> Observation | None:
    if not p.dialect.reopen_after_refresh:
        return None  # blue checks the token once, at the handshake
    import time

    connection, observation = p.open_socket(p.short_token(2))
    if connection is None:
        return observation
    try:
        time.sleep(3.1)  # whole-second expiry
        observation, _ = p.exchange(connection, p.dialect.open_chat(secrets.token_hex(12), first=True))  # type: ignore[arg-type]
    finally:
        connection.close()
    return observation


@case("chat.room_message", "realtime", "send a message to the chat's room (no model call)")
def _room_message(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    step = p.dialect.room_send(chat.chat_id, "hello room")
    if step is None:
        return None
    connection, observation = p.open_socket(p.need(p.session, "a session").access_token)
    if connection is None:
        return observation
    try:
        opening = p.dialect.open_chat(chat.chat_id, first=True)
        if opening is not None:
            p.exchange(connection, opening)
        from loadtests.dialects.base import RoomMessage

        observation, _ = p.exchange(connection, step, RoomMessage)
    finally:
        connection.close()
    return observation


# -- chats over REST ---------------------------------------------------------------------------
@case("chat.history", "chat", "list the user's chats", uses=CHAT)
def _history(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.chat_history(), p.dialect.read_chat_history))


@case("chat.get", "chat", "read one chat", required={"blue": ("_id|id", "messages")}, uses=CHAT)
def _get(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.get_chat(chat.chat_id), p.dialect.read_chat))


@case("chat.get.unknown", "chat", "read a chat that does not exist", expect="refused", statuses={"blue": (404,)})
def _get_unknown(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.get_chat(secrets.token_hex(12)), p.dialect.read_chat))


@case("chat.get.other_user", "chat", "read another user's chat", expect="refused", statuses={"blue": (403,)})
def _get_other(p: ColorProbe) -> Observation | None:
    other = p.need(p.other_chat, "another user's chat (chat.join.other_user)")
    return _obs(p.http(p.dialect.get_chat(other.chat_id), p.dialect.read_chat))


@case("chat.message", "chat", "store a message without asking (POST chats/{id}/messages)",
      statuses={"green": (201,)})  # fmt: skip
def _message(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.add_message(chat.chat_id, "a note"), p.dialect.read_json))


@case("chat.rename", "chat", "rename a chat", uses=CHAT)
def _rename(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.rename_chat(chat.chat_id, "renamed by the probe"), p.dialect.read_renamed))


@case("chat.pin", "chat", "pin a chat", required={"blue": ("isPinned",)}, uses=CHAT)
def _pin(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.pin_chat(chat.chat_id, True), p.dialect.read_json))


@case("chat.memory_stats", "chat", "one chat's conversation memory", uses=CHAT)
def _memory(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.memory_stats(chat.chat_id), p.dialect.read_json))


@case("chat.clear_memory", "chat", "clear a chat's conversation memory", uses=CHAT)
def _clear(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.clear_memory(chat.chat_id), p.dialect.read_json))


# -- agents ------------------------------------------------------------------------------------
@case("agent.list", "agents", "list agents", uses=AGENTS)
def _agents(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.list_agents(), p.dialect.read_agents))


@case("agent.templates", "agents", "list agent templates", uses=AGENTS)
def _templates(p: ColorProbe) -> Observation | None:
    result = p.http(p.dialect.agent_templates(), p.dialect.read_templates)
    if result is not None and result[1].ok:
        p.template_ids = list(result[1].value or [])
    return _obs(result)


@case("agent.create", "agents", "create an agent", statuses={"green": (201,)}, required={"*": ("_id|id", "name")},
      uses=AGENTS)  # fmt: skip
def _create_agent(p: ColorProbe) -> Observation | None:
    result = p.http(p.dialect.create_agent(f"probe agent {secrets.token_hex(3)}"), p.dialect.read_agent)
    assert result is not None
    if result[1].ok and isinstance(result[1].value, AgentRef):
        p.agent_id = result[1].value.agent_id
    return result[0]


@case("agent.create.invalid", "agents", "create an agent without a name", expect="refused",
      statuses={"blue": (422,), "green": (400,)})  # fmt: skip
def _create_agent_invalid(p: ColorProbe) -> Observation | None:
    request = p.dialect.create_agent("x")
    return _obs(p.http(HttpRequest(request.name, request.method, request.path, json={"description": "no name"}),
                       p.dialect.read_agent))  # fmt: skip


@case("agent.get", "agents", "read one agent", uses=AGENTS)
def _get_agent(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.get_agent(p.need(p.agent_id, "an agent (agent.create)")), p.dialect.read_agent))


@case("agent.get.unknown", "agents", "read an agent that does not exist", expect="refused", statuses={"*": (404,)})
def _get_agent_unknown(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.get_agent(secrets.token_hex(12)), p.dialect.read_agent))


@case("agent.update", "agents", "update an agent", uses=AGENTS)
def _update_agent(p: ColorProbe) -> Observation | None:
    agent_id = p.need(p.agent_id, "an agent (agent.create)")
    return _obs(p.http(p.dialect.update_agent(agent_id, "updated by the probe"), p.dialect.read_agent))


@case("agent.from_template", "agents", "create an agent from a template", uses=AGENTS)
def _from_template(p: ColorProbe) -> Observation | None:
    template = p.template_ids[0] if p.template_ids else "programming-tutor"
    return _obs(p.http(p.dialect.agent_from_template(template, "probe template agent"), p.dialect.read_agent))


@case("agent.rate", "agents", "rate an agent", uses=AGENTS)
def _rate(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.rate_agent(p.need(p.agent_id, "an agent"), 4), p.dialect.read_json))


@case("agent.use", "agents", "count a use of an agent")
def _use(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.use_agent(p.need(p.agent_id, "an agent")), p.dialect.read_json))


@case("agent.run", "agents", "run an agent and stream its answer to the end", uses=AGENTS)
def _run_agent(p: ColorProbe) -> Observation | None:
    agent_id = p.need(p.agent_id, "an agent (agent.create)")
    chat = p.need(p.chat, "a chat (chat.create)")
    session = p.need(p.session, "a session")
    run_session = secrets.token_hex(12)
    subscribe = p.dialect.subscribe_agent_run(run_session)

    def step() -> Exchange | HttpRequest:
        return p.dialect.run_agent(agent_id=agent_id, chat_id=chat.chat_id, session_id=run_session,
                                   user_id=session.user_id, text="Summarise the lecture.")  # fmt: skip

    return _stream(p, chat.chat_id, step, subscribe=subscribe, read=p.dialect.read_agent_started)


@case("agent.status", "agents", "read an agent run's streaming status", uses=AGENTS)
def _agent_status(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.agent_status(secrets.token_hex(12)), p.dialect.read_agent_status))


@case("agent.cancel", "agents", "cancel an agent run", statuses={"green": (201,)})
def _agent_cancel(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.cancel_agent_run(secrets.token_hex(12)), p.dialect.read_json))


@case("agent.delete", "agents", "delete an agent", uses=AGENTS)
def _delete_agent(p: ColorProbe) -> Observation | None:
    agent_id = p.need(p.agent_id, "an agent (agent.create)")
    return _obs(p.http(p.dialect.delete_agent(agent_id), p.dialect.read_agent_deleted))


# -- collections and documents -------------------------------------------------------------------
@case("collection.list", "collections", "list collections", uses=UPLOADS)
def _collections(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.list_collections(), p.dialect.read_collections))


@case("collection.public", "collections", "list public collections with no token")
def _public(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.public_collections(), p.dialect.read_collections, token=None))


@case("collection.create", "collections", "create a collection", statuses={"*": (201,)},
      required={"*": ("_id|id", "name", "permission")}, uses=UPLOADS)  # fmt: skip
def _create_collection(p: ColorProbe) -> Observation | None:
    name = f"probe {secrets.token_hex(4)}"
    result = p.http(p.dialect.create_collection(name), lambda r: p.dialect.read_created_collection(r, name))
    assert result is not None
    if result[1].ok and isinstance(result[1].value, CollectionRef):
        p.collection = result[1].value
    return result[0]


@case("collection.create.duplicate", "collections", "create a collection whose name is taken", expect="refused",
      statuses={"blue": (400,), "green": (409,)})  # fmt: skip
def _duplicate(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.create_collection(collection.name)
    return _obs(p.http(request, lambda r: p.dialect.read_created_collection(r, collection.name)))


@case("collection.create.invalid_name", "collections", "create a collection with an invalid name",
      expect="refused", statuses={"*": (400,)})  # fmt: skip
def _invalid_name(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.create_collection("x!"), lambda r: p.dialect.read_created_collection(r, "x!")))


@case("collection.update", "collections", "change a collection's permission", uses=UPLOADS)
def _update_collection(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.update_collection(collection, "PRIVATE")  # still private: collection.other_user needs it
    return _obs(p.http(request, lambda r: p.dialect.read_created_collection(r, collection.name)))


@case("collection.document", "collections", "add a text document", uses=UPLOADS)
def _document(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.add_document(collection, _txt())
    return _obs(p.http(request, lambda r: p.dialect.read_document(r, over_limit=False)))


@case("collection.document.over_limit", "collections", "add a document over the size limit", expect="refused",
      statuses={"green": (413,)})  # fmt: skip
def _document_over(p: ColorProbe) -> Observation | None:
    limit = p.dialect.document_limit_bytes
    if limit is None:
        return None  # blue sets no document limit
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.add_document(collection, Upload("big.txt", b"x" * (limit + 1024), "text/plain"))
    return _obs(p.http(request, lambda r: p.dialect.read_document(r, over_limit=True)))


@case("collection.documents", "collections", "list a collection's documents", uses=UPLOADS)
def _documents(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    result = p.http(p.dialect.list_documents(collection), p.dialect.read_documents)
    assert result is not None
    if result[1].ok:
        p.document_ids = list(result[1].value or [])
    return result[0]


@case("collection.search", "collections", "search a collection", uses=UPLOADS)
def _search(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    return _obs(p.http(p.dialect.search(collection, "sorting"), p.dialect.read_search))


@case("collection.stats", "collections", "a collection's statistics", uses=UPLOADS)
def _collection_stats(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    return _obs(p.http(p.dialect.collection_stats(collection), p.dialect.read_json))


@case("collection.other_user", "collections", "list the documents of another user's private collection",
      expect="refused", statuses={"*": (403,)})  # fmt: skip
def _collection_other(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    other = p.need(p.other_session, "the other account's session")
    return _obs(p.http(p.dialect.list_documents(collection), p.dialect.read_documents, token=other.access_token))


@case("collection.document_delete", "collections", "delete a document", uses=UPLOADS)
def _document_delete(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    ids = p.need(p.document_ids or None, "a document (collection.documents)")
    return _obs(p.http(p.dialect.delete_documents(collection, ids[:1]), p.dialect.read_json))


@case("collection.delete", "collections", "delete a collection", uses=UPLOADS)
def _delete_collection(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    return _obs(p.http(p.dialect.delete_collection(collection), p.dialect.read_collection_deleted))


# -- uploads -----------------------------------------------------------------------------------
@case("upload.file", "upload", "upload a chat attachment", statuses={"blue": (200,), "green": (201,)},
      required={"*": ("url", "mediaType")}, uses=UPLOADS)  # fmt: skip
def _upload(p: ColorProbe) -> Observation | None:
    upload = Upload("probe.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 2048, "image/png")
    return _obs(p.http(p.dialect.upload(upload), lambda r: p.dialect.read_upload(r, over_limit=False)))


@case("upload.file.over_limit", "upload", "upload an attachment over the size limit", expect="refused",
      statuses={"blue": (400,), "green": (413,)})  # fmt: skip
def _upload_over(p: ColorProbe) -> Observation | None:
    upload = Upload("big.bin", b"x" * (p.dialect.upload_limit_bytes + 1024), "application/octet-stream")
    return _obs(p.http(p.dialect.upload(upload), lambda r: p.dialect.read_upload(r, over_limit=True)))


@case("upload.file.no_token", "upload", "upload with no token", expect="refused",
      statuses={"blue": (401, 403), "green": (401,)})  # fmt: skip
def _upload_no_token(p: ColorProbe) -> Observation | None:
    upload = Upload("probe.png", b"\x89PNG\r\n\x1a\n", "image/png")
    return _obs(p.http(p.dialect.upload(upload), lambda r: p.dialect.read_upload(r, over_limit=False), token=None))


# -- admin, stats, health ------------------------------------------------------------------------
def _admin_token(p: ColorProbe) -> str:
    if p.admin_session is None:
        p.admin_session = p.login_as(p.accounts.admin)
    return p.need(p.admin_session, "the admin account's session").access_token


@case("admin.list", "admin", "list admins (SuperAdmin)", uses=ADMIN)
def _admins(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.admin_list(), p.dialect.read_admin, token=_admin_token(p)))


@case("admin.list.forbidden", "admin", "list admins as a user who is not SuperAdmin", expect="refused",
      statuses={"*": (403,)})  # fmt: skip
def _admins_forbidden(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.admin_list(), p.dialect.read_admin))


@case("admin.memory_stats", "admin", "every chat's memory (admins)", uses=ADMIN)
def _admin_memory(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.admin_memory_stats(), p.dialect.read_json, token=_admin_token(p)))


@case("stats.total", "admin", "usage totals", uses=ADMIN)
def _stats_total(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.stats_total(), p.dialect.read_admin, token=_admin_token(p)))


@case("stats.daily", "admin", "today's usage", uses=ADMIN)
def _stats_daily(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.stats_daily(), p.dialect.read_admin, token=_admin_token(p)))


@case("stats.range", "admin", "usage per day over a range", uses=ADMIN)
def _stats_range(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.stats_range("2026-01-01", "2026-01-31"), p.dialect.read_admin, token=_admin_token(p)))


@case("health", "health", "the health route (blue: GET /)", uses=ALL)
def _health(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.health(), p.dialect.read_health, token=None))


@case("health.detailed", "health", "the detailed health route")
def _health_detailed(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.health_detailed(), p.dialect.read_json, token=None))


# -- limits (--burst) ----------------------------------------------------------------------------
BURST_REQUESTS = 70  # past green's catch-all 60 requests a minute per client IP


@case("limits.burst", "limits", f"{BURST_REQUESTS} quick reads of the chat list: is there a rate limit?",
      burst=True)  # fmt: skip
def _burst(p: ColorProbe) -> Observation | None:
    first: Observation | None = None
    for index in range(BURST_REQUESTS):
        result = p.http(p.dialect.chat_history(), p.dialect.read_chat_history)
        assert result is not None
        observation, judged = result
        first = first or observation
        if judged.outcome is Outcome.RATE_LIMITED:
            observation.event = f"429 after {index} requests"
            return observation
        if not judged.ok:
            return observation
    assert first is not None
    first.event = f"no 429 in {BURST_REQUESTS} requests"
    return first


# -- cleanup of the chat last, so that every chat case could use it ------------------------------
@case("chat.delete", "chat", "delete a chat", uses=CHAT)
def _delete(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return _obs(p.http(p.dialect.delete_chat(chat.chat_id), p.dialect.read_deleted))


@case("chat.delete.unknown", "chat", "delete a chat that does not exist", expect="refused", statuses={"blue": (404,)})
def _delete_unknown(p: ColorProbe) -> Observation | None:
    return _obs(p.http(p.dialect.delete_chat(secrets.token_hex(12)), p.dialect.read_deleted))


def judge(case: Case, color: str, observation: Observation) -> Observation:
    """Fill ``verdict`` and ``problems``: does this answer keep the color's contract?"""
    problems = list(observation.problems)  # a case may have named a defect already
    expect = case.expect_for(color)
    body = observation.body
    if observation.status is not None and route_missing(observation.status, body) and expect == "ok":
        observation.route_missing = True
        problems.append(f"route missing: {observation.request} answered HTTP {observation.status}")
    elif expect == "ok" and observation.outcome != Outcome.OK.value:
        what = observation.reason or observation.event or observation.outcome
        if observation.outcome == "timeout" and observation.status is None:
            problems.append(f"event missing: {what}")
        else:
            problems.append(f"failed ({observation.outcome}): {what}")
    elif expect == "refused" and observation.outcome == Outcome.OK.value:
        problems.append("accepted what the contract says is refused")
    elif expect == "refused" and observation.outcome == "timeout" and observation.status is None:
        problems.append(f"no refusal: {observation.event or 'nothing came back'}")
    statuses = case.statuses.get(color) or case.statuses.get("*")
    if statuses and observation.status is not None and observation.status not in statuses:
        problems.append(f"status {observation.status}, contract {' or '.join(map(str, statuses))}")
    for wanted in case.required.get(color, ()) or case.required.get("*", ()):
        if observation.status is not None and observation.outcome == Outcome.OK.value and not _has(body, wanted):
            problems.append(f"field missing: {wanted}")
    if expect == "refused" and observation.error_format is not None and observation.status is not None:
        wanted_format = _error_format_of(color, observation.status)
        if observation.error_format != wanted_format:
            problems.append(f"error format {observation.error_format}, contract {wanted_format}")
    for found in observation.secrets:
        problems.append(f"secret-looking field {found['path']} ({found['kind']})")
    observation.problems = problems
    observation.verdict = "fail" if problems else "pass"
    return observation


def _has(body: object, dotted: str) -> bool:
    from loadtests.probe.observe import has_path

    return has_path(body, dotted)


def _error_format_of(color: str, status: int) -> str:
    """CONTRACT.md: blue errors are ``{"detail": …}``; green's are Nest's, except its 2xx soft
    failures, which are ``{"error": …}``."""
    if color == "blue":
        return "fastapi"
    return "error-key" if status < 300 else "nest"
