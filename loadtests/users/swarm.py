"""``SwarmUser``: one Locust user holding one long-lived real-time connection.

Locust's spawn rate is the connect rate, its user count is the swarm's size, its web UI lists the
swarm's samples, and distributed mode spreads the connections over worker processes. The user
does nothing but what ``loadtests.swarm.session`` says: its ``wait_time`` reads the connection
until something is due, its one task does what is due. Color-blind: ``loadtests.workload`` derives
``SwarmUser_blue`` and ``SwarmUser_green``.

Keep swarm users out of processes that also run heavy HTTP users (research/feasibility.md: mixing
raised ping p95 from 1 to 51 ms); a swarm profile can be swarm-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from locust import User, task

from loadtests.config import RunConfig, TargetConfig
from loadtests.credentials import load_accounts, token_minter
from loadtests.dialects import dialect_for
from loadtests.profiles import Profile
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.gauge import ConnectionGauge
from loadtests.swarm.rooms import RoomBook
from loadtests.swarm.session import SwarmSession
from loadtests.swarm.tokens import MintedTokens, SharedLogin, TokenSource
from loadtests.timing import Timer


class SwarmUser(User):
    abstract = True
    class_label: ClassVar[str] = "SwarmUser"

    # Set on the concrete per-target subclass by ``loadtests.workload`` (``swarm_class_attributes``).
    target: ClassVar[TargetConfig]
    profile: ClassVar[Profile]
    swarm: ClassVar[SwarmContext]

    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        super().__init__(environment)
        self.swarm.bind(environment.events.request)
        self.session = SwarmSession(self.swarm)

    def on_start(self) -> None:
        self.session.start()

    def wait_time(self) -> float:
        # Locust marks the user "waiting" before it calls this, so a stop interrupts it at once.
        return self.session.wait()

    @task
    def act(self) -> None:
        self.session.act()

    def on_stop(self) -> None:
        self.session.stop()


def swarm_class_attributes(
    target: TargetConfig, config: RunConfig, password: str, environ: Mapping[str, str]
) -> dict[str, object]:
    """The class attributes of ``SwarmUser_<color>``: its context (shared by the class's users in
    this process). Tokens follow the profile's ``auth.mode`` (``loadtests.swarm.tokens``), for the
    accounts of ``loadtests.credentials`` (they carry the pool's password: ``password`` is unused)."""
    del password
    profile = config.profile
    settings = profile.swarm
    dialect = dialect_for(target.color, target.dialect)
    accounts = load_accounts(profile.auth, environ)
    minter = token_minter(profile.auth, environ)

    def make_tokens(timer: Timer) -> TokenSource:
        if minter is not None:
            return MintedTokens(dialect=dialect, minter=minter, accounts=accounts)
        return SharedLogin(
            dialect=dialect,
            base_url=target.url,
            timer=timer,
            accounts=accounts[: settings.accounts],
            timeouts=profile.timeouts,
            token_ttl_s=target.dialect.token_ttl_s,
            refresh_margin_s=target.dialect.refresh_margin_s,
        )

    fanout = settings.fanout
    rooms = None
    # No rooms where the color relays no user message to a chat's other sockets (blue): there is
    # no fan-out to time there (the orchestrator notes it in the manifest).
    if fanout is not None and dialect.room_send("", "") is not None:
        rooms = RoomBook(
            room_size=fanout.room_size,
            max_rooms=fanout.rooms,
            timeout_s=fanout.timeout_s,
        )
    context = SwarmContext(
        dialect=dialect,
        base_url=target.url,
        target=target.color,
        user_class=SwarmUser.class_label,
        settings=settings,
        gauge=ConnectionGauge(target.color, SwarmUser.class_label),
        rooms=rooms,
        make_tokens=make_tokens,
    )
    return {"swarm": context}
