"""``OpenModelUser``: the profile's ``arrivals`` for one color, at the planned times whatever the
target does (``loadtests.arrivals`` says why).

One instance per color and Locust process (``fixed_count``: a distributed run splits the rate over
the processes, each taking every n-th arrival). It keeps a pool of ``PlatformClient``s, one per
slot of ``max_in_flight`` (each logged in as its own account, with its own socket, chat and
agent), and one scheduler greenlet per scenario. At an arrival's planned time the scheduler starts
a greenlet that takes a free client (waiting up to ``start_within_s``, else the arrival is
*missed* and nothing is sent), runs the scenario's operation on it, and gives it back. While it
runs, the client's ``Timer.lag_ns`` is how late it started against its plan: every sample it
records carries that, so the run keeps service times and response times from the intended start
(``loadtests.recorder.response``). The schedule's own figures go to ``ScheduleGauge``.

Both colors' instances in a process share one start time (the next whole second after the first
starts), so a paired run offers both colors the same schedule.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import ClassVar

import gevent
from gevent.queue import Empty, Queue
from locust import User, task

from loadtests.arrivals import ArrivalSettings, arrival_times
from loadtests.client import PlatformClient
from loadtests.config import TargetConfig
from loadtests.credentials import CredentialPool, TokenMinter
from loadtests.dialects.base import Upload
from loadtests.payloads import make_payload
from loadtests.profiles import Profile
from loadtests.recorder.schedule import ScheduleGauge
from loadtests.timing import Timer
from loadtests.users.base import account_client
from loadtests.webui import effective_target

_PROMPT = "explain the lecture notes on sorting algorithms in simple terms please"
_QUESTION = "Summarise this week's lecture in three bullet points."


class _Slot:
    """One client of the pool, with what its operations reuse."""

    def __init__(self, api: PlatformClient) -> None:
        self.api = api
        self.chat_id: str | None = None
        self.agent_id: str | None = None

    def chat(self) -> str | None:
        if self.chat_id is None:
            created = self.api.create_chat(f"loadbench open {random.randrange(10**6)}")
            self.chat_id = created.value.chat_id if created.ok and created.value else None
        return self.chat_id

    def agent(self) -> str | None:
        if self.agent_id is None:
            created = self.api.create_agent(f"loadbench open agent {random.randrange(16**6):06x}")
            self.agent_id = created.value.agent_id if created.ok and created.value else None
        return self.agent_id


def _chat_turn(slot: _Slot) -> None:
    if (chat_id := slot.chat()) is not None:
        slot.api.ask(chat_id, _PROMPT)


def _agent_run(slot: _Slot) -> None:
    if (agent_id := slot.agent()) is not None and (chat_id := slot.chat()) is not None:
        slot.api.run_agent(agent_id, chat_id, _QUESTION)


def _upload(slot: _Slot) -> None:
    payload = make_payload("txt", 4096)
    slot.api.upload(Upload(payload.filename, payload.content, payload.content_type))


OPERATIONS: dict[str, Callable[[_Slot], object]] = {
    "chat_turn": _chat_turn,
    "history_read": lambda slot: slot.api.chat_history(),
    "me": lambda slot: slot.api.me(),
    "agent_list": lambda slot: slot.api.list_agents(),
    "agent_run": _agent_run,
    "collection_list": lambda slot: slot.api.list_collections(),
    "upload": _upload,
    "health": lambda slot: slot.api.health(),
}


class OpenModelUser(User):
    abstract = True
    class_label = "OpenModel"

    # Set on the concrete per-target subclass by ``loadtests.workload``.
    target: ClassVar[TargetConfig]
    allow_remote: ClassVar[tuple[str, ...]] = ()
    profile: ClassVar[Profile]
    credentials: ClassVar[CredentialPool]
    minter: ClassVar[TokenMinter | None] = None
    processes: ClassVar[int] = 1  # Locust processes sharing the rate (one instance in each)
    gauge: ClassVar[ScheduleGauge]

    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        super().__init__(environment)
        self._target = effective_target(self.target, environment.parsed_options, self.allow_remote)
        self._settings: ArrivalSettings = self.profile.arrivals  # type: ignore[assignment]
        runner = environment.runner
        self._index = getattr(runner, "worker_index", 0) if runner is not None else 0
        slots = max(1, math.ceil(self._settings.max_in_flight / self.processes))
        self._free: Queue[_Slot] = Queue()
        self._slots = [_Slot(self._client()) for _ in range(slots)]
        for slot in self._slots:
            self._free.put(slot)
        self._greenlets: list[gevent.Greenlet] = []

    def _client(self) -> PlatformClient:
        target = self._target
        timer = Timer(self.environment.events.request, target=target.color, user_class=self.class_label)
        account = self.credentials.next(self._index)
        return account_client(target, account, timer=timer, minter=self.minter, profile=self.profile)

    def on_start(self) -> None:
        # One start per process for both colors: the same schedule for each (a paired run).
        start = getattr(self.environment, "loadbench_arrivals_t0", None)
        if start is None:
            start = self.environment.loadbench_arrivals_t0 = math.ceil(time.time()) + 1.0
        for scenario in self._settings.scenarios:
            self._greenlets.append(gevent.spawn(self._schedule, scenario, start))

    def _schedule(self, scenario: str, start: float) -> None:
        rate = self._settings.scenarios[scenario].for_color(self._target.color)  # type: ignore[index]
        share = 1 / self.processes
        times = arrival_times(
            rate, duration_s=self.profile.duration_s, share=share, phase=(self._index % self.processes) / self.processes
        )
        for offset in times:
            planned = start + offset
            wait = planned - time.time()
            if wait > 0:
                gevent.sleep(wait)
            woke_ns = time.time_ns()
            self.gauge.due(self._target.color, scenario, woke_ns - int(planned * 1e9))
            self._greenlets.append(gevent.spawn(self._arrive, scenario, planned, woke_ns))
            if len(self._greenlets) > 4096:  # forget the finished ones
                self._greenlets = [g for g in self._greenlets if not g.dead]

    def _arrive(self, scenario: str, planned: float, woke_ns: int) -> None:
        color = self._target.color
        try:
            slot = self._free.get(timeout=max(0.0, planned + self._settings.start_within_s - time.time()))
        except Empty:
            self.gauge.missed(color, scenario)
            return
        began_ns = time.time_ns()
        self.gauge.started(color, scenario, began_ns - woke_ns)
        timer = slot.api.timer
        timer.lag_ns = max(0, began_ns - int(planned * 1e9))
        try:
            if slot.api.ensure_session():
                OPERATIONS[scenario](slot)
        finally:
            timer.lag_ns = 0
            self._free.put(slot)

    @task
    def hold(self) -> None:
        """The work happens in the scheduler greenlets; this user only stays alive."""
        gevent.sleep(1.0)

    def on_stop(self) -> None:
        gevent.killall([g for g in self._greenlets if not g.dead], block=False)
        for slot in self._slots:
            slot.api.close()
