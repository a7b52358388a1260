"""Last: the chat the other cases used is deleted (where the color can delete a chat)."""

from __future__ import annotations

import secrets

from loadtests.probe.cases.registry import (
    CHAT,
    case,
    obs,
)
from loadtests.probe.session import ColorProbe, Observation


# -- cleanup of the chat last, so that every chat case could use it ------------------------------
@case("chat.delete", "chat", "delete a chat", uses=CHAT)
def _delete(p: ColorProbe) -> Observation | None:
    chat = p.need(p.chat, "a chat (chat.create)")
    return obs(p.http(p.dialect.delete_chat(chat.chat_id), p.dialect.read_deleted))


@case("chat.delete.unknown", "chat", "delete a chat that does not exist", expect="refused", statuses={"blue": (404,)})
def _delete_unknown(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.delete_chat(secrets.token_hex(12)), p.dialect.read_deleted))
