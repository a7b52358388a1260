"""blue's contract over real sockets: uvicorn on a free port, httpx and a real websockets client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import websockets
from rb_helpers import (
    BUILTIN_AGENT,
    OTHER_USER,
    PASSWORD,
    SECRET,
    SUPERADMIN,
    USER,
    bearer,
    blue_claims,
    make_settings,
    mint,
)

from reference_backend.settings import LlmSettings, UserSeed, user_id_for
from reference_backend.testing import running_app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_app(make_settings("blue", upload_max_bytes=4096)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as client:
        yield client


def login(http: httpx.Client, username: str = USER) -> str:
    response = http.post("/api/auth/admin/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture(scope="module")
def token(http: httpx.Client) -> str:
    return login(http)


def ws_url(url: str, token: str, path: str = "/api/chat/ws") -> str:
    return f"{url.replace('http://', 'ws://')}{path}?token={token}"


async def recv_json(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def read_answer(ws: Any) -> tuple[list[str], dict[str, Any]]:
    """The chunk texts up to and including the terminating frame."""
    chunks = []
    while True:
        frame = await recv_json(ws)
        if frame["type"] != "chunk":
            return chunks, frame
        chunks.append(frame["data"])


# -- auth ----------------------------------------------------------------------------------------


def test_admin_login_returns_a_blue_token_and_the_user(http: httpx.Client) -> None:
    response = http.post("/api/auth/admin/login", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == user_id_for(USER) == body["user"]["id"]
    assert (claims["username"], claims["nameID"], claims["role"]) == (USER, USER, "Admin")
    assert 24 * 3600 - 60 <= claims["exp"] - time.time() <= 24 * 3600


def test_admin_login_failures(http: httpx.Client) -> None:
    wrong = http.post("/api/auth/admin/login", json={"username": USER, "password": "nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Password is incorrect"})
    unknown = http.post("/api/auth/admin/login", json={"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "User account not found or password not set"
    assert http.post("/api/auth/admin/login", json={"username": USER}).status_code == 422


def test_admin_login_refuses_students() -> None:
    settings = make_settings("blue", users=UserSeed(count=2, role="Students", password=PASSWORD))
    with running_app(settings) as url:
        response = httpx.post(f"{url}/api/auth/admin/login", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 401


def test_me_and_refresh(http: httpx.Client, token: str) -> None:
    me = http.get("/api/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["username"] == USER
    refreshed = http.post("/api/auth/refresh", headers=bearer(token))
    assert refreshed.status_code == 200
    assert jwt.decode(refreshed.json()["token"], SECRET, algorithms=["HS256"])["sub"] == user_id_for(USER)


def test_missing_forged_and_expired_tokens_are_refused(http: httpx.Client) -> None:
    assert http.get("/api/auth/me").status_code in (401, 403)
    forged = mint(blue_claims(), secret="another-secret-of-sufficient-length-000")
    assert http.get("/api/auth/me", headers=bearer(forged)).status_code == 401
    expired = mint(blue_claims(), ttl_s=-60)
    response = http.get("/api/auth/me", headers=bearer(expired))
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Invalid token")
    stranger = mint(blue_claims("someone-else"))
    assert http.get("/api/auth/me", headers=bearer(stranger)).json() == {"detail": "User not found"}


def test_roles_are_enforced(http: httpx.Client, token: str) -> None:
    assert http.get("/api/admin/all", headers=bearer(token)).status_code == 403
    superadmin = login(http, SUPERADMIN)
    admins = http.get("/api/admin/all", headers=bearer(superadmin))
    assert admins.status_code == 200
    assert {a["username"] for a in admins.json()} >= {USER, SUPERADMIN}
    student = mint(blue_claims(role="Students"))
    assert http.get("/api/stats/stats/total", headers=bearer(student)).status_code == 403
    assert http.get("/api/stats/stats/total", headers=bearer(token)).json()["total_users"] == 6
    assert "total_chats_today" in http.get("/api/stats/stats/daily", headers=bearer(token)).json()
    stats = http.get("/api/stats/stats", params={"start_date": "2000-01-01"}, headers=bearer(token))
    assert stats.status_code == 200
    assert isinstance(stats.json(), list)


def test_root_answers_and_there_is_no_health_route(http: httpx.Client) -> None:
    assert "message" in http.get("/").json()
    assert http.get("/health").status_code == 404


# -- WebSocket -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/chat/ws", "/ws"])
def test_chat_over_websocket_streams_an_answer(url: str, http: httpx.Client, token: str, path: str) -> None:
    async def chat() -> tuple[str, list[str], dict[str, Any]]:
        async with websockets.connect(ws_url(url, token, path)) as ws:
            await ws.send(json.dumps({"type": "create_room", "name": "load test", "agent_id": BUILTIN_AGENT}))
            created = await recv_json(ws)
            assert created["type"] == "room_created"
            chat_id = created["data"]["chatId"]
            message = {"type": "message", "chatId": chat_id, "text": "hello", "agent_id": BUILTIN_AGENT, "images": []}
            await ws.send(json.dumps(message))
            assert await recv_json(ws) == {"type": "accepted", "data": {"chatId": chat_id}}
            chunks, last = await read_answer(ws)
            return chat_id, chunks, last

    chat_id, chunks, last = asyncio.run(chat())
    assert last == {"type": "end"}
    assert len(chunks) == 5
    assert all(len(c.split()) == 2 for c in chunks)
    stored = http.get(f"/api/chat/history/{chat_id}", headers=bearer(token)).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][1]["content"] == "".join(chunks)


def test_ping_gets_a_raw_pong_and_unknown_frames_are_ignored(url: str, token: str) -> None:
    async def ping() -> list[str]:
        async with websockets.connect(ws_url(url, token)) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            first = await asyncio.wait_for(ws.recv(), 5)
            await ws.send(json.dumps({"type": "something-new"}))
            await ws.send(json.dumps({"type": "ping"}))
            return [first, await asyncio.wait_for(ws.recv(), 5)]

    assert asyncio.run(ping()) == ["pong", "pong"]


@pytest.mark.parametrize("query", ["?token=not-a-jwt", "", "?token={expired}"])
def test_bad_token_is_refused_before_accept(url: str, query: str) -> None:
    # The server closes with 1008 before accepting; the ASGI server turns that into HTTP 403.
    target = f"{url.replace('http://', 'ws://')}/api/chat/ws" + query.format(expired=mint(blue_claims(), ttl_s=-5))

    async def connect() -> None:
        async with websockets.connect(target):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(connect())
    assert refused.value.response.status_code == 403


def test_join_room_with_a_bad_id_closes_1007(url: str, token: str) -> None:
    async def join() -> int | None:
        async with websockets.connect(ws_url(url, token)) as ws:
            await ws.send(json.dumps({"type": "join_room", "chatId": "not-an-id"}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(join()) == 1007


def test_unknown_agent_gets_an_error_frame(url: str, token: str) -> None:
    async def ask() -> dict[str, Any]:
        async with websockets.connect(ws_url(url, token)) as ws:
            await ws.send(json.dumps({"type": "create_room"}))
            chat_id = (await recv_json(ws))["data"]["chatId"]
            await ws.send(json.dumps({"type": "message", "chatId": chat_id, "text": "hi", "agent_id": "f" * 24}))
            return await recv_json(ws)

    frame = asyncio.run(ask())
    assert frame["type"] == "error"
    assert "agent" in frame["data"].lower()


def test_every_socket_registered_on_a_chat_gets_the_stream(url: str, token: str) -> None:
    async def two_tabs() -> tuple[dict[str, Any], list[str], dict[str, Any]]:
        async with websockets.connect(ws_url(url, token)) as first, websockets.connect(ws_url(url, token)) as second:
            await first.send(json.dumps({"type": "create_room"}))
            chat_id = (await recv_json(first))["data"]["chatId"]
            await second.send(json.dumps({"type": "join_room", "chatId": chat_id}))
            # join_room has no acknowledgement: a ping after it proves the server has processed it.
            await second.send(json.dumps({"type": "ping"}))
            assert await asyncio.wait_for(second.recv(), 5) == "pong"
            await first.send(
                json.dumps({"type": "message", "chatId": chat_id, "text": "hi", "agent_id": BUILTIN_AGENT})
            )
            assert (await recv_json(first))["type"] == "accepted"
            await read_answer(first)
            relayed = await recv_json(second)  # the other tab sees the message itself first
            return relayed, *await read_answer(second)

    relayed, chunks, last = asyncio.run(two_tabs())
    assert relayed["type"] == "user_message" and relayed["data"]["text"] == "hi"
    assert len(chunks) == 5
    assert last == {"type": "end"}


def test_first_token_delay_is_honoured() -> None:
    llm = LlmSettings(first_token=150, token_gap=1, chunks=2)
    with running_app(make_settings("blue", llm=llm)) as url:
        token = httpx.post(f"{url}/api/auth/admin/login", json={"username": USER, "password": PASSWORD}).json()["token"]

        async def ttft() -> float:
            async with websockets.connect(ws_url(url, token)) as ws:
                await ws.send(json.dumps({"type": "create_room"}))
                chat_id = (await recv_json(ws))["data"]["chatId"]
                start = time.perf_counter()
                await ws.send(
                    json.dumps({"type": "message", "chatId": chat_id, "text": "hi", "agent_id": BUILTIN_AGENT})
                )
                assert (await recv_json(ws))["type"] == "accepted"
                assert (await recv_json(ws))["type"] == "chunk"
                return time.perf_counter() - start

        elapsed = asyncio.run(ttft())
    assert 0.150 <= elapsed < 0.400


# -- chat REST -----------------------------------------------------------------------------------


def create_chat(url: str, token: str) -> str:
    async def create() -> str:
        async with websockets.connect(ws_url(url, token)) as ws:
            await ws.send(json.dumps({"type": "create_room", "name": "rest"}))
            return (await recv_json(ws))["data"]["chatId"]

    return asyncio.run(create())


def test_chat_history_rename_and_delete(url: str, http: httpx.Client, token: str) -> None:
    older, newer = create_chat(url, token), create_chat(url, token)
    history = http.get("/api/chat/history", headers=bearer(token)).json()
    ids = [c["_id"] for c in history]
    assert ids.index(newer) < ids.index(older)  # newest first
    renamed = http.post("/api/chat/update-name", json={"chat_id": older, "name": "renamed"}, headers=bearer(token))
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "renamed"
    other = login(http, OTHER_USER)
    assert http.get(f"/api/chat/history/{older}", headers=bearer(other)).status_code == 403
    deleted = http.delete(f"/api/chat/{older}", headers=bearer(token))
    assert deleted.json() == {"message": "Chat deleted successfully"}
    assert http.get(f"/api/chat/history/{older}", headers=bearer(token)).status_code == 404


# -- agents, collections, documents, uploads -----------------------------------------------------


def test_agents_crud_templates_use_and_rate(http: httpx.Client, token: str) -> None:
    auth = bearer(token)
    listed = http.get("/api/agents/", headers=auth).json()
    assert any(a["id"] == BUILTIN_AGENT and a["name"] == "General Assistant" for a in listed)
    assert http.get("/api/agents/templates").status_code == 200
    created = http.post("/api/agents/", json={"name": "Tutor", "modelId": "m1"}, headers=auth)
    assert created.status_code == 200
    agent = created.json()
    assert (agent["temperature"], agent["maxTokens"]) == (0.7, 4000)
    assert http.put(f"/api/agents/{agent['id']}", json={"name": "Tutor 2"}, headers=auth).json()["name"] == "Tutor 2"
    assert http.put(f"/api/agents/{agent['id']}", json={}, headers=auth).status_code == 400
    assert http.post(f"/api/agents/{agent['id']}/use", headers=auth).json() == {"message": "Usage count updated"}
    assert http.post(f"/api/agents/{agent['id']}/rate", params={"rating": 4}, headers=auth).status_code == 200
    assert http.post(f"/api/agents/{agent['id']}/rate", params={"rating": 9}, headers=auth).status_code == 422
    assert http.post("/api/agents/", json={"name": "no model"}, headers=auth).status_code == 422
    assert http.delete(f"/api/agents/{agent['id']}", headers=auth).status_code == 200
    assert http.get(f"/api/agents/{agent['id']}", headers=auth).status_code == 404


def test_collections_and_training_upload(http: httpx.Client, token: str) -> None:
    auth = bearer(token)
    created = http.post("/api/collections/", json={"name": "Blue Docs", "permission": "PRIVATE"}, headers=auth)
    assert created.status_code == 201
    collection_id = created.json()["id"]
    assert http.post("/api/collections/", json={"name": "Blue Docs"}, headers=auth).status_code == 400
    assert http.post("/api/collections/", json={"name": "x!"}, headers=auth).status_code == 400
    assert (
        http.post("/api/collections/", json={"name": "Okay", "permission": "SECRET"}, headers=auth).status_code == 422
    )
    text = ("word " * 500).encode()  # 2500 characters: three 1000/200 chunks
    uploaded = http.post(
        "/api/training/upload",
        files={"file": ("notes.txt", text, "text/plain")},
        data={"modelId": "m1", "collectionName": "Blue Docs"},
        headers=auth,
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["chunks"] == 3
    documents = http.get(f"/api/collections/{collection_id}/documents", params={"limit": 2}, headers=auth)
    assert len(documents.json()) == 2
    assert {"id", "text", "metadata"} <= set(documents.json()[0])
    assert collection_id in {c["id"] for c in http.get("/api/collections/", headers=auth).json()}
    other = login(http, OTHER_USER)
    assert http.get(f"/api/collections/{collection_id}/documents", headers=bearer(other)).status_code == 403
    assert http.delete(f"/api/collections/{collection_id}", headers=auth).status_code == 204


def test_upload_limit_is_400(http: httpx.Client, token: str) -> None:
    ok = http.post("/api/upload", files={"file": ("a.png", b"x" * 4096, "image/png")}, headers=bearer(token))
    assert ok.status_code == 200
    assert ok.json()["mediaType"] == "image/png"
    assert ok.json()["url"].endswith("/a.png")
    too_big = http.post("/api/upload", files={"file": ("b.png", b"x" * 4097, "image/png")}, headers=bearer(token))
    assert too_big.status_code == 400
    assert too_big.json()["detail"].startswith("File too large")


def test_default_upload_limit_message() -> None:
    with running_app(make_settings("blue")) as url, httpx.Client(base_url=url) as http:
        token = login(http)
        big = b"x" * (5 * 1024 * 1024 + 1)
        response = http.post("/api/upload", files={"file": ("big.bin", big)}, headers=bearer(token))
    assert (response.status_code, response.json()) == (400, {"detail": "File too large (max 5 MB)"})


def test_metrics_expose_process_and_request_series(http: httpx.Client, token: str) -> None:
    http.get("/api/chat/history/ffffffffffffffffffffffff", headers=bearer(token))
    text = http.get("/metrics").text
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text
    assert 'route="/api/chat/history/{chat_id}"' in text
    assert "reference_backend_realtime_connections" in text
    assert "reference_backend_active_streams" in text
