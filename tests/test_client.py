"""PlatformClient against real reference backends over real sockets, both colors."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.client import PlatformClient, Timeouts
from loadtests.dialects import dialect_for
from loadtests.dialects.base import Credentials, Outcome
from loadtests.timing import Timer
from reference_backend.process import BackendProcess


class Hook:
    """Collects fired request events (stands in for Locust's events.request)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.events.append(kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["name"] == name]


def make_client(backend: BackendProcess, password: str, hook: Hook, **timeouts: float) -> PlatformClient:
    return PlatformClient(
        dialect=dialect_for(backend.color),
        base_url=backend.url,
        timer=Timer(hook, target=backend.color, user_class="ChatUser"),
        credentials=Credentials("loadbench-user-0001", password),
        timeouts=Timeouts(**timeouts),
    )


@pytest.fixture(params=["blue", "green"])
def backend(request: pytest.FixtureRequest) -> BackendProcess:
    return request.getfixturevalue(request.param)


def test_a_chat_turn_records_first_token_and_complete(backend: BackendProcess, pool_password: str) -> None:
    hook = Hook()
    client = make_client(backend, pool_password, hook)
    try:
        assert client.ensure_session()
        assert client.connect()
        chat = client.create_chat("test chat")
        assert chat.ok and chat.value is not None
        answer = client.ask(chat.value.chat_id, "hello there")
        assert answer.ok and answer.value
        assert client.ping().ok
        history = client.chat_history()
        assert history.ok and chat.value.chat_id in [c.chat_id for c in history.value or []]
        assert client.chat_exists(chat.value.chat_id).value is True
        assert client.me().ok and client.health().ok
        deleted = client.delete_chat(chat.value.chat_id)
        if backend.color == "blue":
            assert deleted is not None and deleted.ok
        else:  # green has no route that deletes (or reads) one chat: nothing is sent
            assert deleted is None and client.get_chat(chat.value.chat_id) is None
    finally:
        client.close()
    (first,) = hook.named("chat.first_token")
    (complete,) = hook.named("chat.complete")
    assert first["start_time"] == complete["start_time"]  # one start, two timing points
    # The backend waits 40 ms before the first chunk and 4 x 2 ms more before the end.
    assert 40 <= first["response_time"] < 400
    assert first["response_time"] + 6 <= complete["response_time"] < 800
    for event in hook.events:
        assert event["context"]["outcome"] == "ok", event
        assert event["context"]["target"] == backend.color
        assert event["response_time"] is not None and event["response_time"] > 0
    kinds = {e["name"]: e["context"]["kind"] for e in hook.events}
    assert kinds["chat.connect"] == dialect_for(backend.color).realtime_kind
    assert kinds["chat.history"] == "http"


def test_wrong_password_is_a_failed_login(backend: BackendProcess) -> None:
    hook = Hook()
    client = make_client(backend, "not-the-password", hook)
    assert not client.login()
    (event,) = hook.named("auth.login")
    expected = Outcome.SOFT_FAILURE if backend.color == "green" else Outcome.ERROR  # green: 201 + error body
    assert event["context"]["outcome"] == expected.value
    assert event["exception"] is not None
    assert "not-the-password" not in str(event["exception"])


@pytest.mark.parametrize("color", ["blue", "green"])
def test_missing_end_is_a_timeout_not_a_hang(color: str, start_backend, pool_password: str) -> None:
    backend = start_backend(color, faults={"drop_end_rate": 1.0})
    hook = Hook()
    client = make_client(backend, pool_password, hook, complete_s=1.0)
    try:
        assert client.ensure_session() and client.connect()
        chat = client.create_chat("never ends")
        assert chat.ok and chat.value is not None
        judged = client.ask(chat.value.chat_id, "hello")
    finally:
        client.close()
    assert judged.outcome is Outcome.TIMEOUT
    (first,) = hook.named("chat.first_token")
    (complete,) = hook.named("chat.complete")
    assert first["context"]["outcome"] == "ok"  # chunks still came
    assert complete["context"]["outcome"] == "timeout"
    assert complete["response_time"] is None  # not measured: no made-up latency


def test_unreachable_target_is_an_error_sample_not_an_exception(pool_password: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = Hook()
    client = PlatformClient(
        dialect=dialect_for("green"),
        base_url=f"http://127.0.0.1:{port}",
        timer=Timer(hook, target="green", user_class="ChatUser"),
        credentials=Credentials("u", pool_password),
        timeouts=Timeouts(connect_s=1, http_s=1),
    )
    assert not client.login()
    (event,) = hook.named("auth.login")
    assert event["context"]["outcome"] == "error"


def test_uploads_collections_and_the_limits(backend: BackendProcess, pool_password: str) -> None:
    from loadtests.dialects.base import Upload
    from loadtests.payloads import make_payload

    hook = Hook()
    client = make_client(backend, pool_password, hook)
    assert client.ensure_session()
    small = make_payload("png", 20_000)
    assert client.upload(Upload(small.filename, small.content, small.content_type)).ok
    limit = client.dialect.upload_limit_bytes
    big = make_payload("txt", limit + 1024)
    refused = client.upload(Upload(big.filename, big.content, big.content_type), over_limit=True)
    assert refused.outcome is Outcome.REFUSED
    collection = client.create_collection(f"loadbench test {backend.color} {id(client)}")
    assert collection.ok and collection.value is not None
    for fmt in client.dialect.document_formats:
        doc = make_payload(fmt, 5_000)
        judged = client.add_document(collection.value, Upload(doc.filename, doc.content, doc.content_type))
        assert judged.ok, (fmt, judged)
    assert client.list_documents(collection.value).ok
    searched = client.search(collection.value, "lecture")
    assert (searched is None) == (backend.color == "blue")  # blue has no search route
    assert searched is None or searched.ok
    assert client.list_collections().ok
    outcomes = {e["name"]: e["context"]["outcome"] for e in hook.events}
    assert outcomes["upload.file"] in ("ok", "refused")
    assert [e["context"]["outcome"] for e in hook.named("upload.file")] == ["ok", "refused"]
    assert hook.named("upload.file")[1]["exception"] is None  # an expected refusal is not a failure


def test_green_document_that_fails_processing_is_a_soft_failure(green: BackendProcess, pool_password: str) -> None:
    from loadtests.dialects.base import Upload

    hook = Hook()
    client = make_client(green, pool_password, hook)
    assert client.ensure_session()
    collection = client.create_collection(f"loadbench soft {id(client)}")
    assert collection.value is not None
    broken = Upload("broken.json", b"{not json", "application/json")
    judged = client.add_document(collection.value, broken)
    assert judged.outcome is Outcome.SOFT_FAILURE  # HTTP 201 with data.status "failed"


def test_agents_crud_and_a_streamed_run(backend: BackendProcess, pool_password: str) -> None:
    hook = Hook()
    client = make_client(backend, pool_password, hook)
    try:
        assert client.ensure_session() and client.connect()
        agent = client.create_agent("loadbench agent")
        assert agent.ok and agent.value is not None
        assert client.update_agent(agent.value.agent_id, "updated").ok
        listed = client.list_agents()
        assert listed.ok and agent.value.agent_id in [a.agent_id for a in listed.value or []]
        chat = client.create_chat("agent chat")
        assert chat.value is not None
        run = client.run_agent(agent.value.agent_id, chat.value.chat_id, "summarise the syllabus")
        assert run.ok and run.value, run
        assert client.delete_agent(agent.value.agent_id).ok
    finally:
        client.close()
    (first,) = hook.named("agent.first_token")
    (complete,) = hook.named("agent.run")
    assert first["start_time"] == complete["start_time"] and complete["response_time"] >= first["response_time"]
    assert complete["context"]["outcome"] == "ok"
    if backend.color == "green":
        assert hook.named("agent.execute") and hook.named("agent.status") and hook.named("agent.subscribe")


def test_admin_and_stats_need_and_get_the_right_role(backend: BackendProcess, pool_password: str) -> None:
    hook = Hook()
    admin = PlatformClient(
        dialect=dialect_for(backend.color),
        base_url=backend.url,
        timer=Timer(hook, target=backend.color, user_class="AdminReader"),
        credentials=Credentials("loadbench-user-superadmin", pool_password),
    )
    assert admin.ensure_session()
    dialect = admin.dialect
    for request in (dialect.admin_list(), dialect.stats_total(), dialect.stats_daily()):
        assert admin.admin(request).ok, request.name
    assert admin.admin(dialect.stats_range("2026-11-01", "2026-11-30")).ok
    plain = make_client(backend, pool_password, Hook())  # role Admin: no admin list (SuperAdmin only)
    assert plain.ensure_session()
    assert plain.admin(dialect.admin_list()).outcome is Outcome.ERROR
