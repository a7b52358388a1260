"""Each injected fault, observed from outside over real sockets."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import Callable, Iterable

import httpx
import pytest
import websockets
from rb_helpers import BUILTIN_AGENT, PASSWORD, USER, SioRecorder, bearer, make_settings

from reference_backend.settings import Distribution, FaultSettings, LlmSettings, RateLimitRule
from reference_backend.testing import running_app

Clients = Callable[[Iterable[str]], SioRecorder]


def timed_get(http: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = http.get(path)
    return response, time.perf_counter() - start


def test_added_latency_is_measurable_and_spares_metrics() -> None:
    faults = FaultSettings(latency=Distribution(kind="constant", ms=150))
    with running_app(make_settings("blue", faults=faults)) as url, httpx.Client(base_url=url) as http:
        http.get("/metrics")  # warm the connection
        slow, slow_s = timed_get(http, "/")
        metrics, metrics_s = timed_get(http, "/metrics")
    assert slow.status_code == 200
    assert slow_s >= 0.150
    assert metrics.status_code == 200
    assert metrics_s < 0.150


@pytest.mark.parametrize(
    ("color", "path", "expected"),
    [
        ("blue", "/", {"detail": "Injected failure"}),
        ("green", "/health", {"statusCode": 500, "message": "Injected failure", "path": "/health"}),
    ],
)
def test_error_rate_one_fails_every_request(color: str, path: str, expected: dict[str, object]) -> None:
    with running_app(make_settings(color, faults=FaultSettings(error_rate=1.0))) as url:
        response = httpx.get(url + path)
        metrics = httpx.get(url + "/metrics")
    assert response.status_code == 500
    assert expected.items() <= response.json().items()
    assert metrics.status_code == 200
    assert 'reference_backend_injected_faults_total{kind="error"} 1.0' in metrics.text


def test_soft_failures_keep_the_success_status() -> None:
    faults = FaultSettings(soft_failure_rate=1.0)
    with running_app(make_settings("green", faults=faults)) as url:
        post = httpx.post(f"{url}/api/auth/login", json={"username": USER, "password": PASSWORD})
        get = httpx.get(f"{url}/health")
    assert (post.status_code, post.json()) == (201, {"error": "Injected soft failure"})
    assert (get.status_code, get.json()) == (200, {"error": "Injected soft failure"})
    with running_app(make_settings("blue", faults=faults)) as url:
        blue_post = httpx.post(f"{url}/api/auth/admin/login", json={"username": USER, "password": PASSWORD})
    assert (blue_post.status_code, blue_post.json()) == (200, {"error": "Injected soft failure"})


def test_faults_are_limited_to_the_configured_paths() -> None:
    faults = FaultSettings(error_rate=1.0, paths=("/api/chat",))
    with running_app(make_settings("blue", faults=faults)) as url:
        assert httpx.get(f"{url}/").status_code == 200
        assert httpx.get(f"{url}/api/chat/history").status_code == 500


def test_rate_limit_answers_429_after_the_limit() -> None:
    faults = FaultSettings(rate_limit=True, rate_limits=(RateLimitRule(prefix="/health", limit=3, window_s=60),))
    with running_app(make_settings("green", faults=faults)) as url, httpx.Client(base_url=url) as http:
        allowed = [http.get("/health") for _ in range(3)]
        limited = http.get("/health")
        unlimited = http.get("/metrics")
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert limited.status_code == 429
    assert {"statusCode": 429, "message": "Too Many Requests", "path": "/health"}.items() <= limited.json().items()
    assert "timestamp" in limited.json()
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-ratelimit-window"] == "60"
    assert int(limited.headers["x-ratelimit-reset"]) > time.time()
    assert unlimited.status_code == 200


def test_overlapping_rate_limit_mounts_all_count() -> None:
    rules = (
        RateLimitRule(prefix="/api/auth", limit=100, window_s=60),
        RateLimitRule(prefix="/api", limit=2, window_s=60),
    )
    faults = FaultSettings(rate_limit=True, rate_limits=rules)
    login = {"username": USER, "password": PASSWORD}
    with running_app(make_settings("green", faults=faults)) as url, httpx.Client(base_url=url) as http:
        statuses = [http.post("/api/auth/login", json=login).status_code for _ in range(3)]
        other = http.get("/api/chats")
    assert statuses == [201, 201, 429]
    assert other.status_code == 429  # the catch-all counted the logins too


def test_rate_limiter_applies_to_blue_when_switched_on() -> None:
    faults = FaultSettings(rate_limit=True, rate_limits=(RateLimitRule(prefix="/", limit=1, window_s=60),))
    with running_app(make_settings("blue", faults=faults)) as url:
        assert [httpx.get(f"{url}/").status_code for _ in range(2)] == [200, 429]


def test_dropped_end_on_blue_websocket() -> None:
    settings = make_settings("blue", faults=FaultSettings(drop_end_rate=1.0))
    with running_app(settings) as url:
        token = httpx.post(f"{url}/api/auth/admin/login", json={"username": USER, "password": PASSWORD}).json()["token"]

        async def converse() -> tuple[list[dict[str, object]], bool]:
            async with websockets.connect(f"{url.replace('http', 'ws')}/ws?token={token}") as ws:
                await ws.send(json.dumps({"type": "create_room"}))
                chat_id = json.loads(await ws.recv())["data"]["chatId"]
                await ws.send(
                    json.dumps({"type": "message", "chatId": chat_id, "text": "hi", "agent_id": BUILTIN_AGENT})
                )
                frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(6)]
                try:
                    await asyncio.wait_for(ws.recv(), 0.3)
                except TimeoutError:
                    return frames, False
                return frames, True

        frames, more = asyncio.run(converse())
    assert [f["type"] for f in frames] == ["accepted"] + ["chunk"] * 5
    assert not more


def test_dropped_end_on_green_stream(sio_clients: Clients) -> None:
    settings = make_settings("green", faults=FaultSettings(drop_end_rate=1.0))
    with running_app(settings) as url, httpx.Client(base_url=url) as http:
        token = http.post("/api/auth/login", json={"username": USER, "password": PASSWORD}).json()["accessToken"]
        chat_id = http.post("/api/chats", json={"name": "x"}, headers=bearer(token)).json()["_id"]
        client = sio_clients(["stream", "joined-room"]).connect(url, auth={"token": token})
        client.client.emit("join-room", {"chatId": chat_id})
        client.wait_for("joined-room")
        http.post(f"/api/chats/{chat_id}/ask", json={"content": "hi"}, headers=bearer(token))
        types = [client.wait_for("stream")["type"] for _ in range(6)]
        with pytest.raises(queue.Empty):
            client.wait_for("stream", timeout=0.3)
        client.close()
    assert types == ["status"] + ["chunk"] * 5


def test_stream_latency_adds_to_the_first_token(sio_clients: Clients) -> None:
    llm = LlmSettings(first_token=50, token_gap=1, chunks=1)
    faults = FaultSettings(stream_latency=Distribution(kind="constant", ms=150))
    with running_app(make_settings("green", llm=llm, faults=faults)) as url, httpx.Client(base_url=url) as http:
        token = http.post("/api/auth/login", json={"username": USER, "password": PASSWORD}).json()["accessToken"]
        chat_id = http.post("/api/chats", json={"name": "x"}, headers=bearer(token)).json()["_id"]
        client = sio_clients(["stream", "joined-room"]).connect(url, auth={"token": token})
        client.client.emit("join-room", {"chatId": chat_id})
        client.wait_for("joined-room")
        start = time.perf_counter()
        http.post(f"/api/chats/{chat_id}/ask", json={"content": "hi"}, headers=bearer(token))
        while client.wait_for("stream")["type"] != "chunk":
            pass
        elapsed = time.perf_counter() - start
        client.close()
    assert 0.200 <= elapsed < 0.450
