"""``SwarmEngine``: the swarm's connections on one asyncio loop, on its own OS thread, beside
Locust's gevent loop in the same process (``swarm.engine: asyncio``, the default).

Why a second loop: at 10,000 connections the gevent engine (python-socketio's sync client, one
greenlet per connection) cost the generator ~45 KB and ~20 % of a core per 10,000 idle sockets,
and its p95 was its own (issue 15). Here a connection is an ``asyncio.Protocol`` and one task
(``loadtests.swarm.aio_connection``, ``aio_session``) on uvloop, whose I/O is libuv's and so never
touches the standard library that Locust's gevent monkey-patches. ``benchmarks/swarm_hold.py``
measures both side by side, with Locust's own ``SocketIOUser`` as the anchor.

Locust stays in charge of what it is good at: one Locust user per connection (its user count is
the swarm, its spawn rate the ramp, its web UI and distributed mode unchanged). A user's start
hands its session to the engine and its stop takes it back; the user's greenlet only sleeps.

Three mechanisms, each bounded:

- **Relay.** Locust's stats, the recorder and the gauges live on Locust's thread and are not
  thread-safe. Sessions call a ``RelayTimer``/``RelayGauge``, which take every time stamp at the
  call (where the thing happened) and queue the call; a greenlet replays the queue every
  ``RELAY_EVERY_S``. Latencies are never measured on the replaying side.
- **Connect gate** (``ConnectGate``). At most ``swarm.max_connecting`` handshakes in flight, and
  none started while the engine's loop runs later than ``swarm.max_loop_lag_ms`` or while the
  process has used ``swarm.max_cpu_pct`` of a core or more over the last ``CPU_WINDOW_S`` (both
  measured every ``LAG_EVERY_S``; the CPU from ``time.process_time``, every thread of the process):
  the ramp goes as fast as the server answers and the generator keeps up, and no faster, whatever
  Locust's spawn rate. Without the CPU bound the ramp's 1 s samples reached 85-97 % against a fast
  green (issue 15), where 90 % sustained invalidates a run. ``swarm.connect`` times the handshake
  from its TCP connect, not the wait at the gate (the generator's queue, not the server's time).
- **Paced teardown.** Stopped sessions are closed at most ``swarm.close_rate_per_s`` a second (a
  close frame each, no wait for the answer), so the end of a run is not a storm on either side.
  At the end of a test (Locust's ``test_stopping``, before it stops any user) the engine closes
  every session on its own, paced, and then the swarm's idle users are stopped in paced batches
  too (``stop_users_paced``): Locust stops all users in one burst, which cost 1.25 s of CPU for
  10,000 idle users here (125 µs each, ``python -c`` measurement on this box) and, added to the
  closes, put the generator past 100 % of a core in the teardown (issue 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.lock
from gevent import monkey

from loadtests.dialects.base import Kind, Outcome
from loadtests.swarm.aio_session import AioSwarmSession
from loadtests.swarm.context import SwarmContext
from loadtests.swarm.gauge import ConnectionGauge
from loadtests.swarm.settings import SwarmSettings
from loadtests.swarm.tokens import MintedTokens
from loadtests.timing import Mark, Timer
from loadtests.transport.errors import FailureKind

__all__ = ["ConnectGate", "CpuWindow", "RelayGauge", "RelayTimer", "SwarmEngine", "SwarmHandle", "stop_users_paced"]

log = logging.getLogger(__name__)

RELAY_EVERY_S = 0.02  # how often Locust's thread replays the engine's samples
LAG_EVERY_S = 0.05  # how often the engine's loop measures its own lateness and the process's CPU
CPU_WINDOW_S = 0.5  # the gate's CPU figure: the process's CPU time over this much wall time
TOKENS_EVERY_S = 30.0  # how often Locust's thread refreshes the shared logins' tokens for the engine
STOP_WAIT_S = 30.0  # a Locust user's stop waits at most this long for its connection's close
START_WAIT_S = 10.0  # the engine's thread must have a running loop by then
SHUTDOWN_WAIT_S = 5.0  # a quitting process waits at most this long for the engine's thread
CLOSE_ALL_SLACK_S = 10.0  # close_all waits for the paced closes' own time plus this, at most
STOP_USERS_BATCH_S = 0.05  # stop_users_paced stops one batch this often

_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works unpatched
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Relay:
    """Calls made on the engine's thread, replayed in order on Locust's (``deque`` appends and
    pops are atomic: no lock)."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = deque()

    def put(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._calls.append((fn, args, kwargs))

    def drain(self) -> int:
        calls, done = self._calls, 0
        while calls:
            fn, args, kwargs = calls.popleft()
            try:
                fn(*args, **kwargs)
            except Exception:  # one bad call must not stop the others
                log.exception("swarm engine: a relayed call failed")
            done += 1
        return done


class RelayTimer:
    """``loadtests.timing.Timer`` for a session on the engine's thread: stamps now, fires later."""

    __slots__ = ("_relay", "_timer")

    def __init__(self, timer: Timer, relay: Relay) -> None:
        self._timer = timer
        self._relay = relay

    start = staticmethod(Timer.start)

    def record(
        self, name: str, kind: Kind, start: Mark, outcome: Outcome, *, reason: str = "", end_ns: int | None = None
    ) -> None:
        end = end_ns if end_ns is not None else time.perf_counter_ns()
        self._relay.put(self._timer.record, name, kind, start, outcome, reason=reason, end_ns=end)

    def count(self, name: str, kind: Kind, outcome: Outcome, *, reason: str = "", wall_s: float | None = None) -> None:
        wall = time.time() if wall_s is None else wall_s
        self._relay.put(self._timer.count, name, kind, outcome, reason=reason, wall_s=wall)


class RelayGauge:
    __slots__ = ("_gauge", "_relay")

    def __init__(self, gauge: ConnectionGauge, relay: Relay) -> None:
        self._gauge = gauge
        self._relay = relay

    def opened(self) -> None:
        self._relay.put(self._gauge.opened)

    def closed(self) -> None:
        self._relay.put(self._gauge.closed)

    def dropped(self) -> None:
        self._relay.put(self._gauge.dropped)

    def reconnected(self) -> None:
        self._relay.put(self._gauge.reconnected)

    def gave_up(self) -> None:
        self._relay.put(self._gauge.gave_up)

    def failed(self, kind: FailureKind) -> None:
        self._relay.put(self._gauge.failed, kind)


class ConnectGate:
    """Handshakes in flight, bounded; none started while the loop is late (module docstring)."""

    def __init__(self, max_connecting: int, max_lag_s: float, max_cpu_pct: float = 6400.0) -> None:
        self._slots = asyncio.Semaphore(max_connecting)
        self.max_connecting = max_connecting
        self.max_lag_s = max_lag_s
        self.max_cpu_pct = max_cpu_pct
        self.lag_s = 0.0  # the loop's lateness at its last measurement
        self.cpu_pct = 0.0  # the process's CPU over the last CPU_WINDOW_S, % of one core
        self.held_s = 0.0  # how long handshakes waited for the loop or the CPU, summed
        self.in_flight = 0
        self.waiting = 0
        self.peak_lag_s = 0.0

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._slots.acquire()
            try:
                while self.busy:
                    self.held_s += LAG_EVERY_S
                    await asyncio.sleep(LAG_EVERY_S)
            except BaseException:
                self._slots.release()
                raise
        finally:
            self.waiting -= 1
        self.in_flight += 1

    async def __aexit__(self, *_: object) -> None:
        self.in_flight -= 1
        self._slots.release()

    @property
    def busy(self) -> bool:
        """The generator has no room for another handshake now. Never while none is in flight:
        a generator that stays busy for its own reasons (a heavy hold) still connects, one at a time."""
        return self.in_flight > 0 and (self.lag_s > self.max_lag_s or self.cpu_pct >= self.max_cpu_pct)

    @property
    def idle(self) -> bool:
        return self.in_flight == 0 and self.waiting == 0


class CpuWindow:
    """The process's CPU use (every thread) over the last ``window_s`` of wall time, in % of one
    core, from ``time.process_time`` (~1 µs a reading: cheap enough every ``LAG_EVERY_S``)."""

    __slots__ = ("_points", "window_s")

    def __init__(self, window_s: float = CPU_WINDOW_S) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, float]] = deque([(time.monotonic(), time.process_time())])

    def sample(self) -> float:
        now, cpu = time.monotonic(), time.process_time()
        points = self._points
        points.append((now, cpu))
        while len(points) > 2 and now - points[1][0] >= self.window_s:
            points.popleft()
        then, cpu_then = points[0]
        return 100.0 * (cpu - cpu_then) / (now - then) if now > then else 0.0


