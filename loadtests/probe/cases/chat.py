"""Chats: the real-time connection and its first-frame rules, asking and streaming, and the chat
routes over REST (CONTRACT.md, "Chat")."""

from __future__ import annotations

import secrets
import time

from loadtests.dialects.base import (
    Pong,
    RoomMessage,
)
from loadtests.probe.cases.flows import make_chat, socket_case, stream
from loadtests.probe.cases.registry import (
    AGENTS,
    CHAT,
    SOCKET_USERS,
    case,
    obs,
)
from loadtests.probe.session import ColorProbe, Observation


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
    p.chat = make_chat(p, "probe chat")
    return p.last


@case(
    "chat.join", "realtime", "put a fresh socket on the user's chat (blue: join_room as the first frame)",
    uses=CHAT | AGENTS | frozenset({"SwarmUser"}),
)  # fmt: skip
def _join(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return socket_case(p, lambda: p.dialect.open_chat(chat.chat_id, first=True))


@case("chat.join.unknown", "realtime", "join a chat that does not exist",
      expect={"blue": "refused", "green": "ok"})  # fmt: skip
def _join_unknown(p: ColorProbe) -> Observation | None:
    # green's gateway checks neither existence nor ownership of a room (CONTRACT.md)
    return socket_case(p, lambda: p.dialect.open_chat(secrets.token_hex(12), first=True))


@case("chat.join.other_user", "realtime", "join another user's chat", expect={"blue": "refused", "green": "ok"})
def _join_other(p: ColorProbe) -> Observation | None:
    other = p.need(p.login_as(p.accounts.other), "the other account's session")
    p.other_session = other
    p.other_chat = p.need(make_chat(p, "other user's chat", token=other.access_token), "another user's chat")
    return socket_case(p, lambda: p.dialect.open_chat(p.other_chat.chat_id, first=True))  # type: ignore[union-attr]


@case("chat.first_frame.ping", "realtime", "send a ping as a socket's first message",
      expect={"blue": "refused", "green": "ok"})  # fmt: skip
def _first_ping(p: ColorProbe) -> Observation | None:
    return socket_case(p, lambda: p.dialect.ping("probe"))


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
    return stream(p, chat.chat_id, lambda: p.dialect.ask(chat.chat_id, "What is on the syllabus?"))


@case("chat.guard.expired_socket", "realtime",
      "a guarded event on a socket whose handshake token has expired", expect="refused")  # fmt: skip
def _expired_socket(p: ColorProbe) -> Observation | None:
    if not p.dialect.reopen_after_refresh:
        return None  # blue checks the token once, at the handshake
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
        observation, _ = p.exchange(connection, step, RoomMessage)
    finally:
        connection.close()
    return observation


# -- chats over REST ---------------------------------------------------------------------------
@case("chat.history", "chat", "list the user's chats", uses=CHAT)
def _history(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.chat_history(), p.dialect.read_chat_history))


@case("chat.get", "chat", "read one chat", required={"blue": ("_id|id", "messages")}, uses=CHAT)
def _get(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.get_chat(chat.chat_id), p.dialect.read_chat))


@case("chat.get.unknown", "chat", "read a chat that does not exist", expect="refused", statuses={"blue": (404,)})
def _get_unknown(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.get_chat(secrets.token_hex(12)), p.dialect.read_chat))


@case("chat.get.other_user", "chat", "read another user's chat", expect="refused", statuses={"blue": (403,)})
def _get_other(p: ColorProbe) -> Observation | None:
    other = p.need(p.other_chat, "another user's chat (chat.join.other_user)")
    return obs(p.http(p.dialect.get_chat(other.chat_id), p.dialect.read_chat))


@case("chat.message", "chat", "store a message without asking (POST chats/{id}/messages)",
      statuses={"green": (201,)})  # fmt: skip
def _message(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.add_message(chat.chat_id, "a note"), p.dialect.read_json))


@case("chat.rename", "chat", "rename a chat", uses=CHAT)
def _rename(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.rename_chat(chat.chat_id, "renamed by the probe"), p.dialect.read_renamed))


@case("chat.pin", "chat", "pin a chat", required={"blue": ("isPinned",)}, uses=CHAT)
def _pin(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.pin_chat(chat.chat_id, True), p.dialect.read_json))


@case("chat.memory_stats", "chat", "one chat's conversation memory", uses=CHAT)
def _memory(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.memory_stats(chat.chat_id), p.dialect.read_json))


@case("chat.clear_memory", "chat", "clear a chat's conversation memory", uses=CHAT)
def _clear(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.clear_memory(chat.chat_id), p.dialect.read_json))
