"""Swarm hold: how many connections one Locust process connects and holds, at what cost, and how
fast they answer; the swarm's two engines beside Locust's own ``SocketIOUser`` (the anchor), each
holding the same count against the same kind of server, in one run.

For each subject a fresh server starts (pinned to CPU 1, every thread of it) and a fresh generator
process (pinned to CPU 0) ramps ``--connections`` users at ``--spawn-rate``, then holds them for
``--hold`` seconds, every connection pinging at a random pace in ``--ping-interval``, then quits.
Every subject gets the same treatment: ``gc.collect(); gc.freeze()`` once the ramp is done
(loadbench does this on ``spawning_complete``), latencies of the hold only, exact (HDR)
percentiles, both processes sampled every 0.5 s (CPU % of one core, RSS) from the ramp to the
generator's exit.

Subjects (``--subjects``, comma-separated):

- ``aio-green``: ``SwarmUser`` with ``swarm.engine: asyncio`` (the new engine: one asyncio loop
  on its own thread, ``loadtests.swarm.engine``), Socket.IO;
- ``gevent-green``: ``SwarmUser`` with ``swarm.engine: gevent`` (the engine before issue 15:
  python-socketio's sync client in each user's greenlet); ``swarm-green`` is an alias;
- ``anchor-green``: ``locust.contrib.socketio.SocketIOUser``, pinging at the swarm's pace (the
  first ping at a random time in [0, MAX] after the connect, then every [MIN, MAX]) and timing
  ``ping`` → ``pong`` as the swarm does (green acknowledges no event: ``call`` would never return);
- ``aio-blue``, ``gevent-blue`` (alias ``swarm-blue``): ``SwarmUser`` on blue's native WebSocket,
  with each engine. Locust has no native-WebSocket user: blue's ratios are against the green anchor.

Servers (``--server``): ``embedded`` (the default) is the reference backend of the subject's color,
a fresh process per subject, logged in over HTTP (``auth.mode: password``). ``node`` is "fast
green" (``benchmarks/fast_green/server.js``: Node.js and socket.io, only the part of green's
contract the swarm uses, no token verification), so that what is measured is the generator and
not a Python server; built with npm on first use, green subjects only (blue ones are skipped with
a note), tokens minted locally (``auth.mode: mint``; the anchor gets one minted the same way).
Without ``node``/``npm`` it is skipped with one line. ``both`` runs each green subject against
both; the columns are then labelled ``subject@server``.

Targets (issue 15), in the verdict lines of every subject but the anchor: connect success ≥ 99.9 %,
held ≥ ``--connections`` for the whole hold with no drops, generator memory ≤ 25 KB per
connection and idle-hold CPU ≤ 10 % of a core at 10,000 connections (judged at ≥ 10,000 only;
idle: ``--ping-interval 3600 3600``), both at most half of the anchor's in the same run (the
ratios, KB and CPU, against the anchor on the same server); against a fast green (``node``) RTT
p95 ≤ 50 ms; the generator never ≥ 90 % CPU in any 0.5 s sample of the ramp, the hold or the
teardown (the end of the hold to the generator's exit: Locust's ``quit`` and ``quitting``, then
the interpreter's exit; a teardown shorter than a sample has none, and its row also gives the
generator's own CPU over ``quit``); every latency sample a real measured delay. Ratios and the
verdicts are reported for any size, the 10,000-connection CPU target judged only at that size.
The script also says which side was the bottleneck, from both processes' CPU during the ramp and
the hold.

    python benchmarks/swarm_hold.py [--connections 10000] [--hold 60] [--spawn-rate 500]
        [--subjects aio-green,gevent-green,anchor-green,aio-blue,gevent-blue]
        [--server embedded|node|both] [--ping-interval MIN MAX] [--json out.json]

Exit status: 0 when every selected run produced figures (the targets are reported, not enforced),
1 when one failed or none could run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _harness
import psutil
from _fast_green import build_fast_green, fast_green

SUBJECTS = ("aio-green", "gevent-green", "anchor-green", "aio-blue", "gevent-blue")
ALIASES = {"swarm-green": "gevent-green", "swarm-blue": "gevent-blue"}  # the names before issue 15
ENGINES = {"aio": "asyncio", "gevent": "gevent"}  # subject prefix -> swarm.engine
SERVERS = ("embedded", "node")
WINDOW_S = 10.0
SATURATED_PCT = 85.0
BUSY_PCT = 90.0  # issue 15: the generator never at or above this in a 0.5 s sample
MEMORY_TARGET_KB = 25.0
CPU_TARGET_PCT = 10.0
CPU_TARGET_AT = 10_000  # connections the CPU target is stated for
ANCHOR_SHARE = 0.5  # memory and CPU at most this share of the anchor's
RTT_P95_TARGET_MS = 50.0  # against a fast green
SUCCESS_TARGET_PCT = 99.9


# -- the generator (child process) ----------------------------------------------------------------


@dataclass
class Latencies:
    """Exact histograms of ok samples per name, plus what had no latency or a zero one."""

    hists: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    zero: dict[str, int] = field(default_factory=dict)  # "ok" samples fired with 0 ms: not measured

    def record(self, name: str, response_time: float | None, failed: bool) -> None:
        from loadtests.recorder.histogram import new_histogram

        if failed:
            self.failures[name] = self.failures.get(name, 0) + 1
            return
        if response_time is None:
            return
        if response_time <= 0:
            self.zero[name] = self.zero.get(name, 0) + 1
            return
        hist = self.hists.get(name)
        if hist is None:
            hist = self.hists[name] = new_histogram()
        hist.record_value(max(1, round(response_time * 1000)))

    def summary(self, name: str) -> dict[str, Any]:
        hist = self.hists.get(name)
        base = {"failures": self.failures.get(name, 0), "zero_latency": self.zero.get(name, 0)}
        if hist is None or not hist.get_total_count():
            return {"count": 0, **base}
        pct = {f"p{p}": hist.get_highest_equivalent_value(hist.get_value_at_percentile(p)) / 1000 for p in (50, 95, 99)}
        return {"count": hist.get_total_count(), **pct, "min": hist.get_min_value() / 1000,
                "max": hist.get_max_value() / 1000, **base}  # fmt: skip


def _login_green(url: str, password: str) -> str:
    import httpx

    reply = httpx.post(f"{url}/api/auth/login", json={"username": "loadbench-user-0001", "password": password})
    token = reply.json().get("accessToken")
    if not token:
        raise SystemExit(f"anchor: login failed: HTTP {reply.status_code}")
    return token


def _mint_green() -> str:
    """A token for the anchor as ``auth.mode: mint`` makes them (fast green reads but never
    verifies it; the secret is in the environment the parent gave this process)."""
    from loadtests.credentials import load_accounts, token_minter
    from loadtests.dialects import dialect_for
    from loadtests.profiles import AuthSettings

    auth = AuthSettings(mode="mint")
    minter = token_minter(auth, os.environ)
    assert minter is not None
    return minter.mint(dialect_for("green"), load_accounts(auth, os.environ)[0]).access_token


def run_generator(args: argparse.Namespace) -> dict[str, Any]:
    """Ramp, hold, measure; runs in its own process (pinned to the generator core)."""
    import gevent
    from locust import between, task
    from locust.contrib.socketio import SocketIOUser
    from locust.env import Environment
    from locust.event import Events

    from contract.accounts import ENV_JWT_SECRET, ENV_USER_PASSWORD
    from loadtests.config import RunConfig, TargetConfig
    from loadtests.profiles import parse_profile
    from loadtests.workload import user_classes

    me = psutil.Process()
    password = os.environ[ENV_USER_PASSWORD]
    kind, color = args.subject.split("-")
    low, high = args.ping_interval
    drops = {"count": 0}
    latencies = Latencies()
    events = Events()
    swarm = kind in ENGINES

    if swarm:
        raw: dict[str, Any] = {
            "name": "bench", "duration_s": 3600, "users": args.connections, "spawn_rate": args.spawn_rate,
            "mix": {"SwarmUser": 1}, "health_probe_s": None,
            "swarm": {"engine": ENGINES[kind], "ping_interval_s": [low, high], "connect_timeout_s": 30,
                      "ping_timeout_s": 30},
        }  # fmt: skip
        if args.server == "node":
            raw["auth"] = {"mode": "mint"}  # fast green has no login route
        profile = parse_profile(raw, source="bench")
        target = TargetConfig(color=color, url=args.url)
        config = RunConfig(profile=profile, targets=(target,))
        environ = {ENV_USER_PASSWORD: password, ENV_JWT_SECRET: os.environ[ENV_JWT_SECRET]}
        (cls,) = user_classes(config, environ=environ).values()
        gauge = cls.swarm.gauge

        def held() -> int:
            return gauge.open

        names = {"connect": "swarm.connect", "rtt": "swarm.rtt"}
    else:
        token = _login_green(args.url, password) if args.server == "embedded" else _mint_green()

        ping_timeout_s = 30.0

        class AnchorUser(SocketIOUser):
            host = args.url
            wait_time = between(low, high)
            # as loadbench's own swarm: a drop is measured, not hidden
            options = {"reconnection": False, "handle_sigint": False, "request_timeout": 30}
            stopping = False

            def on_start(self) -> None:
                self.pending: dict[str, float] = {}  # ping token -> perf_counter at the emit
                self.seq = 0
                self.sio.on("disconnect", self.on_disconnect)
                self.sio.on("pong", self.on_pong)
                self.sio.connect(self.host, auth={"token": token}, transports=["websocket"], wait_timeout=30)
                # The swarm's pace: the first ping at a random time in [0, MAX] after the connect, then
                # every [MIN, MAX] (loadtests.swarm.core); not Locust's "task first, then wait", which
                # bunches every anchor ping in the ramp and leaves its hold quieter than the swarm's.
                gevent.sleep(random.uniform(0, high))

            def on_disconnect(self, reason: Any = None) -> None:
                if not self.stopping:
                    drops["count"] += 1

            def _rtt(self, seconds: float | None, error: str | None = None) -> None:
                self.environment.events.request.fire(
                    request_type="WSR", name="anchor.rtt", response_time=None if seconds is None else seconds * 1000,
                    response_length=0, exception=RuntimeError(error) if error else None, context={},
                )  # fmt: skip

            def on_pong(self, data: Any = None) -> None:
                end = time.perf_counter()
                sent = self.pending.pop(data.removeprefix("Pong: ") if isinstance(data, str) else "", None)
                if sent is not None:
                    self._rtt(end - sent)

            @task
            def ping(self) -> None:
                # ping -> pong, timed here as the swarm times it: green acknowledges no event (CONTRACT.md;
                # the reference backend neither), so Locust's call() would wait for an ACK that never comes.
                now = time.perf_counter()
                for stale in [t for t, sent in self.pending.items() if now - sent > ping_timeout_s]:
                    del self.pending[stale]
                    self._rtt(None, f"no pong within {ping_timeout_s:g} s")
                if self.sio.connected:
                    self.seq += 1
                    ping_token = f"{id(self)}.{self.seq}"
                    self.pending[ping_token] = time.perf_counter()
                    self.sio.emit("ping", ping_token)

            def on_stop(self) -> None:
                self.stopping = True
                self.sio.disconnect()

        cls = AnchorUser
        runner_box: dict[str, Any] = {}

        def held() -> int:
            runner = runner_box["runner"]
            return sum(1 for g in runner.user_greenlets if g.args and g.args[0].sio.connected)

        names = {"connect": "connect", "rtt": "anchor.rtt"}

    connects = {"ok": 0, "failed": 0}

    def on_request(name: str, response_time: float | None, exception: Any = None, **_: Any) -> None:
        if name == "swarm.drop":
            drops["count"] += 1
            return
        if name == names["connect"]:
            connects["failed" if exception else "ok"] += 1
        latencies.record(name, response_time, exception is not None)

    events.request.add_listener(on_request)
    env = Environment(user_classes=[cls], events=events)
    runner = env.create_local_runner()
    if not swarm:
        runner_box["runner"] = runner
    gc.collect()
    baseline_rss = me.memory_info().rss
    ramp_start = time.time()
    runner.start(args.connections, spawn_rate=args.spawn_rate)
    deadline = time.monotonic() + args.connections / args.spawn_rate * 3 + 60
    while time.monotonic() < deadline:
        gevent.sleep(0.1)
        if runner.user_count >= args.connections and connects["ok"] + connects["failed"] >= args.connections:
            break
    ramp_end = time.time()
    connected_at_ramp = held()
    gc.collect()
    gc.freeze()  # what RecorderPlugin does on spawning_complete; every subject alike
    ramp_latencies = latencies
    latencies = Latencies()  # the hold's latencies only
    windows: list[Latencies] = []  # the hold's RTT per WINDOW_S: are the tails spread or bunched?
    pauses: list[tuple[int, float]] = []  # the generator's own collections during the hold (generation, s)
    started: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            pauses.append((info["generation"], time.perf_counter() - started.pop("t")))

    def on_hold_request(name: str, response_time: float | None, exception: Any = None, **_: Any) -> None:
        if name == names["rtt"] and windows:
            windows[-1].record(name, response_time, exception is not None)

    events.request.add_listener(on_hold_request)
    gc.callbacks.append(on_gc)
    drops_before = drops["count"]
    cpu0 = me.cpu_times()
    hold_start = time.time()
    held_min, rss_samples = connected_at_ramp, []
    while time.time() - hold_start < args.hold:
        if not windows or time.time() - hold_start >= len(windows) * WINDOW_S:
            windows.append(Latencies())
        gevent.sleep(1.0)
        held_min = min(held_min, held())
        rss_samples.append(me.memory_info().rss)
    gc.callbacks.remove(on_gc)
    cpu1 = me.cpu_times()
    hold_end = time.time()
    hold_cpu_pct = 100.0 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (hold_end - hold_start)
    rss_end = max(rss_samples) if rss_samples else me.memory_info().rss
    result = {
        "subject": args.subject,
        "server": args.server,
        "connections": args.connections,
        "spawn_rate": args.spawn_rate,
        "ramp_start": ramp_start,
        "ramp_end": ramp_end,
        "hold_start": hold_start,
        "hold_end": hold_end,
        "connected_at_ramp": connected_at_ramp,
        "held_min": held_min,
        "connect_ok": connects["ok"],
        "connect_failed": connects["failed"],
        "connect_rate": connected_at_ramp / max(ramp_end - ramp_start, 1e-9),
        "drops_during_hold": drops["count"] - drops_before,
        "baseline_rss_mb": baseline_rss / 2**20,
        "rss_held_mb": rss_end / 2**20,
        "kb_per_connection": (rss_end - baseline_rss) / 1024 / max(held_min, 1),
        "hold_cpu_pct": hold_cpu_pct,
        "connect": ramp_latencies.summary(names["connect"]),
        "rtt": latencies.summary(names["rtt"]),
        "zero_latency_samples": sum(ramp_latencies.zero.values()) + sum(latencies.zero.values()),
        "rtt_windows": [w.summary(names["rtt"]) for w in windows],
        "generator_gc": {
            "collections": len(pauses),
            "full": sum(1 for generation, _ in pauses if generation == 2),
            "max_pause_ms": max((d for _, d in pauses), default=0.0) * 1000,
            "total_pause_ms": sum(d for _, d in pauses) * 1000,
        },
    }
    # The teardown: from here to this process's exit (the parent stamps that). Locust's own
    # shutdown is runner.quit() then the quitting event (which stops the asyncio engine's loop).
    result["teardown_start"] = teardown_start = time.time()
    cpu2 = me.cpu_times()
    runner.quit()
    env.events.quitting.fire(environment=env, reverse=True)
    cpu3 = me.cpu_times()
    result["quit_s"] = quit_s = time.time() - teardown_start
    result["quit_cpu_pct"] = 100.0 * ((cpu3.user + cpu3.system) - (cpu2.user + cpu2.system)) / max(quit_s, 1e-9)
    return result


# -- the parent: servers, samplers, verdicts --------------------------------------------------------


class Sampler(threading.Thread):
    """CPU (% of one core) and RSS of a process, once every half second, until it is gone. A point
    is stamped at the end of its half second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.points: list[tuple[float, float, float]] = []  # time, cpu %, rss MB
        self._stop_event = threading.Event()

    def run(self) -> None:
        last = None
        while not self._stop_event.wait(0.5):
            try:
                times = self.process.cpu_times()
                rss = self.process.memory_info().rss / 2**20
            except psutil.Error:
                return
            now, spent = time.time(), times.user + times.system
            if last is not None:
                self.points.append((now, 100.0 * (spent - last[1]) / (now - last[0]), rss))
            last = (now, spent)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def _cpu(self, since: float, until: float) -> list[float]:
        return [cpu for t, cpu, _ in self.points if since < t <= until]

    def mean_cpu(self, since: float, until: float) -> float | None:
        values = self._cpu(since, until)
        return sum(values) / len(values) if values else None

    def max_cpu(self, since: float, until: float) -> float | None:
        values = self._cpu(since, until)
        return max(values) if values else None

    def share_at_least(self, threshold: float, since: float, until: float) -> float | None:
        values = self._cpu(since, until)
        return sum(1 for cpu in values if cpu >= threshold) / len(values) if values else None

    def max_rss(self, since: float, until: float) -> float | None:
        values = [rss for t, _, rss in self.points if since < t <= until]
        return max(values) if values else None


