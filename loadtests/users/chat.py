"""``ChatUser``: an authenticated chatter (CONTRACT.md, "Chat").

Logs in once (never per task: green allows 5 logins per 15 minutes per IP), refreshes before the
token expires, opens the real-time connection, and then mostly asks questions and streams the
answers, with some history browsing, pings and chat housekeeping in between. Housekeeping a color
has no route for (green: read, delete, rename or pin one chat) records nothing; where a client
would read one chat, green's reads the list, as its frontend must.
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
        if self.api.chat_exists(chat_id).value is False and chat_id in self.chats:
            self.chats.remove(chat_id)

    @task(2)
    def browse_history(self) -> None:
        if self.api.ensure_session():
            self.api.chat_history()

    @task(1)
    def open_old_chat(self) -> None:
        if self.chats and self.api.ensure_session():
            chat_id = self._rng.choice(self.chats)
            if self.api.get_chat(chat_id) is None:
                self.api.chat_history()  # no route for one chat: the list is how a client reads it

    @task(2)
    def ping(self) -> None:
        # A ping goes on a socket that has opened a chat (blue refuses one as the first frame).
        if self._ready() and (chat_id := self._current_chat()) and self.api.open_chat(chat_id).ok:
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
    def pin(self) -> None:
        # Only where the color has a pin route (blue).
        if self.chats and self.api.ensure_session():
            self.api.pin_chat(self._rng.choice(self.chats), self._rng.random() < 0.5)

    @task(1)
    def forget(self) -> None:
        # Clear a chat's conversation memory (both colors), and look at a chat's memory where
        # the color reports it per chat (green; blue's is an admin page).
        if self.chats and self.api.ensure_session():
            chat_id = self._rng.choice(self.chats)
            self.api.memory_stats(chat_id)
            self.api.clear_memory(chat_id)

    @task(1)
    def new_chat(self) -> None:
        if not self._ready():
            return
        created = self.api.create_chat(f"loadbench {self._rng.randrange(10**6)}")
        if created.ok and created.value is not None:
            self.chats.append(created.value.chat_id)
        while len(self.chats) > self.profile.chat.max_open_chats:
            # Deleted where the color can delete a chat (blue); green keeps it, the user moves on.
            self.api.delete_chat(self.chats.pop(0))
