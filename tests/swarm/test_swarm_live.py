"""Small swarms on Locust's engine (Environment + LocalRunner, in this process) against real
reference backends of both colors: churn, a reconnect storm, fan-out."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gevent
import pytest
from locust.env import Environment
from locust.event import Events

from contract.accounts import ENV_USER_PASSWORD
from loadtests.config import RunConfig, TargetConfig
from loadtests.embedded import EmbeddedBackends
from loadtests.profiles import parse_profile
from loadtests.swarm.gauge import ConnectionGauge
from loadtests.swarm.rooms import RoomBook
from loadtests.swarm.session import CONNECT, DROP, FANOUT, FANOUT_LAST, RECONNECT, RTT
from loadtests.swarm.storm import RunningTarget, run_storm
from loadtests.users.swarm import SwarmUser
from loadtests.workload import user_classes
from reference_backend.process import BackendProcess

pytestmark = pytest.mark.e2e


class Hook:
    """Collects the request events the swarm fires."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, **event: Any) -> None:
        self.events.append(event)

    def named(self, name: str, outcome: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["name"] == name and (outcome is None or e["context"]["outcome"] == outcome)]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait (cooperatively: the swarm runs in this thread's greenlets) for ``condition``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        gevent.sleep(0.05)


@contextmanager
def swarm(
    backend: BackendProcess, password: str, swarm_settings: dict[str, Any], users: int
) -> Iterator[tuple[Hook, ConnectionGauge, RoomBook | None]]:
    """A running swarm of ``users`` against ``backend``; stopped (users' on_stop run) on exit."""
    profile = parse_profile(
        {"name": "swarm-test", "duration_s": 30, "users": users, "spawn_rate": users, "mix": {"SwarmUser": 1},
         "health_probe_s": None, "swarm": swarm_settings},
        source="test",
    )  # fmt: skip
    config = RunConfig(profile=profile, targets=(TargetConfig(color=backend.color, url=backend.url),))
    (cls,) = user_classes(config, environ={ENV_USER_PASSWORD: password}).values()
    assert issubclass(cls, SwarmUser)
    hook = Hook()
    events = Events()
    events.request.add_listener(hook)
    runner = Environment(user_classes=[cls], events=events, stop_timeout=20).create_local_runner()
    runner.start(users, spawn_rate=users)
    try:
        yield hook, cls.swarm.gauge, cls.swarm.rooms
    finally:
        runner.quit()


@pytest.mark.parametrize("color", ["blue", "green"])
def test_swarm_holds_churns_and_recovers_from_a_reconnect_storm(
    color: str, start_backend: Callable[..., BackendProcess], pool_password: str, secrets_env: dict[str, str]
) -> None:
    users = 200
    backend = start_backend(color)
    settings = {
        "ping_interval_s": [0.2, 0.5],
        "ping_timeout_s": 5,
        "churn_per_min": 6,  # about 10 % of the connections a second
        "connect_timeout_s": 10,
        "reconnect": {"max_attempts": 20, "delay_s": 0.1, "max_delay_s": 0.5, "deadline_s": 30},
    }
    backends = EmbeddedBackends({**os.environ, **secrets_env}, started=[backend])  # the orchestrator's restarter
    target = RunningTarget(color=color, url=backend.url, pid=backend.pid)
    try:
        with swarm(backend, pool_password, settings, users) as (hook, gauge, _):
            wait_until(lambda: len(hook.named(CONNECT, "ok")) >= users and gauge.open >= users - 5, 30, "the ramp")
            assert all(e["context"]["outcome"] == "ok" for e in hook.named(CONNECT))  # every first connect held
            wait_until(lambda: len(hook.named(CONNECT, "ok")) > users + 10, 15, "churn")  # closed and reopened

            restarted, storm = run_storm(target, backends, recovery_timeout_s=30)
            assert restarted is not None and restarted.url == backend.url and restarted.pid != backend.pid
            assert storm.recovered is True and storm.recovery_s is not None and storm.recovery_s > storm.restart_s > 0
            assert storm.connections_before is not None and storm.connections_before >= users - 10
            wait_until(lambda: len(hook.named(RECONNECT)) >= len(hook.named(DROP)) > 0, 30, "the reconnects")
    finally:
        backends.stop()  # the restarted process (and the original, already stopped: stop() is safe twice)

    drops = hook.named(DROP)
    assert len(drops) >= storm.connections_before - 10  # the storm dropped what was open
    assert all(d["response_time"] is None and d["context"]["outcome"] == "error" for d in drops)
    reconnects = hook.named(RECONNECT)
    assert len(reconnects) == len(drops)
    assert all(r["context"]["outcome"] == "ok" and r["response_time"] > 0 for r in reconnects)
    # the clients' recovery is no faster than the server took to come back
    assert max(r["response_time"] for r in reconnects) / 1000 >= storm.restart_s * 0.5
    refused = [e for e in hook.named(CONNECT) if e["context"]["outcome"] != "ok"]
    # While the server restarts, an attempt is refused (nothing listens), reset, or meets a server
    # that accepts before it can answer (protocol, timeout): each is classified, none unexplained.
    kinds = ("refused", "reset", "protocol", "timeout")
    assert all(any(kind in str(e["exception"]) for kind in kinds) for e in refused), [
        str(e["exception"]) for e in refused
    ]
    rtts = hook.named(RTT, "ok")
    assert rtts and all(e["response_time"] > 0 for e in rtts)


def test_blue_has_no_fan_out_rooms(blue: BackendProcess, pool_password: str) -> None:
    # blue relays no user message to a chat's other sockets (CONTRACT.md): nothing to time there.
    settings = {"ping_interval_s": [0.2, 0.4], "fanout": {"room_size": 4, "interval_s": 0.2, "timeout_s": 5}}
    with swarm(blue, pool_password, settings, users=8) as (hook, _, book):
        assert book is None
        wait_until(lambda: len(hook.named(RTT, "ok")) >= 8, 20, "pings on opened sockets")
    assert not [e for e in hook.events if e["name"].startswith("swarm.fanout")]
    assert all(e["context"]["outcome"] == "ok" for e in hook.events), [e for e in hook.events if e["exception"]][:3]
    assert {e["name"] for e in hook.events} >= {CONNECT, RTT, "swarm.room"}  # each socket opened with its chat


@pytest.mark.parametrize("color", ["green"])
def test_fan_out_samples_are_real_and_the_last_receiver_is_the_latest(
    color: str, request: pytest.FixtureRequest, pool_password: str
) -> None:
    backend: BackendProcess = request.getfixturevalue(color)
    settings = {"ping_interval_s": [5, 10], "fanout": {"room_size": 8, "interval_s": 0.2, "timeout_s": 5}}
    with swarm(backend, pool_password, settings, users=32) as (hook, _, book):
        assert book is not None

        def full() -> bool:
            return len(book.rooms) == 4 and all(len(room.members) == 8 for room in book.rooms)

        wait_until(full, 20, "every room joined")
        since = time.time()  # every message sent from now on goes to full rooms
        hook.events.clear()
        wait_until(lambda: len(hook.named(FANOUT_LAST, "ok")) >= 12, 20, "fan-out rounds")
    by_send: dict[float, list[float]] = defaultdict(list)
    for event in hook.named(FANOUT):
        assert event["context"]["outcome"] == "ok" and event["response_time"] > 0
        by_send[event["start_time"]].append(event["response_time"])
    lasts = [last for last in hook.named(FANOUT_LAST) if last["start_time"] >= since]
    assert lasts and all(e["context"]["outcome"] == "ok" for e in lasts)
    for last in lasts:
        receivers = by_send[last["start_time"]]
        assert len(receivers) == 7  # a full room of 8: one sender, seven receivers
        assert last["response_time"] == pytest.approx(max(receivers))  # the last receiver's own delay
        assert last["response_time"] >= min(receivers) > 0


def test_a_stopping_test_closes_the_swarm_paced_then_stops_its_users(green: BackendProcess, pool_password: str) -> None:
    # Locust's test_stopping: the engine closes every connection at close_rate_per_s, then the idle
    # users are stopped at that rate too, so Locust's own all-at-once stop finds none left.
    users, rate = 60, 100.0
    profile = parse_profile(
        {"name": "swarm-test", "duration_s": 30, "users": users, "spawn_rate": users, "mix": {"SwarmUser": 1},
         "health_probe_s": None, "swarm": {"ping_interval_s": [5, 10], "close_rate_per_s": rate}},
        source="test",
    )  # fmt: skip
    config = RunConfig(profile=profile, targets=(TargetConfig(color="green", url=green.url),))
    (cls,) = user_classes(config, environ={ENV_USER_PASSWORD: pool_password}).values()
    events = Events()
    runner = Environment(user_classes=[cls], events=events, stop_timeout=20).create_local_runner()
    stopped_by_locust: list[int] = []
    events.test_stop.add_listener(lambda **_: stopped_by_locust.append(runner.user_count))
    runner.start(users, spawn_rate=users)
    try:
        gauge = cls.swarm.gauge
        wait_until(lambda: gauge.open >= users, 20, "the ramp")
        swarm_users = [g.args[0] for g in runner.user_greenlets]
        started = time.monotonic()
        runner.stop()
        took = time.monotonic() - started
    finally:
        runner.quit()
    assert gauge.open == 0
    assert all(user.handle is not None and user.handle.closed.is_set() for user in swarm_users)
    # both halves paced: users / rate for the closes, as long again for the users' stops
    assert took >= 2 * users / rate * 0.8, took
    assert stopped_by_locust == [0]


def test_connections_come_from_the_source_addresses_in_turn(green: BackendProcess, pool_password: str) -> None:
    import psutil

    settings = {"ping_interval_s": [0.2, 0.5], "source_addresses": ["127.0.0.2", "127.0.0.3"]}
    port = int(green.url.rsplit(":", 1)[1])
    with swarm(green, pool_password, settings, users=12) as (hook, gauge, _):
        wait_until(lambda: gauge.open >= 12 and len(hook.named(RTT, "ok")) >= 12, 20, "pings on every socket")
        sockets = [c for c in psutil.Process().net_connections(kind="tcp") if c.raddr and c.raddr.port == port]
        sources = [c.laddr.ip for c in sockets if c.status == psutil.CONN_ESTABLISHED]
    assert sources.count("127.0.0.2") == sources.count("127.0.0.3") == 6  # the twelve sockets, in turn
    assert set(sources) <= {"127.0.0.1", "127.0.0.2", "127.0.0.3"}  # .1: HTTP (the shared login's, earlier tests')
    assert all(e["context"]["outcome"] == "ok" for e in hook.events), [e for e in hook.events if e["exception"]][:3]