def _pin_all(pid: int, cpu: int) -> None:
    """``_harness.pin`` for every thread the process has now (affinity is per thread: Node starts
    its V8 and libuv threads before it prints that it is ready; later threads inherit it)."""
    _harness.pin(pid, cpu)
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return
    for thread in threads:
        _harness.pin(thread.id, cpu)


def _bottleneck(generator: float | None, server: float | None, *, paced_by: str) -> str:
    gen, srv = generator or 0.0, server or 0.0
    if srv >= SATURATED_PCT and srv >= gen:
        return f"server (CPU {srv:.0f} % of its core)"
    if gen >= SATURATED_PCT:
        return f"generator (CPU {gen:.0f} % of its core)"
    return f"neither saturated (generator {gen:.0f} %, server {srv:.0f} %): {paced_by}"


@contextmanager
def target_server(color: str, server: str, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A fresh server for one subject: (url, pid)."""
    if server == "node":
        with fast_green() as running:
            yield running
        return
    from reference_backend.process import start_backend_process
    from reference_backend.settings import BackendSettings, UserSeed

    settings = BackendSettings(color=color, users=UserSeed(count=200))  # type: ignore[arg-type]
    with start_backend_process(settings, env=env, ready_timeout_s=30) as backend:
        yield backend.url, backend.pid


def _label(subject: str, server: str, args: argparse.Namespace) -> str:
    return subject if args.server == "embedded" else f"{subject}@{server}"


def run_subject(subject: str, server_kind: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    label = _label(subject, server_kind, args)
    try:
        with target_server(subject.split("-")[1], server_kind, env) as (url, server_pid):
            _pin_all(server_pid, _harness.SERVER_CPU)
            server = Sampler(server_pid)
            server.start()
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder) / "result.json"
                command = [
                    sys.executable, __file__, "--child", "--subject", subject, "--server", server_kind,
                    "--url", url, "--connections", str(args.connections), "--hold", str(args.hold),
                    "--spawn-rate", str(args.spawn_rate), "--ping-interval", *map(str, args.ping_interval),
                    "--result", str(out),
                ]  # fmt: skip
                child = subprocess.Popen(command, env=env)
                _pin_all(child.pid, _harness.GENERATOR_CPU)
                generator = Sampler(child.pid)
                generator.start()
                timeout = args.connections / args.spawn_rate * 3 + args.hold + 240
                try:
                    child.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                child_exit = time.time()
                generator.stop()
                server.stop()
                if child.returncode != 0 or not out.exists():
                    return {"subject": subject, "server": server_kind, "label": label,
                            "error": f"generator exited with {child.returncode}"}  # fmt: skip
                result = json.loads(out.read_text())
    except Exception as error:  # a server that would not start: that run's error, not the whole benchmark's
        return {"subject": subject, "server": server_kind, "label": label, "error": str(error)[:300]}
    result["label"] = label
    ramp = (result["ramp_start"], result["ramp_end"])
    hold = (result["hold_start"], result["hold_end"])
    # The teardown's first point may begin in the hold's last half second: it counts (a max).
    teardown = (result["teardown_start"], child_exit + 1.0)
    result["teardown_s"] = child_exit - result["teardown_start"]
    result["server_cpu_ramp_pct"] = server.mean_cpu(*ramp)
    result["server_cpu_hold_pct"] = server.mean_cpu(*hold)
    result["generator_cpu_ramp_pct"] = generator.mean_cpu(*ramp)
    result["generator_cpu_max_ramp_pct"] = generator.max_cpu(*ramp)
    result["generator_cpu_max_hold_pct"] = generator.max_cpu(*hold)
    result["generator_cpu_max_teardown_pct"] = generator.max_cpu(*teardown)
    phases = [result[f"generator_cpu_max_{p}_pct"] for p in ("ramp", "hold", "teardown")]
    result["generator_cpu_max_pct"] = max((v for v in phases if v is not None), default=None)
    result["generator_cpu_ramp_busy_share"] = generator.share_at_least(BUSY_PCT, *ramp)
    result["server_rss_held_mb"] = server.max_rss(*hold)
    result["server_cpu_hold_max_pct"] = server.max_cpu(*hold)
    result["server_cpu_hold_saturated_share"] = server.share_at_least(SATURATED_PCT, *hold)
    achieved, asked = result["connect_rate"], args.spawn_rate
    paced = "paced by the spawn rate" if achieved >= 0.9 * asked else "connect latency bound"
    result["ramp_bottleneck"] = _bottleneck(
        result["generator_cpu_ramp_pct"], result["server_cpu_ramp_pct"], paced_by=paced
    )
    result["hold_bottleneck"] = _bottleneck(result["hold_cpu_pct"], result["server_cpu_hold_pct"], paced_by="idle hold")
    return result


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _three(figures: dict[str, Any], spec: str = ".1f") -> str:
    return " / ".join(_fmt(figures.get(p), spec) for p in ("p50", "p95", "p99"))


def _success_pct(r: dict[str, Any]) -> float:
    return 100 * r["connect_ok"] / max(r["connect_ok"] + r["connect_failed"], 1)


def _cpu_max(r: dict[str, Any]) -> str:
    return " / ".join(_fmt(r[f"generator_cpu_max_{p}_pct"], ".0f") for p in ("ramp", "hold", "teardown"))


def _verdict(
    r: dict[str, Any], anchor: dict[str, Any] | None, args: argparse.Namespace
) -> list[tuple[str, bool | None]]:
    """(what, passed) for one subject; passed None: reported, not judged."""
    held_for = f"held ≥ {args.connections:,} for {args.hold:g} s"
    checks: list[tuple[str, bool | None]] = [
        (held_for, r["held_min"] >= args.connections),
        (f"connect success ≥ {SUCCESS_TARGET_PCT} % ({_success_pct(r):.2f})", _success_pct(r) >= SUCCESS_TARGET_PCT),
        ("no drops while holding", r["drops_during_hold"] == 0),
        (f"≤ {MEMORY_TARGET_KB:g} KB per connection ({r['kb_per_connection']:.1f})",
         r["kb_per_connection"] <= MEMORY_TARGET_KB),
    ]  # fmt: skip
    idle = "" if args.ping_interval[0] >= args.hold else ", pinging: not idle"
    here = f"{r['hold_cpu_pct']:.1f} % at {r['held_min']:,}{idle}"
    cpu = f"hold CPU ≤ {CPU_TARGET_PCT:g} % of a core at {CPU_TARGET_AT:,} ({here})"
    checks.append((cpu, r["hold_cpu_pct"] <= CPU_TARGET_PCT if args.connections >= CPU_TARGET_AT else None))
    if anchor is None:
        checks.append((f"no anchor on {r['server']} in this run: no ratios", None))
    else:
        other = "" if r["subject"].endswith("green") else ", the anchor is green"
        for what, key, floor in (("KB", "kb_per_connection", 0.1), ("hold CPU", "hold_cpu_pct", 0.05)):
            reference = anchor[key]
            if reference <= floor:  # a ratio to (nearly) nothing says nothing
                checks.append((f"{what} vs the anchor's: the anchor's is ~0 ({reference:.2f}), no ratio", None))
                continue
            ratio = r[key] / reference
            checks.append((f"{what} ≤ {ANCHOR_SHARE:g} x the anchor's ({ratio:.2f} x{other})", ratio <= ANCHOR_SHARE))
    if r["server"] == "node":
        p95 = r["rtt"].get("p95")
        checks.append((f"RTT p95 ≤ {RTT_P95_TARGET_MS:g} ms ({_fmt(p95, '.1f')})",
                       p95 is not None and p95 <= RTT_P95_TARGET_MS))  # fmt: skip
    peak = r["generator_cpu_max_pct"]
    checks.append((f"generator < {BUSY_PCT:g} % CPU in every 0.5 s (max {_fmt(peak, '.0f')})",
                   peak is not None and peak < BUSY_PCT))  # fmt: skip
    checks.append(("every sample a measured delay", r["zero_latency_samples"] == 0 and (r["rtt"].get("min") or 0) > 0))
    return checks


def render(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    ok = [r for r in results if "error" not in r]
    rows = [
        ("connections held (min over the hold)", lambda r: f"{r['held_min']:,} of {r['connections']:,}"),
        ("connect success %", lambda r: _fmt(_success_pct(r), ".3f")),
        ("connect rate /s (achieved, asked)", lambda r: f"{r['connect_rate']:.0f} ({r['spawn_rate']:g})"),
        ("connect p50 / p95 / p99 ms (ramp)", lambda r: _three(r["connect"])),
        ("drops during the hold", lambda r: str(r["drops_during_hold"])),
        ("generator KB per connection", lambda r: _fmt(r["kb_per_connection"])),
        ("generator RSS held MB (baseline)", lambda r: f"{r['rss_held_mb']:.0f} ({r['baseline_rss_mb']:.0f})"),
        ("generator CPU % holding", lambda r: _fmt(r["hold_cpu_pct"])),
        ("generator / server CPU % ramp",
         lambda r: f"{_fmt(r['generator_cpu_ramp_pct'], '.0f')} / {_fmt(r['server_cpu_ramp_pct'], '.0f')}"),
        ("gen. CPU % max 0.5 s ramp/hold/teardown", _cpu_max),
        (f"gen. share of ramp 0.5 s ≥ {BUSY_PCT:g} %", lambda r: _fmt(r["generator_cpu_ramp_busy_share"], ".0%")),
        ("teardown s (quit s, its CPU %)",
         lambda r: f"{r['teardown_s']:.2f} ({r['quit_s']:.2f}, {r['quit_cpu_pct']:.0f})"),
        ("server CPU % holding, RSS MB",
         lambda r: f"{_fmt(r['server_cpu_hold_pct'])}, {_fmt(r['server_rss_held_mb'], '.0f')}"),
        ("RTT p50 / p95 / p99 ms (hold)", lambda r: _three(r["rtt"], ".2f")),
        ("RTT samples (min ms, failures)",
         lambda r: f"{r['rtt']['count']} ({_fmt(r['rtt'].get('min'), '.3f')}, {r['rtt']['failures']})"),
        ("RTT p99 ms per 10 s of the hold",
         lambda r: " ".join(_fmt(w.get("p99"), ".0f") for w in r["rtt_windows"])),
        ("generator GC: full, max / total pause ms",
         lambda r: "{full}, {max_pause_ms:.0f} / {total_pause_ms:.0f}".format(**r["generator_gc"])),
        ("server CPU % max, share of 0.5 s ≥ 85 %",
         lambda r: f"{_fmt(r['server_cpu_hold_max_pct'], '.0f')}, {_fmt(r['server_cpu_hold_saturated_share'], '.0%')}"),
        ("samples fired with 0 ms", lambda r: str(r["zero_latency_samples"])),
        ("bottleneck, ramp", lambda r: r["ramp_bottleneck"]),
        ("bottleneck, hold", lambda r: r["hold_bottleneck"]),
    ]  # fmt: skip
    width = 40
    lines = [f"{'':{width}} " + " | ".join(f"{r['label']:>22}" for r in ok)]
    for label, cell in rows:
        lines.append(f"{label:{width}} " + " | ".join(f"{cell(r):>22}" for r in ok))
    for r in results:
        if "error" in r:
            lines.append(f"{r['label']}: {r['error']}")
    anchors = {r["server"]: r for r in ok if r["subject"].startswith("anchor")}
    lines.append("")
    marks = {True: "✓", False: "✗", None: "·"}
    for r in ok:
        if r["subject"].startswith("anchor"):
            continue
        checks = _verdict(r, anchors.get(r["server"]), args)
        lines.append(f"{r['label']}: " + ", ".join(f"{name} {marks[passed]}" for name, passed in checks))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold after the ramp")
    parser.add_argument("--spawn-rate", type=float, default=500.0)
    parser.add_argument("--ping-interval", type=float, nargs=2, default=(10.0, 30.0), metavar=("MIN", "MAX"))
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    where = "embedded: the reference backend; node: fast green (green subjects only); both"
    parser.add_argument("--server", choices=(*SERVERS, "both"), default="embedded", help=where)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.result.write_text(json.dumps(run_generator(args)))
        return 0
    subjects = list(dict.fromkeys(ALIASES.get(s, s) for s in args.subjects.split(",") if s))
    unknown = set(subjects) - set(SUBJECTS)
    if unknown:
        names = ", ".join((*SUBJECTS, *ALIASES))
        parser.error(f"unknown subject(s) {sorted(unknown)}; choose from {names}")
    servers = list(SERVERS) if args.server == "both" else [args.server]
    if "node" in servers and any(s.endswith("green") for s in subjects):
        problem = build_fast_green()
        if problem is not None:
            print(f"· fast green skipped: {problem}", flush=True)
            servers.remove("node")
    runs: list[tuple[str, str]] = []
    for server in servers:
        for subject in subjects:
            if server == "node" and not subject.endswith("green"):
                print(f"· {subject}: not on node (fast green speaks Socket.IO; blue is native WebSocket)", flush=True)
                continue
            runs.append((subject, server))
    if not runs:
        print("nothing to run")
        return 1
    from contract.accounts import ENV_JWT_SECRET, ENV_USER_PASSWORD

    env = {**os.environ, ENV_JWT_SECRET: secrets.token_hex(32), ENV_USER_PASSWORD: secrets.token_urlsafe(12)}
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    results = []
    for subject, server in runs:
        label = _label(subject, server, args)
        print(f"· {label}: {args.connections:,} connections at {args.spawn_rate:g}/s, hold {args.hold:g} s", flush=True)
        results.append(run_subject(subject, server, args, env))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("\n".join(render(results, args)))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        args.json.write_text(json.dumps({"args": settings, "results": results}, indent=2, default=str))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
