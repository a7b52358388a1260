"""Shared pieces of the benchmark scripts: CPU pinning, a trivial endpoint, in-process Locust phases.

Benchmarks print ratios measured side by side in one run: this machine is shared and noisy, so an
absolute requests-per-second figure from one moment means little, a ratio of interleaved phases
means more.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import httpx  # noqa: E402
from locust import User  # noqa: E402
from locust.env import Environment  # noqa: E402

GENERATOR_CPU = 0
SERVER_CPU = 1


def pin(pid: int, cpu: int) -> bool:
    """Keep the generator and the server on separate cores (as research/feasibility.md did)."""
    if (os.cpu_count() or 1) < 2:
        return False
    try:
        os.sched_setaffinity(pid, {cpu})
    except (AttributeError, OSError):
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TRIVIAL_APP = textwrap.dedent(
    """
    import json
    BODY = json.dumps({"message": "ok"}).encode()
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
        await send({"type": "http.response.body", "body": BODY})
    """
)


@contextmanager
def trivial_server():
    """A bare ASGI app under uvicorn in its own process, on the server core: as cheap as a server
    gets, so the generator is what is measured."""
    port = free_port()
    folder = os.path.join(os.path.dirname(__file__), ".trivial")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "trivial_app.py"), "w") as handle:
        handle.write(TRIVIAL_APP)
    command = [
        sys.executable, "-m", "uvicorn", "trivial_app:app", "--app-dir", folder, "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--backlog", "4096",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pin(proc.pid, SERVER_CPU)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the trivial server did not start")
        time.sleep(0.05)
    try:
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True)
class Phase:
    label: str
    requests: int
    seconds: float
    generator_cpu_pct: float = 0.0  # this process, over the window: near 100 % means it set the pace

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def run_phase(
    label: str,
    user_class: type[User],
    *,
    users: int,
    seconds: float,
    setup: Callable[[Environment], Any] | None = None,
) -> Phase:
    """Run ``users`` of ``user_class`` in this process for ``seconds`` after they are all spawned;
    count the requests Locust's own stats saw in that window."""
    env = Environment(user_classes=[user_class], host=getattr(user_class, "host", None))
    if setup is not None:
        setup(env)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    while runner.user_count < users:
        gevent.sleep(0.05)
    gevent.sleep(1.0)  # let connections open and settle before the window
    before, started, cpu_before = env.stats.total.num_requests, time.perf_counter(), time.process_time()
    gevent.sleep(seconds)
    requests, elapsed = env.stats.total.num_requests - before, time.perf_counter() - started
    cpu = 100.0 * (time.process_time() - cpu_before) / elapsed
    runner.quit()
    return Phase(label, requests, elapsed, cpu)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
