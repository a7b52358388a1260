"""The reference backend's parts on their own: documents, limiter, store, auth, LLM, lifespan."""

from __future__ import annotations

import asyncio
import gc
import io
import random
import zipfile
import zlib

import jwt
import pytest
from pydantic import SecretStr
from rb_helpers import PASSWORD, SECRET, USER, make_settings

from reference_backend.auth import RefreshTokens, TokenError, TokenIssuer, UserPool
from reference_backend.documents import DocumentError, chunk_text, extract_text
from reference_backend.faults import RateLimiter, mounted_at
from reference_backend.llm import LlmSimulator
from reference_backend.settings import (
    BUILTIN_AGENT_ID,
    Distribution,
    FaultSettings,
    LlmSettings,
    RateLimitRule,
    StorageLimits,
    UserSeed,
    user_id_for,
)
from reference_backend.state import build_state
from reference_backend.store import NameTakenError, Store, is_object_id


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- documents -----------------------------------------------------------------------------------


def test_chunks_are_1000_wide_and_overlap() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(2500))
    chunks = chunk_text(text, 1000, 200)
    assert [len(c) for c in chunks] == [1000, 1000, 900]
    assert chunks[0][-200:] == chunks[1][:200]
    assert chunk_text("short", 1000, 200) == ["short"]
    assert chunk_text("   ", 1000, 200) == []


def test_pdf_text_from_plain_and_compressed_streams() -> None:
    plain = b"%PDF-1.4\nstream\nBT (Hello \\(world\\)) Tj ET\nendstream\n"
    assert extract_text("a.pdf", plain) == "Hello (world)"
    packed = b"%PDF-1.7\nstream\n" + zlib.compress(b"BT (Packed) Tj ET") + b"\nendstream\n"
    assert "Packed" in extract_text("b.pdf", packed)
    with pytest.raises(DocumentError):
        extract_text("c.pdf", b"plain text")


