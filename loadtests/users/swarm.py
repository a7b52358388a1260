"""``SwarmUser``: one Locust user holding one long-lived real-time connection.

Locust's spawn rate is the connect rate (paced further by the engine's connect gate), its user
count is the swarm's size, its web UI lists the swarm's samples, and distributed mode spreads the
connections over worker processes. Color-blind: ``loadtests.workload`` derives ``SwarmUser_blue``
and ``SwarmUser_green``.

Two engines (``swarm.engine``): ``asyncio`` (the default) hands the connection to the process's
``loadtests.swarm.engine.SwarmEngine`` at start and takes it back at stop, and the user's greenlet
only sleeps; ``gevent`` does what ``loadtests.swarm.session`` says in the user's greenlet: its
``wait_time`` reads the connection until something is due, its one task does what is due.

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
from loadtests.swarm.aio_session import AioSwarmSession
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.engine import RelayGauge, RelayTimer, SwarmEngine, SwarmHandle, stop_users_paced
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
        ctx = self.swarm
        ctx.bind(environment.events.request)
        self.engine: SwarmEngine | None = None
        self.handle: SwarmHandle | None = None
        if ctx.settings.engine == "asyncio":
            self.engine = _engine_for(environment, ctx)
            assert ctx.timer is not None
            relay = self.engine.relay
            self.session: SwarmSession | AioSwarmSession = AioSwarmSession(
                ctx, self.engine, timer=RelayTimer(ctx.timer, relay), gauge=RelayGauge(ctx.gauge, relay)
            )
        else:
            self.session = SwarmSession(ctx)

    def on_start(self) -> None:
        if self.engine is not None:
            assert isinstance(self.session, AioSwarmSession)
            self.engine.ensure_tokens(self.swarm)  # any login waits here, on Locust's side
            self.handle = self.engine.submit(self.session)
        else:
            self.session.start()

    def wait_time(self) -> float:
        # Locust marks the user "waiting" before it calls this, so a stop interrupts it at once.
        if self.engine is not None:
            return IDLE_WAIT_S  # the engine holds the connection
        return self.session.wait()

    @task
    def act(self) -> None:
        if self.engine is None:
            self.session.act()

    def on_stop(self) -> None:
        if self.engine is not None:
            if self.handle is not None:
                self.engine.stop(self.handle)
        else:
            self.session.stop()


IDLE_WAIT_S = 3600.0  # an asyncio-engine user's sleep between (empty) tasks
_ENGINE_HOOKED = "_loadbench_swarm_engine"


def _engine_for(environment, ctx: SwarmContext) -> SwarmEngine:  # type: ignore[no-untyped-def]
    """The process's engine, hooked once per environment to Locust's test start, ramp end, test
    stop and quit."""
    engine = SwarmEngine.shared(ctx.settings)
    if getattr(environment, _ENGINE_HOOKED, None) is not engine:
        setattr(environment, _ENGINE_HOOKED, engine)
        engine.reopen()  # this environment's test has started (its first user is being made)
        events = environment.events
        events.test_start.add_listener(lambda **_: engine.reopen())
        events.spawning_complete.add_listener(lambda **_: engine.spawning_complete())
        events.test_stopping.add_listener(lambda **_: _stop_swarm(environment, engine))
        events.quitting.add_listener(lambda **_: engine.shutdown())
    return engine


def _stop_swarm(environment, engine: SwarmEngine) -> None:  # type: ignore[no-untyped-def]
    """The test is stopping, before Locust stops its users: the engine closes every connection,
    paced, then this process's swarm users are stopped in paced batches
    (``loadtests.swarm.engine``, "Paced teardown")."""
    runner = environment.runner
    if runner is None:
        return
    users = [
        greenlet.args[0]
        for greenlet in list(runner.user_greenlets)
        if greenlet.args and isinstance(greenlet.args[0], SwarmUser) and greenlet.args[0].engine is engine
    ]
    engine.close_all(expected=len(users))
    stop_users_paced(users, engine.settings.close_rate_per_s)


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
