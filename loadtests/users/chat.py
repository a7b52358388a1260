"""``ChatUser``: an authenticated chatter (CONTRACT.md, "Chat").

Logs in once (never per task: green allows 5 logins per 15 minutes per IP), refreshes before the
token expires, opens the real-time connection, and then mostly asks questions and streams the
answers, with some history browsing, pings and chat housekeeping in between.
"""

from __future__ import annotations

import random

from locust import between, task

from loadtests.dialects.base import Outcome
from loadtests.users.base import PlatformUser

_WORDS = (
    "explain", "summarise", "compare", "the", "lecture", "notes", "on", "graph", "theory", "sorting",
    "algorithms", "thermodynamics", "photosynthesis", "supply", "and", "demand", "recursion", "with",
    "an", "example", "in", "simple", "terms", "please",
)  # fmt: skip


class ChatUser(PlatformUser):
    abstract = True
    class_label = "ChatUser"
    wait_time = between(1, 3)  # replaced by the profile's think time on the concrete class

    def on_start(self) -> None:
        self.chats: list[str] = []
        self._rng = random.Random()
        # The history is read as the frontend does on opening, but its chats are not adopted: an
        # account may be shared by several simulated users, and a chat another one deletes would
        # turn this user's next read of it into a 404 that the server did nothing wrong to cause.
        if self.api.ensure_session() and self.api.connect():
            self.api.chat_history()

    def _ready(self) -> bool:
        if not self.api.ensure_session():
            return False
        return self.api.connected or self.api.connect()

    def _prompt(self) -> str:
        return " ".join(self._rng.choices(_WORDS, k=self.profile.chat.prompt_words))

    def _current_chat(self) -> str | None:
        if not self.chats:
            created = self.api.create_chat(f"loadbench {self._rng.randrange(10**6)}")
            if not created.ok or created.value is None:
                return None
            self.chats.append(created.value.chat_id)
        return self.chats[-1]

    @task(6)
    def ask(self) -> None:
        if not self._ready() or not (chat_id := self._current_chat()):
            return
        answered = self.api.ask(chat_id, self._prompt())
        if answered.ok or answered.outcome is Outcome.TIMEOUT:
            return
        # As the frontend would: reload the chat; one the server no longer has (a restarted
        # backend, a chat deleted elsewhere) is forgotten, and the next ask opens a new one.
        if self.api.get_chat(chat_id).not_found and chat_id in self.chats:
            self.chats.remove(chat_id)

    @task(2)
    def browse_history(self) -> None:
        if self.api.ensure_session():
            self.api.chat_history()

    @task(1)
    def open_old_chat(self) -> None:
        if self.chats and self.api.ensure_session():
            self.api.get_chat(self._rng.choice(self.chats))

    @task(2)
    def ping(self) -> None:
        if self._ready():
            self.api.ping()

    @task(1)
    def who_am_i(self) -> None:
        if self.api.ensure_session():
            self.api.me()

    @task(1)
    def rename(self) -> None:
        # Only where the color has a rename route (blue); elsewhere this records nothing.
        if self.chats and self.api.ensure_session():
            self.api.rename_chat(self._rng.choice(self.chats), f"renamed {self._rng.randrange(10**6)}")

    @task(1)
    def new_chat(self) -> None:
        if not self._ready():
            return
        created = self.api.create_chat(f"loadbench {self._rng.randrange(10**6)}")
        if created.ok and created.value is not None:
            self.chats.append(created.value.chat_id)
        while len(self.chats) > self.profile.chat.max_open_chats:
            self.api.delete_chat(self.chats.pop(0))