class SwarmHandle:
    """A Locust user's hold on its session: ``closed`` is set (on Locust's thread) once the engine
    has closed the connection; ``closing`` (the engine's thread's) once its close is queued."""

    __slots__ = ("closed", "closing", "session")

    def __init__(self, session: AioSwarmSession) -> None:
        self.session = session
        self.closed = gevent.event.Event()
        self.closing = False


class SwarmEngine:
    _shared: SwarmEngine | None = None

    def __init__(self, settings: SwarmSettings) -> None:
        self.relay = Relay()
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self.gate: ConnectGate  # built on the loop's thread
        self._handles: set[SwarmHandle] = set()  # started, not yet closed (the engine's thread's)
        self._closing: deque[SwarmHandle] = deque()
        self._all_closed = gevent.event.Event()  # set once close_all has closed every session
        self.closing_all = False
        self._tokens: dict[int, dict[int, str | None]] = {}  # id(context) -> account slot -> token
        self._token_locks: dict[int, gevent.lock.Semaphore] = {}
        self._refreshers: list[gevent.Greenlet] = []
        self.ramp_done = False
        self._frozen = False
        self._stopped = False
        self._finished = _allocate_lock()  # released by the engine's thread as it ends
        self._finished.acquire()
        started = _allocate_lock()
        started.acquire()
        _start_thread(self._thread_main, (started,))
        if not started.acquire(timeout=START_WAIT_S):
            raise RuntimeError("the swarm engine's loop did not start")
        self._drainer = gevent.spawn(self._drain_forever)

    @classmethod
    def shared(cls, settings: SwarmSettings) -> SwarmEngine:
        """The process's engine (one loop for every swarm class of the process: one profile's, so
        one ``swarm:`` section). Another section (a new profile in the same process) gets a new
        engine, and the previous one is shut down."""
        previous = cls._shared
        if previous is None or previous._stopped or previous.settings != settings:
            if previous is not None:
                previous.shutdown()
            cls._shared = cls(settings)
        return cls._shared

    # -- the engine's thread -------------------------------------------------------------------
    def _thread_main(self, started: Any) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        settings = self.settings
        self.gate = ConnectGate(settings.max_connecting, settings.max_loop_lag_ms / 1000, settings.max_cpu_pct)
        self._cpu = CpuWindow()
        self._wake_closer = asyncio.Event()
        loop.call_soon(started.release)
        loop.call_soon(self._measure_lag, loop.time())
        loop.create_task(self._close_paced())
        try:
            loop.run_forever()
            # Let every cancelled task finish its cancellation before the loop goes.
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            loop.close()
            self._finished.release()

    def _measure_lag(self, scheduled: float) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        gate = self.gate
        gate.lag_s = max(now - scheduled, 0.0)
        gate.peak_lag_s = max(gate.peak_lag_s, gate.lag_s)
        gate.cpu_pct = self._cpu.sample()
        if self.ramp_done and not self._frozen and gate.idle:
            self._frozen = True
            self.relay.put(_freeze)
        loop.call_at(now + LAG_EVERY_S, self._measure_lag, now + LAG_EVERY_S)

    def _start(self, handle: SwarmHandle) -> None:
        session = handle.session
        if self.closing_all:  # submitted as the test stops: never opened
            self.relay.put(handle.closed.set)
            return
        self._handles.add(handle)
        session.task = asyncio.get_running_loop().create_task(self._run(session))

    async def _run(self, session: AioSwarmSession) -> None:
        try:
            await session.run()
        except asyncio.CancelledError:
            pass
        except Exception:  # a session's bug ends that session, not the engine
            self.relay.put(log.exception, "swarm engine: a session failed")

    def _stop(self, handle: SwarmHandle) -> None:
        if handle in self._handles and not handle.closing:
            handle.closing = True
            self._closing.append(handle)
            self._wake_closer.set()

    def _stop_all(self) -> None:
        for handle in self._handles:
            if not handle.closing:
                handle.closing = True
                self._closing.append(handle)
        self._wake_closer.set()
        self._check_all_closed()

    def _check_all_closed(self) -> None:
        if self.closing_all and not self._handles:
            self.relay.put(self._all_closed.set)

    async def _close_paced(self) -> None:
        """Close stopped sessions, at most ``close_rate_per_s``; asleep while there are none."""
        tick = 0.01
        while True:
            await self._wake_closer.wait()
            self._wake_closer.clear()
            while self._closing:
                budget = max(int(self.settings.close_rate_per_s * tick), 1)
                while self._closing and budget > 0:
                    self._close_now(self._closing.popleft())
                    budget -= 1
                await asyncio.sleep(tick)

    def _close_now(self, handle: SwarmHandle) -> None:
        session = handle.session
        if session.task is not None:
            session.task.cancel()
        try:
            session.finish()
        except Exception:  # a close that fails must not stop the closes after it
            self.relay.put(log.exception, "swarm engine: a close failed")
        finally:
            self._handles.discard(handle)
            self.relay.put(handle.closed.set)
            if not self._handles:
                self._check_all_closed()

    def _shutdown(self) -> None:
        while self._closing:
            self._close_now(self._closing.popleft())
        for handle in list(self._handles):
            session = handle.session
            if session.task is not None:
                session.task.cancel()
            with contextlib.suppress(Exception):
                session.conn.close()
        self._handles.clear()
        assert self._loop is not None
        self._loop.stop()

    # -- Locust's thread -----------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not self._stopped:
            loop.call_soon_threadsafe(fn, *args)

    def submit(self, session: AioSwarmSession) -> SwarmHandle:
        handle = SwarmHandle(session)
        self._call(self._start, handle)
        return handle

    def stop(self, handle: SwarmHandle, *, wait_s: float = STOP_WAIT_S) -> None:
        """Close the handle's connection (paced with the others) and wait for it, bounded."""
        if self._stopped or self.closing_all or handle.closed.is_set():
            return  # closing_all: close_all queued it and has waited already, bounded
        self._call(self._stop, handle)
        handle.closed.wait(timeout=wait_s)

    def close_all(self, *, expected: int) -> None:
        """The test is stopping: close every session, paced, and wait for the closes (bounded by
        their paced time plus ``CLOSE_ALL_SLACK_S``). ``expected`` is how many there may be (the
        swarm users' count: the wait's bound). A session submitted after this is never opened."""
        if self._stopped or self.closing_all:
            return
        gate = self.gate
        log.info(
            "swarm engine: handshakes waited %.1f s in all at the connect gate (loop late > %.0f ms or "
            "process CPU >= %.0f %%); the loop's peak lag was %.0f ms",
            gate.held_s, gate.max_lag_s * 1000, gate.max_cpu_pct, gate.peak_lag_s * 1000,
        )  # fmt: skip
        self.closing_all = True
        self._all_closed.clear()
        self._call(self._stop_all)
        self._all_closed.wait(timeout=expected / self.settings.close_rate_per_s + CLOSE_ALL_SLACK_S)

    def reopen(self) -> None:
        """A new test starts in this process (Locust's web UI runs several): take sessions again."""
        self.closing_all = False

    def spawning_complete(self) -> None:
        """Locust has started every user: freeze the heap once the last handshake of the ramp is
        done (research/feasibility.md: full collections of 10,000 connections dominate tails)."""
        self.ramp_done = True

    def ensure_tokens(self, ctx: SwarmContext) -> None:
        """Log the context's accounts in (once: the first user of the ramp does, the others wait),
        so the engine's sessions find a token without waiting on HTTP."""
        if isinstance(ctx.tokens, MintedTokens) or id(ctx) in self._tokens:
            return
        lock = self._token_locks.setdefault(id(ctx), gevent.lock.Semaphore())
        with lock:
            if id(ctx) in self._tokens:
                return
            self._tokens[id(ctx)] = self._fetch_tokens(ctx)
            self._refreshers.append(gevent.spawn(self._refresh_tokens, ctx))

    def _fetch_tokens(self, ctx: SwarmContext) -> dict[int, str | None]:
        assert ctx.tokens is not None
        return {slot: ctx.tokens.token(slot) for slot in range(ctx.settings.accounts)}

    def _refresh_tokens(self, ctx: SwarmContext) -> None:
        while not self._stopped:
            gevent.sleep(TOKENS_EVERY_S)
            self._tokens[id(ctx)] = self._fetch_tokens(ctx)  # SharedLogin refreshes ahead of expiry

    def token(self, ctx: SwarmContext, index: int) -> str | None:
        """A session's token (on the engine's thread): minted here, or a shared login's."""
        tokens = ctx.tokens
        if isinstance(tokens, MintedTokens):
            return tokens.token(index)
        cached = self._tokens.get(id(ctx))
        return cached.get(index % ctx.settings.accounts) if cached else None

    def _drain_forever(self) -> None:
        while True:
            self.relay.drain()
            gevent.sleep(RELAY_EVERY_S)

    def shutdown(self) -> None:
        """Close what is left at once and stop the loop (the process is quitting)."""
        if self._stopped:
            return
        self._call(self._shutdown)
        self._stopped = True
        deadline = time.monotonic() + SHUTDOWN_WAIT_S
        while not self._finished.acquire(blocking=False) and time.monotonic() < deadline:
            gevent.sleep(0.01)  # the thread ends once its loop has let its tasks go
        self.relay.drain()
        for greenlet in (*self._refreshers, self._drainer):
            greenlet.kill(block=False)


def stop_users_paced(users: list[Any], rate_per_s: float) -> None:
    """Stop these Locust users ``rate_per_s`` a second, in batches (module docstring, "Paced
    teardown"): Locust's own stop then finds them gone. Each stop is Locust's ``User.stop(force=True)``,
    which runs the user's ``on_stop``; bounded: one pass over the list."""
    batch = max(int(rate_per_s * STOP_USERS_BATCH_S), 1)
    for first in range(0, len(users), batch):
        started = time.monotonic()
        for user in users[first : first + batch]:
            with contextlib.suppress(Exception):  # a user already gone, or dying as we look
                user.stop(force=True)
        gevent.sleep(max(STOP_USERS_BATCH_S - (time.monotonic() - started), 0.0))


def _freeze() -> None:
    # A young-generation collection, not a full one: at 10,000 connections a full collection held
    # the GIL long enough to put the generator's 1 s sample at the ramp's end at 97 % (issue 15);
    # what gen 2 holds unreachable now is the ramp's little garbage, frozen with the rest.
    gc.collect(1)
    gc.freeze()
