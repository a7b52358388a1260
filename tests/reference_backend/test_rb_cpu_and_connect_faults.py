"""The faults behind the server-CPU and connection-success SLO tests: CPU burnt per request, and
real-time connections refused (both colors), reproducible with a fault seed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable

import httpx
import pytest
import socketio
import websockets
from rb_helpers import PASSWORD, USER, SioRecorder, blue_claims, green_claims, make_settings, mint

from reference_backend.faults import burn_cpu
from reference_backend.settings import FaultSettings
from reference_backend.testing import running_app

Clients = Callable[[Iterable[str]], SioRecorder]


def test_burn_cpu_spends_cpu_time_and_lets_the_loop_run() -> None:
    async def scenario() -> tuple[float, int, float]:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        spent = time.thread_time()
        await burn_cpu(0.2)
        spent = time.thread_time() - spent
        done.set()
        await task
        return spent, len(gaps), max(gaps)

    spent, ticks, longest_gap = asyncio.run(scenario())
    assert spent >= 0.2
    assert ticks >= 20 and longest_gap < 0.1  # served between slices, never blocked for the whole burn


def test_cpu_burn_per_request_shows_as_server_cpu() -> None:
    settings = make_settings("blue", faults=FaultSettings(cpu_burn_ms_per_request=300, paths=("/api/chat",)))
    burnt_metric = 'reference_backend_injected_faults_total{kind="cpu_burn"} 3.0'
    with running_app(settings) as url, httpx.Client(base_url=url) as http:
        http.get("/")  # warm up outside the measurement
        before = time.process_time()
        statuses = [http.get("/api/chat/history").status_code for _ in range(3)]
        # The burns run in the background: wait (bounded) until all three are counted as spent.
        deadline = time.monotonic() + 10
        while burnt_metric not in http.get("/metrics").text and time.monotonic() < deadline:
            time.sleep(0.02)
        burnt = time.process_time() - before
        metrics = http.get("/metrics").text
    assert statuses == [401, 401, 401]  # the requests themselves are handled as usual
    assert burnt_metric in metrics and burnt >= 0.9


def test_blue_refuses_websocket_connections_at_the_configured_rate() -> None:
    # With seed 1 the fault stream's first draws are: accept, accept, refuse, refuse.
    settings = make_settings("blue", faults=FaultSettings(connect_failure_rate=0.5, seed=1))
    with running_app(settings) as url:
        target = f"{url.replace('http://', 'ws://')}/api/chat/ws?token={mint(blue_claims())}"

        async def attempt() -> str:
            try:
                async with websockets.connect(target) as ws:
                    await ws.send('{"type": "create_room"}')
                    return json.loads(await asyncio.wait_for(ws.recv(), 5))["type"]
            except websockets.InvalidStatus as refused:
                return str(refused.response.status_code)

        results = [asyncio.run(attempt()) for _ in range(4)]
        metrics = httpx.get(url + "/metrics").text
    assert results == ["room_created", "room_created", "403", "403"]
    assert 'reference_backend_injected_faults_total{kind="connect_refused"} 2.0' in metrics


def test_green_refuses_socketio_connections(sio_clients: Clients) -> None:
    settings = make_settings("green", faults=FaultSettings(connect_failure_rate=1.0))
    with running_app(settings) as url:
        assert httpx.post(f"{url}/api/auth/login", json={"username": USER, "password": PASSWORD}).status_code == 201
        client = sio_clients([])
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(url, auth={"token": mint(green_claims())})
        assert client.wait_for("connect_error") == {"message": "Injected connection refusal"}
