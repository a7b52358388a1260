"""``loadbench probe``: the API-compatibility walk names every kind of planted difference.

Blue is walked once; each planted difference is a fresh green reference backend (in this process,
on a free loopback port) walked alone, and the report must exit 1 and name the difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from analysis import compat
from contract.knobs import Deviations, FaultSettings, LlmSettings
from loadtests.cli import main
from loadtests.dialects import dialect_for
from loadtests.dialects.base import Credentials
from loadtests.probe.run import ProbeTarget, compat_document, select, walk
from loadtests.probe.session import Accounts
from reference_backend.settings import BackendSettings, UserSeed
from reference_backend.testing import running_app

SECRET = "probe-test-secret-0123456789abcdef0123456789"
PASSWORD = "probe-test-password"
FAST = LlmSettings(first_token=5, token_gap=1, chunks=3)
# The expired-socket case waits 3 s for a token to expire: it is covered once, in the CLI test.
CASES = [case for case in select() if case.id != "chat.guard.expired_socket"]


def settings(color: str, **deviations: Any) -> BackendSettings:
    return BackendSettings(
        color=color,  # type: ignore[arg-type]
        jwt_secret=SecretStr(SECRET),
        users=UserSeed(count=5, password=SecretStr(PASSWORD)),
        llm=FAST,
        faults=FaultSettings(deviations=Deviations(**deviations)),
        gc_freeze_interval_s=0,
    )


def accounts() -> Accounts:
    import jwt

    return Accounts(
        Credentials("loadbench-user-0001", PASSWORD),
        Credentials("loadbench-user-0002", PASSWORD),
        Credentials("loadbench-user-superadmin", PASSWORD),
        sign=lambda claims: jwt.encode(claims, SECRET, algorithm="HS256"),
    )


def walked(color: str, **deviations: Any) -> tuple[ProbeTarget, dict[str, Any]]:
    with running_app(settings(color, **deviations)) as url:
        target = ProbeTarget(dialect_for(color), url, accounts(), {})
        return target, walk(target, CASES, timeout_s=1.0)  # a loopback stand-in answers in ms


@pytest.fixture(scope="module")
def blue_walk() -> tuple[ProbeTarget, dict[str, Any]]:
    return walked("blue")


def report(blue_walk: tuple[ProbeTarget, dict[str, Any]], **green_deviations: Any) -> dict[str, Any]:
    green_target, green_results = walked("green", **green_deviations)
    blue_target, blue_results = blue_walk
    targets = {"blue": blue_target, "green": green_target}
    document = compat_document(targets, {"blue": blue_results, "green": green_results}, CASES, mode="probe")
    return compat.with_summary(json.loads(json.dumps(document)))  # as it would be read back from disk


def test_the_reference_backends_keep_their_contracts(blue_walk: tuple[ProbeTarget, dict[str, Any]]) -> None:
    document = report(blue_walk)
    summary = document["summary"]
    assert summary["exit_code"] == 0 and summary["breaks"] == [], summary
    assert summary["failures"] == {"blue": [], "green": []}
    results = {case["id"]: case["results"] for case in document["cases"]}
    # CONTRACT.md's bold points, as the probe sees them
    assert results["chat.get"]["green"]["verdict"] == "absent"  # green has no GET chats/{id}
    assert results["chat.delete"]["green"]["verdict"] == "absent"  # nor DELETE chats/{id}
    assert results["chat.first_frame.ping"]["blue"]["event"] == "closed by peer with code 1007"
    assert "1008" in results["chat.join.other_user"]["blue"]["event"]
    assert results["auth.login.wrong_password"]["green"]["status"] == 201  # a refusal inside a 201
    assert results["upload.file.over_limit"]["blue"]["status"] == 400
    assert results["chat.connect.no_token"]["green"]["event"] == "handshake refused: Authentication failed"
    assert results["chat.connect.no_token"]["blue"]["event"] == "handshake refused with HTTP 403"
    # nothing secret is written: shapes hold types, not values
    text = json.dumps(document)
    assert PASSWORD not in text and SECRET not in text and "eyJ" not in text


PLANTED = {
    "route missing": (
        {"missing_routes": ("POST /chats/{chat_id}/ask",)},
        "chat.ask",
        "route missing: POST /api/chats/{id}/ask answered HTTP 404",
    ),
    "event missing": ({"missing_events": ("join-room",)}, "chat.join", "event missing: no Joined"),
    "field missing": ({"dropped_fields": ("GET /auth/me username",)}, "auth.me", "field missing: username"),
    "status": ({"status": {"POST /auth/login": 200}}, "auth.login", "status 200, contract 201"),
    "error format": ({"foreign_error_format": True}, "auth.me.no_token", "error format fastapi, contract nest"),
    "refreshed token without claims": (
        {"refresh_without_claims": True},
        "chat.connect.refreshed_token",
        "handshake refused: Authentication failed",
    ),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_planted_difference_breaks_the_report_and_is_named(
    blue_walk: tuple[ProbeTarget, dict[str, Any]], kind: str
) -> None:
    deviations, case_id, named = PLANTED[kind]
    summary = report(blue_walk, **deviations)["summary"]
    assert summary["exit_code"] == 1
    broken = [item for item in summary["breaks"] if item.startswith(case_id + ":")]
    assert broken and named in broken[0], summary["breaks"]


def test_a_refreshed_token_without_claims_is_named_as_greens_defect(
    blue_walk: tuple[ProbeTarget, dict[str, Any]],
) -> None:
    summary = report(blue_walk, refresh_without_claims=True)["summary"]
    assert any("auth.refresh" in d and "carries no `username` and `roles` claim" in d for d in summary["defects"])


@pytest.mark.e2e
def test_blues_password_hash_is_flagged_without_failing_green() -> None:
    blue_target, blue_results = walked("blue", hash_in_user_replies=True)
    green_target, green_results = walked("green")
    document = compat.with_summary(
        compat_document(
            {"blue": blue_target, "green": green_target},
            {"blue": blue_results, "green": green_results},
            CASES,
            mode="probe",
        )
    )
    summary = document["summary"]
    assert summary["exit_code"] == 0  # a defect of blue's: green breaks nothing
    assert "blue auth.me: secret-looking field password (bcrypt hash)" in summary["secrets"]
    assert any(item.startswith("blue auth.login: secret-looking field user.password") for item in summary["secrets"])
    assert "$2b$" not in json.dumps(document)  # named, never copied


def test_markdown_and_html_escape_what_the_target_sent() -> None:
    document = {
        "schema_version": 1,
        "targets": {"blue": {}, "green": {}},
        "cases": [
            {
                "id": "x|<script>",
                "title": "t",
                "results": {
                    "blue": {"verdict": "pass", "status": 200},
                    "green": {"verdict": "fail", "status": 500, "problems": ["failed: <b>boom</b>\n## heading"]},
                },
            }
        ],
    }
    text = compat.markdown(document)
    assert "<script>" not in text and "\n## heading" not in text and "x\\|&lt;script&gt;" in text
    html = compat.html_section(document)
    assert "<script>" not in html and "<b>boom" not in html


@pytest.mark.e2e
def test_probe_command_on_the_embedded_default_and_with_a_planted_route(tmp_path: Path) -> None:
    assert main(["probe", "--out", str(tmp_path / "clean")]) == 0
    document = json.loads((tmp_path / "clean" / "compat.json").read_text())
    assert document["schema_version"] == 1 and document["summary"]["exit_code"] == 0
    expired = next(case for case in document["cases"] if case["id"] == "chat.guard.expired_socket")
    assert expired["results"]["green"]["event"].startswith("exception: Forbidden resource")
    assert (tmp_path / "clean" / "compat.md").read_text().startswith("## API compatibility")
    planted = tmp_path / "planted.yaml"
    planted.write_text(
        "version: 1\nname: planted\nduration_s: 5\nusers: 1\nspawn_rate: 1\n"
        "reference_backend:\n  green:\n    faults:\n      deviations:\n"
        "        missing_routes: ['GET /collections/{collection_id}/search']\n"
    )
    assert main(["probe", "--profile", str(planted), "--out", str(tmp_path / "planted")]) == 1
    summary = json.loads((tmp_path / "planted" / "compat.json").read_text())["summary"]
    # a green-only route green lacks: blue does not fail it, so green breaks it
    assert summary["breaks"] == ["collection.search: route missing: GET /api/collections/{id}/search answered HTTP 404"]


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    yield