def office_file(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_office_text_is_read_from_the_xml_inside_the_zip() -> None:
    docx = office_file({"word/document.xml": "<w:p><w:t>Cell &amp; membrane</w:t></w:p>"})
    assert extract_text("a.docx", docx) == "Cell & membrane"
    xlsx = office_file({"xl/sharedStrings.xml": "<sst><si><t>alpha</t></si><si><t>beta</t></si></sst>"})
    assert extract_text("b.xlsx", xlsx) == "alpha beta"
    with pytest.raises(DocumentError):
        extract_text("c.docx", b"not a zip")


def test_text_formats_must_decode_and_json_must_parse() -> None:
    assert extract_text("a.md", "# Títle".encode()) == "# Títle"
    with pytest.raises(DocumentError):
        extract_text("a.txt", b"\xff\xfe\xfa")
    with pytest.raises(DocumentError):
        extract_text("a.json", b"{nope")


# -- rate limiter --------------------------------------------------------------------------------


def test_mount_prefixes_match_whole_segments() -> None:
    assert mounted_at("/api/auth", "/api/auth")
    assert mounted_at("/api/auth", "/api/auth/login")
    assert not mounted_at("/api/auth", "/api/authx")
    assert mounted_at("/", "/anything")


def test_fixed_windows_reset_and_count_per_client() -> None:
    clock = FakeClock(600.0)
    limiter = RateLimiter((RateLimitRule(prefix="/api", limit=2, window_s=60),), clock=clock)
    decisions = [limiter.check("/api/x", "10.0.0.1") for _ in range(3)]
    assert [d.allowed for d in decisions if d] == [True, True, False]
    assert decisions[2] is not None
    assert decisions[2].reset_at == 660.0
    assert limiter.check("/api/x", "10.0.0.2").allowed  # another client has its own window
    assert limiter.check("/other", "10.0.0.1") is None
    clock.now = 660.0
    assert limiter.check("/api/x", "10.0.0.1").allowed  # a new window


def test_limiter_prunes_expired_windows() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter((RateLimitRule(prefix="/", limit=5, window_s=1),), clock=clock, max_keys=10)
    for n in range(11):
        limiter.check("/", f"client-{n}")
    clock.now = 5.0
    for n in range(12):  # passes the backed-off threshold of 22 keys: the stale windows go
        limiter.check("/", f"again-{n}")
    assert sorted(client for _, client, _ in limiter._counts) == sorted(f"again-{n}" for n in range(12))


# -- store ---------------------------------------------------------------------------------------


def test_store_evicts_the_oldest_chat_and_trims_messages() -> None:
    store = Store(StorageLimits(max_chats=2, max_messages_per_chat=3))
    first, second, third = (store.create_chat("u1", f"c{n}", None) for n in range(3))
    assert store.get_chat(first.id) is None
    assert [c.id for c in store.chats_of("u1")] == [third.id, second.id]
    for n in range(5):
        store.add_message(third, "user", f"m{n}")
    assert [m.content for m in third.messages] == ["m2", "m3", "m4"]
    assert is_object_id(third.id)
    assert not is_object_id("xyz")


def test_store_collections_are_unique_and_chunks_bounded() -> None:
    store = Store(StorageLimits(max_chunks_per_collection=3, max_chunks=4))
    docs = store.create_collection("Docs", "PUBLIC", "alice")
    with pytest.raises(NameTakenError):
        store.create_collection("Docs", "PRIVATE", "bob")
    store.add_document(docs, "a.txt", ["1", "2", "3", "4", "5"], failed=False)
    assert [c.text for c in store.chunks_of(docs.id)] == ["3", "4", "5"]
    more = store.create_collection("More", "PUBLIC", "alice")
    store.add_document(more, "b.txt", ["x", "y"], failed=False)
    assert len(store.chunks_of(docs.id)) + len(store.chunks_of(more.id)) == 4
    assert store.delete_collection(docs.id)
    assert store.collection_by_name("Docs") is None
    assert store.get_agent(BUILTIN_AGENT_ID) is not None


# -- auth ----------------------------------------------------------------------------------------


def test_tokens_check_signature_expiry_and_subject() -> None:
    clock = FakeClock(1_700_000_000.0)
    issuer = TokenIssuer(SECRET, 60, clock=clock)
    pool = UserPool(UserSeed(count=3, password=SecretStr(PASSWORD)))
    user = pool.get(USER)
    assert user is not None
    token = issuer.mint_green(user)
    with pytest.raises(TokenError, match="expired"):
        issuer.verify(token)  # minted 2023 by the fake clock, checked against the real time
    fresh = TokenIssuer(SECRET, 60)
    assert fresh.verify(fresh.mint_blue(user))["role"] == "Admin"
    with pytest.raises(TokenError):
        fresh.verify(jwt.encode({"sub": user.id, "exp": 2**40}, "x" * 40, algorithm="HS256"))
    with pytest.raises(TokenError):
        fresh.verify(jwt.encode({"exp": 2**40}, SECRET, algorithm="HS256"))
    with pytest.raises(TokenError):
        fresh.verify(jwt.encode({"sub": user.id, "exp": 2**40}, SECRET * 2, algorithm="HS512"))
    with pytest.raises(ValueError, match="empty"):
        TokenIssuer("", 60)


def test_user_pool_is_derived_from_the_seed() -> None:
    pool = UserPool(UserSeed(count=3, password=SecretStr(PASSWORD)))
    assert pool.get("loadbench-user-0003") is not None
    assert pool.get("loadbench-user-0004") is None
    assert pool.get("loadbench-user-3") is None
    superadmin = pool.get("loadbench-user-superadmin")
    assert superadmin is not None
    assert superadmin.role == "SuperAdmin"
    user = pool.get(USER)
    assert user is not None
    assert user.id == user_id_for(USER)
    assert pool.check_password(user, PASSWORD)
    assert not pool.check_password(user, PASSWORD + "x")
    assert len(list(pool)) == len(pool) == 4
    no_password = UserPool(UserSeed(count=1))
    assert not no_password.check_password(user, "")


def test_refresh_tokens_are_single_use_expiring_and_bounded() -> None:
    clock = FakeClock()
    tokens = RefreshTokens(ttl_s=10, max_tokens=2, clock=clock)
    user = UserPool(UserSeed(count=1)).get(USER)
    assert user is not None
    first, second, third = (tokens.issue(user) for _ in range(3))
    assert len(tokens) == 2
    assert tokens.consume(first) is None  # evicted
    assert tokens.consume(second) == user
    assert tokens.consume(second) is None  # spent
    clock.now += 11
    assert tokens.consume(third) is None  # expired


# -- LLM -----------------------------------------------------------------------------------------


def test_answer_plans_follow_the_settings() -> None:
    llm = LlmSettings(first_token=100, token_gap=Distribution(kind="uniform", low_ms=1, high_ms=3), chunks=4)
    plans = [LlmSimulator(llm, FaultSettings(), random.Random(3)).plan() for _ in range(2)]
    assert plans[0] == plans[1]  # seeded
    plan = plans[0]
    assert plan.first_token_s == pytest.approx(0.1)
    assert len(plan.chunks) == 4
    assert all(len(c.split()) == 3 for c in plan.chunks)
    assert all(0.001 <= g <= 0.003 for g in plan.gaps_s)
    assert plan.send_end
    faults = FaultSettings(drop_end_rate=1.0, stream_latency=Distribution(ms=50))
    dropped = LlmSimulator(llm, faults, random.Random(3)).plan()
    assert not dropped.send_end
    assert dropped.first_token_s == pytest.approx(0.15)


def test_deltas_stream_the_plan() -> None:
    simulator = LlmSimulator(LlmSettings(first_token=1, token_gap=1, chunks=3), FaultSettings(), random.Random(1))
    plan = simulator.plan()

    async def collect() -> list[str]:
        return [delta async for delta in simulator.deltas(plan)]

    assert "".join(asyncio.run(collect())) == plan.text


# -- lifespan ------------------------------------------------------------------------------------


def test_lifespan_freezes_the_heap_and_cancels_streams() -> None:
    state = build_state(make_settings("blue", gc_freeze_interval_s=0.01))

    async def lifetime() -> tuple[int, bool]:
        frozen_before = gc.get_freeze_count()
        async with state.running():
            stream = state.spawn(asyncio.sleep(3600))
            for _ in range(500):  # bounded wait for the first periodic freeze
                if gc.get_freeze_count() > frozen_before:
                    break
                await asyncio.sleep(0.01)
            froze = gc.get_freeze_count() > frozen_before
        return froze, stream.cancelled()

    try:
        assert asyncio.run(lifetime()) == (True, True)
        assert not state.tasks
    finally:
        gc.unfreeze()
