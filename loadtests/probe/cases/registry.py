"""The case model and the registry every case module adds to, in the order they are imported."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

from loadtests.dialects.base import Upload
from loadtests.probe.session import ColorProbe, Observation

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


# Each case module's cases, in the order it defines them (``ordered`` puts the modules in order).
_BY_MODULE: dict[str, list[Case]] = {}


def ordered(*modules: ModuleType) -> list[Case]:
    """The cases of ``modules``, module by module in the order given: the walk's order."""
    return [case for module in modules for case in _BY_MODULE.get(module.__name__, [])]


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
        registered = Case(id, group, title, run, expect, statuses or {}, required or {}, uses, burst)
        _BY_MODULE.setdefault(run.__module__, []).append(registered)
        return run

    return register


def obs(result: tuple[Observation, object] | None) -> Observation | None:
    return None if result is None else result[0]


def upload_text(size: int = 2_500) -> Upload:
    text = ("Lecture notes on sorting algorithms and graph theory. " * (size // 50 + 1))[:size]
    return Upload("probe-notes.txt", text.encode(), "text/plain")
