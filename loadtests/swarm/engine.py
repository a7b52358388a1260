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
  none started while the engine's loop runs later than ``swarm.max_loop_lag_ms`` (its lag is
  measured every ``LAG_EVERY_S``): the ramp goes as fast as the server answers and the generator
  keeps up, and no faster, whatever Locust's spawn rate. ``swarm.connect`` times the handshake
  from its TCP connect, not the wait at the gate (the generator's queue, not the server's time).
- **Paced teardown.** Stopped sessions are closed at most ``swarm.close_rate_per_s`` a second (a
  close frame each, no wait for the answer), so the end of a run is not a storm on either side.
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

__all__ = ["ConnectGate", "RelayGauge", "RelayTimer", "SwarmEngine", "SwarmHandle"]

log = logging.getLogger(__name__)

RELAY_EVERY_S = 0.02  # how often Locust's thread replays the engine's samples
LAG_EVERY_S = 0.05  # how often the engine's loop measures its own lateness
TOKENS_EVERY_S = 30.0  # how often Locust's thread refreshes the shared logins' tokens for the engine
STOP_WAIT_S = 30.0  # a Locust user's stop waits at most this long for its connection's close
START_WAIT_S = 10.0  # the engine's thread must have a running loop by then
SHUTDOWN_WAIT_S = 5.0  # a quitting process waits at most this long for the engine's thread

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

    def __init__(self, max_connecting: int, max_lag_s: float) -> None:
        self._slots = asyncio.Semaphore(max_connecting)
        self.max_connecting = max_connecting
        self.max_lag_s = max_lag_s
        self.lag_s = 0.0  # the loop's lateness at its last measurement
        self.in_flight = 0
        self.waiting = 0
        self.peak_lag_s = 0.0

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._slots.acquire()
            try:
                while self.lag_s > self.max_lag_s:
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
    def idle(self) -> bool:
        return self.in_flight == 0 and self.waiting == 0


class SwarmHandle:
    """A Locust user's hold on its session: ``closed`` is set (on Locust's thread) once the engine
    has closed the connection."""

    __slots__ = ("closed", "session")

    def __init__(self, session: AioSwarmSession) -> None:
        self.session = session
        self.closed = gevent.event.Event()


class SwarmEngine:
    _shared: SwarmEngine | None = None

    def __init__(self, settings: SwarmSettings) -> None:
        self.relay = Relay()
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self.gate: ConnectGate  # built on the loop's thread
        self._sessions: set[AioSwarmSession] = set()
        self._closing: deque[SwarmHandle] = deque()
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
        """The process's engine (one loop for every swarm class of the process)."""
        if cls._shared is None or cls._shared._stopped:
            cls._shared = cls(settings)
        return cls._shared

    # -- the engine's thread -------------------------------------------------------------------
    def _thread_main(self, started: Any) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self.gate = ConnectGate(self.settings.max_connecting, self.settings.max_loop_lag_ms / 1000)
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
        if self.ramp_done and not self._frozen and gate.idle:
            self._frozen = True
            self.relay.put(_freeze)
        loop.call_at(now + LAG_EVERY_S, self._measure_lag, now + LAG_EVERY_S)

    def _start(self, handle: SwarmHandle) -> None:
        session = handle.session
        self._sessions.add(session)
        session.task = asyncio.get_running_loop().create_task(self._run(session))

    async def _run(self, session: AioSwarmSession) -> None:
        try:
            await session.run()
        except asyncio.CancelledError:
            pass
        except Exception:  # a session's bug ends that session, not the engine
            self.relay.put(log.exception, "swarm engine: a session failed")

    def _stop(self, handle: SwarmHandle) -> None:
        self._closing.append(handle)
        self._wake_closer.set()

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
            self._sessions.discard(session)
            self.relay.put(handle.closed.set)

    def _shutdown(self) -> None:
        while self._closing:
            self._close_now(self._closing.popleft())
        for session in list(self._sessions):
            if session.task is not None:
                session.task.cancel()
            with contextlib.suppress(Exception):
                session.conn.close()
        self._sessions.clear()
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
        if self._stopped:
            return
        self._call(self._stop, handle)
        handle.closed.wait(timeout=wait_s)

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


def _freeze() -> None:
    gc.collect()
    gc.freeze()
