"""``AgentRunnerUser``: agent CRUD and agent runs timed to completion (``agent.run``).

blue runs an agent through a chat message carrying its id; green through ``execute-streaming``
and the ``stream-*`` events, with a status poll while it streams. Each user keeps at most
``agents.max_agents`` agents of its own and deletes the oldest beyond that.
"""

from __future__ import annotations

import random

from locust import task

from loadtests.users.base import PlatformUser

_QUESTIONS = (
    "Summarise this week's lecture in three bullet points.",
    "Which topics are on the midterm?",
    "Explain recursion with an example.",
    "Draft a study plan for the final exam.",
)


class AgentRunnerUser(PlatformUser):
    abstract = True
    class_label = "AgentRunnerUser"

    def on_start(self) -> None:
        self._rng = random.Random()
        self.agents: list[str] = []
        self.chat_id: str | None = None
        if self.api.ensure_session() and self.api.connect():
            self.api.agent_templates()
            self._create()

    def _ready(self) -> bool:
        return self.api.ensure_session() and (self.api.connected or self.api.connect())

    def _create(self) -> None:
        created = self.api.create_agent(f"loadbench agent {self._rng.randrange(16**6):06x}")
        if created.ok and created.value is not None:
            self.agents.append(created.value.agent_id)
        while len(self.agents) > self.profile.agents.max_agents:
            self.api.delete_agent(self.agents.pop(0))

    @task(4)
    def run_agent(self) -> None:
        if not self._ready() or not self.agents:
            return
        if self.chat_id is None:
            created = self.api.create_chat("agent session")
            self.chat_id = created.value.chat_id if created.ok and created.value else None
        if self.chat_id is not None:
            self.api.run_agent(self._rng.choice(self.agents), self.chat_id, self._rng.choice(_QUESTIONS))

    @task(3)
    def browse(self) -> None:
        if self.api.ensure_session():
            self.api.list_agents()

    @task(1)
    def templates(self) -> None:
        if self.api.ensure_session():
            self.api.agent_templates()

    @task(1)
    def create(self) -> None:
        if self.api.ensure_session():
            self._create()

    @task(1)
    def update(self) -> None:
        if self.agents and self.api.ensure_session():
            self.api.update_agent(self._rng.choice(self.agents), f"revised {self._rng.randrange(1000)}")
