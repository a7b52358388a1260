"""Swarm hold: how many connections one Locust process connects and holds, at what cost, and how
fast they answer; the swarm's users beside Locust's own ``SocketIOUser`` (the anchor) holding the
same count against the same kind of server.

For each subject a fresh embedded reference backend starts (pinned to CPU 1) and a fresh generator
process (pinned to CPU 0) ramps ``--connections`` users at ``--spawn-rate``, then holds them for
``--hold`` seconds, every connection pinging at a random pace in ``--ping-interval``. Both subjects
get the same treatment: ``gc.collect(); gc.freeze()`` once the ramp is done (loadbench does this
on ``spawning_complete``), latencies of the hold only, exact (HDR) percentiles.

Subjects: ``swarm-green`` (``SwarmUser`` on python-socketio), ``anchor-green``
(``locust.contrib.socketio.SocketIOUser``, pinging with ``call``), ``swarm-blue`` (``SwarmUser`` on
websocket-client; Locust has no native-WebSocket user to anchor it).

Targets (issue 5): ≥ 10,000 held ≥ 60 s, connect success ≥ 99.9 %, no unexplained drops, generator
memory ≤ 50 KB per connection and ≤ the anchor's, generator CPU holding idle connections ≤ 30 % of
one core, every latency sample a real measured delay. The script says which side was the
bottleneck, from both processes' CPU during the ramp and the hold.

    python benchmarks/swarm_hold.py [--connections 10000] [--hold 60] [--spawn-rate 500]
                                    [--subjects swarm-green,anchor-green,swarm-blue] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _harness
import psutil

SUBJECTS = ("swarm-green", "anchor-green", "swarm-blue")
WINDOW_S = 10.0
SATURATED_PCT = 85.0
MEMORY_TARGET_KB = 50.0
CPU_TARGET_PCT = 30.0
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


def run_generator(args: argparse.Namespace) -> dict[str, Any]:
    """Ramp, hold, measure; runs in its own process (pinned to the generator core)."""
    import gevent
    from locust import between, task
    from locust.contrib.socketio import SocketIOUser
    from locust.env import Environment
    from locust.event import Events

    from contract.accounts import ENV_USER_PASSWORD
    from loadtests.config import RunConfig, TargetConfig
    from loadtests.profiles import parse_profile
    from loadtests.workload import user_classes

    me = psutil.Process()
    password = os.environ[ENV_USER_PASSWORD]
    color = args.subject.split("-")[1]
    low, high = args.ping_interval
    drops = {"count": 0}
    latencies = Latencies()
    events = Events()

    if args.subject.startswith("swarm"):
        profile = parse_profile(
            {"name": "bench", "duration_s": 3600, "users": args.connections, "spawn_rate": args.spawn_rate,
             "mix": {"SwarmUser": 1}, "health_probe_s": None,
             "swarm": {"ping_interval_s": [low, high], "connect_timeout_s": 30, "ping_timeout_s": 30}},
            source="bench",
        )  # fmt: skip
        config = RunConfig(profile=profile, targets=(TargetConfig(color=color, url=args.url),))
        (cls,) = user_classes(config, environ={ENV_USER_PASSWORD: password}).values()
        gauge = cls.swarm.gauge

        def held() -> int:
            return gauge.open

        names = {"connect": "swarm.connect", "rtt": "swarm.rtt"}
    else:
        token = _login_green(args.url, password)

        class AnchorUser(SocketIOUser):
            host = args.url
            wait_time = between(low, high)
            # as loadbench's own swarm: a drop is measured, not hidden
            options = {"reconnection": False, "handle_sigint": False, "request_timeout": 30}

            def on_start(self) -> None:
                self.sio.on("disconnect", self.on_disconnect)
                self.sio.connect(self.host, auth={"token": token}, transports=["websocket"], wait_timeout=30)

            def on_disconnect(self, reason: Any = None) -> None:
                if not self.stopping:
                    drops["count"] += 1

            stopping = False

            @task
            def ping(self) -> None:
                if self.sio.connected:
                    self.sio.call("ping", "x", timeout=30)

            def on_stop(self) -> None:
                self.stopping = True
                self.sio.disconnect()

        cls = AnchorUser
        runner_box: dict[str, Any] = {}

        def held() -> int:
            runner = runner_box["runner"]
            return sum(1 for g in runner.user_greenlets if g.args and g.args[0].sio.connected)

        names = {"connect": "connect", "rtt": "ping"}

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
    if not args.subject.startswith("swarm"):
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
    gc.freeze()  # what RecorderPlugin does on spawning_complete; both subjects alike
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
    runner.quit()
    return result


# -- the parent: servers, samplers, verdicts --------------------------------------------------------


class Sampler(threading.Thread):
    """CPU (% of one core) and RSS of a process, once every half second."""

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

    def mean_cpu(self, since: float, until: float) -> float | None:
        values = [cpu for t, cpu, _ in self.points if since < t <= until]
        return sum(values) / len(values) if values else None

    def max_cpu(self, since: float, until: float) -> float | None:
        values = [cpu for t, cpu, _ in self.points if since < t <= until]
        return max(values) if values else None

    def share_at_least(self, threshold: float, since: float, until: float) -> float | None:
        values = [cpu for t, cpu, _ in self.points if since < t <= until]
        return sum(1 for cpu in values if cpu >= threshold) / len(values) if values else None

    def max_rss(self, since: float, until: float) -> float | None:
        values = [rss for t, _, rss in self.points if since < t <= until]
        return max(values) if values else None


def _bottleneck(generator: float | None, server: float | None, *, paced_by: str) -> str:
    gen, srv = generator or 0.0, server or 0.0
    if srv >= SATURATED_PCT and srv >= gen:
        return f"server (CPU {srv:.0f} % of its core)"
    if gen >= SATURATED_PCT:
        return f"generator (CPU {gen:.0f} % of its core)"
    return f"neither saturated (generator {gen:.0f} %, server {srv:.0f} %): {paced_by}"


def run_subject(subject: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from reference_backend.process import start_backend_process
    from reference_backend.settings import BackendSettings, UserSeed

    color = subject.split("-")[1]
    settings = BackendSettings(color=color, users=UserSeed(count=200))  # type: ignore[arg-type]
    with start_backend_process(settings, env=env, ready_timeout_s=30) as backend:
        _harness.pin(backend.pid, _harness.SERVER_CPU)
        server = Sampler(backend.pid)
        server.start()
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "result.json"
            command = [
                sys.executable, __file__, "--child", "--subject", subject, "--url", backend.url,
                "--connections", str(args.connections), "--hold", str(args.hold),
                "--spawn-rate", str(args.spawn_rate), "--ping-interval", *map(str, args.ping_interval),
                "--result", str(out),
            ]  # fmt: skip
            child = subprocess.Popen(command, env=env)
            _harness.pin(child.pid, _harness.GENERATOR_CPU)
            generator = Sampler(child.pid)
            generator.start()
            timeout = args.connections / args.spawn_rate * 3 + args.hold + 240
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            generator.stop()
            server.stop()
            if child.returncode != 0 or not out.exists():
                return {"subject": subject, "error": f"generator exited with {child.returncode}"}
            result = json.loads(out.read_text())
    ramp = (result["ramp_start"], result["ramp_end"])
    hold = (result["hold_start"], result["hold_end"])
    result["server_cpu_ramp_pct"] = server.mean_cpu(*ramp)
    result["server_cpu_hold_pct"] = server.mean_cpu(*hold)
    result["generator_cpu_ramp_pct"] = generator.mean_cpu(*ramp)
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
    width = 38
    lines = [f"{'':{width}} " + " | ".join(f"{r['subject']:>22}" for r in ok)]
    for label, cell in rows:
        lines.append(f"{label:{width}} " + " | ".join(f"{cell(r):>22}" for r in ok))
    for r in results:
        if "error" in r:
            lines.append(f"{r['subject']}: {r['error']}")
    anchor = next((r for r in ok if r["subject"].startswith("anchor")), None)
    lines.append("")
    for r in ok:
        if r["subject"].startswith("anchor"):
            continue
        success = _success_pct(r)
        checks = [
            (f"held ≥ {args.connections:,} for {args.hold:g} s", r["held_min"] >= args.connections),
            (f"connect success ≥ {SUCCESS_TARGET_PCT} %", success >= SUCCESS_TARGET_PCT),
            ("no drops while holding", r["drops_during_hold"] == 0),
            (f"≤ {MEMORY_TARGET_KB:g} KB per connection", r["kb_per_connection"] <= MEMORY_TARGET_KB),
            (f"idle-hold CPU ≤ {CPU_TARGET_PCT:g} % of a core", r["hold_cpu_pct"] <= CPU_TARGET_PCT),
            ("every sample a measured delay", r["zero_latency_samples"] == 0 and (r["rtt"].get("min") or 0) > 0),
        ]
        if anchor is not None and r["subject"].endswith(anchor["subject"].split("-")[1]):
            ratio = r["kb_per_connection"] / max(anchor["kb_per_connection"], 1e-9)
            checks.append((f"memory ≤ the anchor's ({ratio:.2f} x)", ratio <= 1.0))
        lines.append(f"{r['subject']}: " + ", ".join(f"{name} {'✓' if passed else '✗'}" for name, passed in checks))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold after the ramp")
    parser.add_argument("--spawn-rate", type=float, default=500.0)
    parser.add_argument("--ping-interval", type=float, nargs=2, default=(10.0, 30.0), metavar=("MIN", "MAX"))
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.result.write_text(json.dumps(run_generator(args)))
        return 0
    subjects = [s for s in args.subjects.split(",") if s]
    unknown = set(subjects) - set(SUBJECTS)
    if unknown:
        parser.error(f"unknown subject(s) {sorted(unknown)}; choose from {', '.join(SUBJECTS)}")
    from contract.accounts import ENV_JWT_SECRET, ENV_USER_PASSWORD

    env = {**os.environ, ENV_JWT_SECRET: secrets.token_hex(32), ENV_USER_PASSWORD: secrets.token_urlsafe(12)}
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    results = []
    for subject in subjects:
        print(
            f"· {subject}: {args.connections:,} connections at {args.spawn_rate:g}/s, hold {args.hold:g} s", flush=True
        )
        results.append(run_subject(subject, args, env))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("\n".join(render(results, args)))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        args.json.write_text(json.dumps({"args": settings, "results": results}, indent=2, default=str))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
