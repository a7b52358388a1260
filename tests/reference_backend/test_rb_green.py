"""green's contract over real sockets: uvicorn on a free port, httpx and a real python-socketio client."""

from __future__ import annotations

import json
import queue
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import jwt
import pytest
import socketio
from rb_helpers import (
    BUILTIN_AGENT,
    OTHER_USER,
    PASSWORD,
    SECRET,
    SUPERADMIN,
    USER,
    SioRecorder,
    bearer,
    green_claims,
    make_settings,
    mint,
)

from reference_backend.settings import LlmSettings, user_id_for
from reference_backend.testing import running_app

Clients = Callable[[Iterable[str]], SioRecorder]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_app(make_settings("green", upload_max_bytes=4096, document_max_bytes=8192)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as client:
        yield client


def login(http: httpx.Client, username: str = USER, base: str = "/api") -> dict[str, Any]:
    response = http.post(f"{base}/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def token(http: httpx.Client) -> str:
    return login(http)["accessToken"]


def assert_nest_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["statusCode"] == status
    assert {"message", "timestamp", "path"} <= set(body)


# -- auth ----------------------------------------------------------------------------------------


def test_login_is_201_with_a_green_token_pair(http: httpx.Client) -> None:
    body = login(http)
    claims = jwt.decode(body["accessToken"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == user_id_for(USER)
    assert (claims["username"], claims["roles"]) == (USER, ["Admin"])
    assert 15 * 60 - 60 <= claims["exp"] - time.time() <= 15 * 60
    assert len(body["refreshToken"]) == 64
    int(body["refreshToken"], 16)
    assert body["user"]["username"] == USER


def test_wrong_password_is_201_with_an_error_body(http: httpx.Client) -> None:
    response = http.post("/api/auth/login", json={"username": USER, "password": "wrong"})
    assert (response.status_code, response.json()) == (201, {"error": "Invalid credentials"})
    assert_nest_error(http.post("/api/auth/login", json={"username": USER}), 400)
    assert_nest_error(http.post("/api/auth/login", json={"username": "", "password": "x"}), 400)


def test_refresh_rotates_and_keeps_the_claims(http: httpx.Client) -> None:
    first = login(http)
    rotated = http.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert rotated.status_code == 201
    pair = rotated.json()
    assert pair["refreshToken"] != first["refreshToken"]
    assert jwt.decode(pair["accessToken"], SECRET, algorithms=["HS256"])["username"] == USER
    reused = http.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert (reused.status_code, reused.json()) == (201, {"error": "Invalid refresh"})


def test_me_and_logout(http: httpx.Client, token: str) -> None:
    me = http.get("/api/auth/me", headers=bearer(token)).json()
    assert me == {"userId": user_id_for(USER), "username": USER, "roles": ["Admin"]}
    assert http.post("/api/auth/logout", headers=bearer(token)).json() == {"success": True}


def test_missing_forged_expired_and_wrong_role(http: httpx.Client, token: str) -> None:
    assert_nest_error(http.get("/api/chats"), 401)
    forged = mint(green_claims(), secret="another-secret-of-sufficient-length-000")
    assert_nest_error(http.get("/api/chats", headers=bearer(forged)), 401)
    assert_nest_error(http.get("/api/chats", headers=bearer(mint(green_claims(), ttl_s=-5))), 401)
    assert_nest_error(http.get("/api/admins/all", headers=bearer(token)), 403)
    superadmin = login(http, SUPERADMIN)["accessToken"]
    assert http.get("/api/admins/all", headers=bearer(superadmin)).status_code == 200
    student = mint(green_claims(roles=["Students"]))
    assert_nest_error(http.get("/api/stats", headers=bearer(student)), 403)
    for path in ("/api/stats", "/api/stats/total", "/api/stats/daily"):
        assert http.get(path, headers=bearer(token)).status_code == 200


def test_health_metrics_and_unknown_routes(http: httpx.Client) -> None:
    health = http.get("/health").json()
    assert health["status"] == "ok"
    assert "timestamp" in health
    detailed = http.get("/health/detailed").json()
    assert {"status", "uptime", "checks"} <= set(detailed)
    assert "process_resident_memory_bytes" in http.get("/metrics").text
    missing = http.get("/api/nothing-here")
    assert_nest_error(missing, 404)
    assert missing.json()["message"] == "Cannot GET /api/nothing-here"


# -- chats and the chat relay --------------------------------------------------------------------


def new_chat(http: httpx.Client, token: str, base: str = "/api") -> str:
    response = http.post(f"{base}/chats", json={"name": "load test"}, headers=bearer(token))
    assert response.status_code == 201
    return response.json()["_id"]


def test_chat_rest(http: httpx.Client, token: str) -> None:
    chat_id = new_chat(http, token)
    assert chat_id in [c["_id"] for c in http.get("/api/chats", headers=bearer(token)).json()]
    added = http.post(f"/api/chats/{chat_id}/messages", json={"content": "hi"}, headers=bearer(token))
    assert added.status_code == 201
    assert added.json()["messages"][0]["content"] == "hi"
    assert_nest_error(http.post("/api/chats", json={}, headers=bearer(token)), 400)
    stats = http.get(f"/api/chats/{chat_id}/memory/stats", headers=bearer(token))
    assert stats.status_code == 200 and stats.json()["messageCount"] == 1
    cleared = http.delete(f"/api/chats/{chat_id}/clear-memory", headers=bearer(token))
    assert (cleared.status_code, cleared.json()) == (200, {"status": "cleared"})
    assert http.get(f"/api/chats/{chat_id}/memory/stats", headers=bearer(token)).json()["messageCount"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/chats/{id}"), ("DELETE", "/api/chats/{id}"), ("POST", "/api/chat/update-name"),
     ("GET", "/api/collections/{id}"), ("POST", "/api/chats/{id}/pin")],
)  # fmt: skip
def test_green_has_no_route_its_controllers_lack(http: httpx.Client, token: str, method: str, path: str) -> None:
    # CONTRACT.md: the whole chat controller is list, create, messages, ask, clear-memory and memory
    # stats; there is no GET or DELETE of one chat, no rename and no pin (and no GET of one collection).
    chat_id = new_chat(http, token)
    response = http.request(method, path.format(id=chat_id), headers=bearer(token))
    assert_nest_error(response, 404)
    assert response.json()["message"] == f"Cannot {method} {path.format(id=chat_id)}"


def test_ask_streams_status_chunks_end_to_the_room(
    url: str, http: httpx.Client, token: str, sio_clients: Clients
) -> None:
    chat_id = new_chat(http, token)
    client = sio_clients(["stream", "joined-room"]).connect(url, auth={"token": token})
    connected = client.wait_for("connected")
    assert connected["userId"] == user_id_for(USER)
    assert connected["username"] == USER
    client.client.emit("join-room", {"chatId": chat_id})
    assert client.wait_for("joined-room")["chatId"] == chat_id
    accepted = http.post(f"/api/chats/{chat_id}/ask", json={"content": "hello"}, headers=bearer(token))
    assert (accepted.status_code, accepted.json()) == (201, {"status": "accepted", "channel": f"chat:{chat_id}"})
    payloads = [client.wait_for("stream")]
    while payloads[-1]["type"] not in ("end", "error"):
        payloads.append(client.wait_for("stream"))
    assert payloads[0] == {"type": "status", "data": {"status": "generating", "message": "Generating response..."}}
    assert [p["type"] for p in payloads[1:]] == ["chunk"] * 5 + ["end"]
    chat = next(c for c in http.get("/api/chats", headers=bearer(token)).json() if c["_id"] == chat_id)
    assert chat["messages"][-1]["content"] == "".join(p["data"] for p in payloads[1:-1])


def test_ping_is_answered_with_a_pong_event_and_no_acknowledgement(url: str, token: str, sio_clients: Clients) -> None:
    client = sio_clients(["pong"]).connect(url, auth={"token": token})
    client.wait_for("connected")
    with pytest.raises(socketio.exceptions.TimeoutError):
        client.client.call("ping", "hello", timeout=1)  # CONTRACT.md: no acknowledgement
    assert client.wait_for("pong") == "Pong: hello"


def test_a_guarded_event_on_a_socket_whose_token_expired_is_an_exception(url: str, sio_clients: Clients) -> None:
    # JwtWsGuard verifies the handshake token again on every event: once it has expired, Nest
    # refuses the call with an `exception` event. ping is not guarded.
    client = sio_clients(["exception", "joined-room", "pong"]).connect(
        url, auth={"token": mint(green_claims(), ttl_s=2)}
    )
    client.wait_for("connected")
    client.client.emit("join-room", {"chatId": "a" * 24})
    assert client.wait_for("joined-room")["chatId"] == "a" * 24
    time.sleep(3.1)  # the token's exp is in whole seconds
    client.client.emit("join-room", {"chatId": "b" * 24})
    refusal = client.wait_for("exception")
    assert (refusal["status"], refusal["message"]) == ("error", "Forbidden resource")
    assert refusal["cause"]["pattern"] == "join-room"
    client.client.emit("ping", "still")
    assert client.wait_for("pong") == "Pong: still"


def test_token_in_the_query_string_is_accepted(url: str, token: str, sio_clients: Clients) -> None:
    client = sio_clients([]).connect(f"{url}?token={token}")
    assert client.wait_for("connected")["status"] == "connected"


@pytest.mark.parametrize("auth", [{"token": "not-a-jwt"}, {}, {"token": "{expired}"}, {"token": "{stranger}"}])
def test_bad_token_is_a_connect_error(url: str, auth: dict[str, str], sio_clients: Clients) -> None:
    tokens = {"{expired}": mint(green_claims(), ttl_s=-5), "{stranger}": mint(green_claims("someone-else"))}
    auth = {k: tokens.get(v, v) for k, v in auth.items()}
    client = sio_clients([])
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(url, auth=auth)
    assert client.wait_for("connect_error") == {"message": "Authentication failed"}


def test_send_message_and_typing_reach_the_room(url: str, http: httpx.Client, token: str, sio_clients: Clients) -> None:
    chat_id = new_chat(http, token)
    other_token = login(http, OTHER_USER)["accessToken"]
    sender = sio_clients(["joined-room", "message", "message-sent"]).connect(url, auth={"token": token})
    listener = sio_clients(["joined-room", "message", "user-typing"]).connect(url, auth={"token": other_token})
    for client in (sender, listener):
        client.client.emit("join-room", {"chatId": chat_id})
        client.wait_for("joined-room")
    sender.client.emit("send-message", {"chatId": chat_id, "content": "hi all"})
    sent = sender.wait_for("message-sent")
    received = listener.wait_for("message")
    assert received["id"] == sent["messageId"]
    assert (received["content"], received["username"], received["chatId"]) == ("hi all", USER, chat_id)
    sender.client.emit("typing-start", {"chatId": chat_id})
    assert listener.wait_for("user-typing")["isTyping"] is True
    sender.client.emit("send-message", {"chatId": "bad", "content": "x"})
    assert sender.wait_for("error") == {"message": "Invalid chat ID"}


# -- agents --------------------------------------------------------------------------------------


def execute(http: httpx.Client, token: str, session_id: str, agent_id: str = BUILTIN_AGENT) -> httpx.Response:
    body = {"agentId": agent_id, "sessionId": session_id, "userId": user_id_for(USER), "message": "explain"}
    return http.post("/api/agents/execute-streaming", json=body, headers=bearer(token))


def test_execute_streaming_events(url: str, http: httpx.Client, token: str, sio_clients: Clients) -> None:
    session_id = "a" * 24
    events = ["stream-subscribed", "stream-start", "stream-chunk", "stream-complete", "stream-error"]
    client = sio_clients(events).connect(url, auth={"token": token})
    client.wait_for("connected")
    client.client.emit("subscribe-stream", {"sessionId": session_id})
    assert client.wait_for("stream-subscribed")["sessionId"] == session_id
    response = execute(http, token, session_id)
    assert response.status_code == 201
    started = response.json()
    assert started["status"] == "streaming"
    assert started["sessionId"] == session_id
    received = [client.next()]
    while received[-1][0] not in ("stream-complete", "stream-error"):
        received.append(client.next())
    names = [name for name, _ in received]
    assert names == ["stream-start"] + ["stream-chunk"] * 5 + ["stream-complete"]
    for _, envelope in received:
        assert {"sessionId", "executionId", "timestamp", "type", "data"} <= set(envelope)
        assert envelope["executionId"] == started["executionId"]
    chunks = [data["data"] for name, data in received if name == "stream-chunk"]
    assert chunks[-1]["accumulated"] == "".join(c["chunk"] for c in chunks)
    assert received[-1][1]["data"]["finalResponse"] == chunks[-1]["accumulated"]
    status = http.get(f"/api/agents/streaming-status/{session_id}", headers=bearer(token)).json()
    assert status == {"isActive": False, "session": None}
    assert_nest_error(execute(http, token, "not-an-id"), 400)


def test_cancel_streaming(sio_clients: Clients) -> None:
    llm = LlmSettings(first_token=10_000, token_gap=1, chunks=2)
    with running_app(make_settings("green", llm=llm)) as url, httpx.Client(base_url=url) as http:
        token = login(http)["accessToken"]
        session_id = "b" * 24
        client = sio_clients(["stream-subscribed", "stream-start", "stream-error"]).connect(url, auth={"token": token})
        client.client.emit("subscribe-stream", {"sessionId": session_id})
        client.wait_for("stream-subscribed")
        assert execute(http, token, session_id).json()["status"] == "streaming"
        client.wait_for("stream-start")
        status = http.get(f"/api/agents/streaming-status/{session_id}", headers=bearer(token)).json()
        assert status["isActive"] is True
        assert status["session"]["agentId"] == BUILTIN_AGENT
        cancelled = http.post(f"/api/agents/cancel-streaming/{session_id}", headers=bearer(token))
        assert (cancelled.status_code, cancelled.json()["sessionId"]) == (201, session_id)
        assert client.wait_for("stream-error")["data"]["code"] == "CANCELLED"
        assert http.get(f"/api/agents/streaming-status/{session_id}", headers=bearer(token)).json()["isActive"] is False
        client.close()


def test_agents_crud(http: httpx.Client, token: str) -> None:
    auth = bearer(token)
    created = http.post("/api/agents", json={"name": "Green Tutor", "modelId": "m"}, headers=auth)
    assert created.status_code == 201
    agent_id = created.json()["_id"]
    assert agent_id in [a["_id"] for a in http.get("/api/agents", headers=auth).json()]
    assert http.put(f"/api/agents/{agent_id}", json={"description": "d"}, headers=auth).json()["description"] == "d"
    assert http.delete(f"/api/agents/{agent_id}", headers=auth).status_code == 200
    assert_nest_error(http.get(f"/api/agents/{agent_id}", headers=auth), 404)
    assert_nest_error(http.post("/api/agents", json={}, headers=auth), 400)


# -- collections, documents, uploads -------------------------------------------------------------


def minimal_pdf(text: str, *, compress: bool) -> bytes:
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    if compress:
        stream = zlib.compress(stream)
    header = b"%PDF-1.4\n1 0 obj << /Length " + str(len(stream)).encode() + b" >>\nstream\n"
    return header + stream + b"\nendstream\nendobj\n%%EOF\n"


def test_collections_documents_and_search(http: httpx.Client, token: str) -> None:
    auth = bearer(token)
    created = http.post("/api/collections", json={"name": "Green Docs", "permission": "PRIVATE"}, headers=auth)
    assert created.status_code == 201
    collection_id = created.json()["_id"]
    assert_nest_error(http.post("/api/collections", json={"name": "Green Docs"}, headers=auth), 409)
    assert_nest_error(http.post("/api/collections", json={"name": "ab"}, headers=auth), 400)
    assert_nest_error(http.post("/api/collections", json={"name": "bad/name"}, headers=auth), 400)
    assert_nest_error(http.post("/api/collections", json={"name": "Fine", "extra": 1}, headers=auth), 400)

    def upload(name: str, content: bytes) -> httpx.Response:
        return http.post(f"/api/collections/{collection_id}/documents", files={"file": (name, content)}, headers=auth)

    cases = {
        "notes.txt": (b"photosynthesis converts light into chemical energy", "completed"),
        "data.json": (json.dumps({"topic": "mitochondria"}).encode(), "completed"),
        "plain.pdf": (minimal_pdf("Plain PDF about enzymes", compress=False), "completed"),
        "packed.pdf": (minimal_pdf("Compressed PDF about ribosomes", compress=True), "completed"),
        "broken.json": (b"{not json", "failed"),
        "empty.txt": (b"   ", "failed"),
        "program.exe": (b"MZ...", "failed"),
        "fake.pdf": (b"not a pdf", "failed"),
    }
    for name, (content, expected) in cases.items():
        response = upload(name, content)
        assert response.status_code == 201, name
        data = response.json()["data"]
        assert data["status"] == expected, (name, data)
        assert data["filename"] == name
    assert_nest_error(upload("huge.txt", b"x" * 8193), 413)

    documents = http.get(f"/api/collections/{collection_id}/documents", params={"limit": 10}, headers=auth).json()
    assert len(documents["data"]) == 4
    found = http.get(f"/api/collections/{collection_id}/search", params={"q": "ribosomes"}, headers=auth).json()
    assert found["data"]["totalResults"] == 1
    assert "ribosomes" in found["data"]["chunks"][0]["text"]
    assert "searchTime" in found["data"]
    assert http.delete(f"/api/collections/{collection_id}", headers=auth).json() == {"message": "Collection deleted"}


def test_upload_limit_is_413(http: httpx.Client, token: str) -> None:
    ok = http.post("/api/upload", files={"file": ("a.png", b"x" * 4096, "image/png")}, headers=bearer(token))
    assert ok.status_code == 201
    assert ok.json()["mediaType"] == "image/png"
    assert_nest_error(http.post("/api/upload", files={"file": ("b.png", b"x" * 4097)}, headers=bearer(token)), 413)


# -- dialect settings ----------------------------------------------------------------------------


def test_rest_base_v1_and_snake_events(sio_clients: Clients) -> None:
    settings = make_settings("green", rest_base="/api/v1", event_style="snake")
    with running_app(settings) as url, httpx.Client(base_url=url) as http:
        assert http.post("/api/auth/login", json={"username": USER, "password": PASSWORD}).status_code == 404
        token = login(http, base="/api/v1")["accessToken"]
        chat_id = new_chat(http, token, base="/api/v1")
        client = sio_clients(["joined_room", "joined-room", "pong", "stream"]).connect(url, auth={"token": token})
        client.wait_for("connected")
        client.client.emit("ping", 1)
        assert client.wait_for("pong") == "Pong: 1"
        client.client.emit("join_room", {"chatId": chat_id})
        assert client.wait_for("joined_room")["chatId"] == chat_id
        client.client.emit("join-room", {"chatId": chat_id})  # the kebab name means nothing here
        response = http.post(f"/api/v1/chats/{chat_id}/ask", json={"content": "hi"}, headers=bearer(token))
        assert response.status_code == 201
        types = [client.wait_for("stream")["type"]]
        while types[-1] != "end":
            types.append(client.wait_for("stream")["type"])
        assert types == ["status"] + ["chunk"] * 5 + ["end"]
        with pytest.raises(queue.Empty):
            client.wait_for("joined-room", timeout=0.1)
        client.close()
