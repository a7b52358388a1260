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
        self.templates: list[str] = []
        self.chat_id: str | None = None
        if self.api.ensure_session() and self.api.connect():
            self._read_templates()
            self._create()

    def _read_templates(self) -> None:
        listed = self.api.agent_templates()
        if listed is not None and listed.ok and listed.value:
            self.templates = listed.value

    def _ready(self) -> bool:
        return self.api.ensure_session() and (self.api.connected or self.api.connect())

    def _create(self, *, from_template: bool = False) -> None:
        name = f"loadbench agent {self._rng.randrange(16**6):06x}"
        created = None
        if from_template and self.templates:
            created = self.api.agent_from_template(self._rng.choice(self.templates), name)
        if created is None:
            created = self.api.create_agent(name)
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
    def browse_templates(self) -> None:
        if self.api.ensure_session():
            self._read_templates()

    @task(2)
    def inspect(self) -> None:
        if self.agents and self.api.ensure_session():
            self.api.get_agent(self._rng.choice(self.agents))

    @task(1)
    def create(self) -> None:
        # Half of the new agents start from a template where the color has templates (blue).
        if self.api.ensure_session():
            self._create(from_template=self._rng.random() < 0.5)

    @task(1)
    def rate(self) -> None:
        # Where agents can be rated (blue).
        if self.agents and self.api.ensure_session():
            self.api.rate_agent(self._rng.choice(self.agents), self._rng.randint(1, 5))

    @task(1)
    def update(self) -> None:
        if self.agents and self.api.ensure_session():
            self.api.update_agent(self._rng.choice(self.agents), f"revised {self._rng.randrange(1000)}")
