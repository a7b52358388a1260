"""The bad-input battery: every case ends with a one-line reason and its documented exit code
(0 pass · 1 SLO failed · 2 usage/configuration · 3 invalid run · 4 infrastructure), never a
traceback, and within its timeout."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from battery_helpers import Result, assert_clean_failure, loadbench, loadbench_all

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers

GOOD = """\
version: 1
name: battery
duration_s: 4
users: 2
spawn_rate: 2
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.2]}
timeouts: {connect_s: 2, http_s: 2, exchange_s: 2, first_token_s: 3, complete_s: 3}
"""


def profile(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- profiles: exit 2 -----------------------------------------------------------------------------
PROFILE_CASES = {
    "malformed YAML": (GOOD + "mix: {ChatUser: 1\n", r"malformed YAML at line \d+"),
    "unknown top-level key": (GOOD + "userz: 3\n", r"userz: Extra inputs are not permitted"),
    "unknown nested key": (GOOD + "timeouts_extra: 1\n", r"timeouts_extra"),
    "wrong type": (GOOD.replace("users: 2", "users: many"), r"users: Input should be a valid integer"),
    "zero users": (GOOD.replace("users: 2", "users: 0"), r"users: Input should be greater than or equal to 1"),
    "negative users": (GOOD.replace("users: 2", "users: -5"), r"users: Input should be greater than or equal to 0"),
    "zero duration": (GOOD.replace("duration_s: 4", "duration_s: 0"), r"duration_s: Input should be greater than 0"),
    "zero spawn rate": (GOOD.replace("spawn_rate: 2", "spawn_rate: 0"), r"spawn_rate"),
    "unknown user class": (GOOD + "mix: {Chatter: 1}\n", r"unknown user class 'Chatter'"),
    "canary split not 100": (
        GOOD + "shape: {kind: canary, stages: [{duration_s: 2, blue: 80, green: 30}]}\n",
        r"blue \+ green must be 100",
    ),
    "unknown shape": (GOOD + "shape: {kind: wave}\n", r"shape"),
    "unknown SLO override": (GOOD + "slos: {override: {p95_everything: {threshold: 1}}}\n", r"p95_everything"),
    "not a mapping": ("- just\n- a list\n", r"expected a mapping"),
    "negative think time": (GOOD.replace("[0.1, 0.2]", "[-1, 0.2]"), r"think_time_s"),
    "bad REST base": (GOOD + "dialects: {green: {rest_base: api}}\n", r"rest_base"),
}


@pytest.fixture(scope="module")
def refused_profiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Result]]:
    """Every case of PROFILE_CASES run by its own process, a few at a time."""
    folder = tmp_path_factory.mktemp("profiles")
    commands = {}
    for number, (case, (text, _)) in enumerate(sorted(PROFILE_CASES.items())):
        path = profile(folder, text, name=f"p{number}.yaml")
        commands[case] = ["run", "--profile", path, "--out", str(folder / f"run-{number}")]
    return folder, loadbench_all(commands)


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_bad_profile(case: str, refused_profiles: tuple[Path, dict[str, Result]]) -> None:
    folder, results = refused_profiles
    result = results[case]
    assert_clean_failure(result, 2, PROFILE_CASES[case][1])
    assert not (folder / f"run-{sorted(PROFILE_CASES).index(case)}").exists()  # nothing started, nothing half-written
    assert len(result.reason) < 300


def test_unknown_profile_name() -> None:
    assert_clean_failure(loadbench("run", "--profile", "nope"), 2, r"unknown profile 'nope'; available: .*smoke")


def test_missing_profile_file(tmp_path: Path) -> None:
    assert_clean_failure(loadbench("run", "--profile", str(tmp_path / "gone.yaml")), 2, r"cannot read profile")


# -- flags and targets: exit 2 ------------------------------------------------------------------
def test_unknown_target_choice() -> None:
    assert_clean_failure(loadbench("run", "--target", "purple"), 2, r"Invalid value for '--target'")


def test_unknown_option() -> None:
    assert_clean_failure(loadbench("run", "--userz", "3"), 2, r"No such option")


def test_out_directory_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert_clean_failure(loadbench("run", "--out", str(tmp_path)), 2, r"exists and is not empty")


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        ("ftp://127.0.0.1:21", r"is not an http\(s\) URL"),
        ("http://10.20.30.40:5000", r"--allow-remote 10\.20\.30\.40"),
        ("http://admin:pw@127.0.0.1:5000", r"credentials in the environment"),
        ("http://127.0.0.1:99999", r"invalid port"),
    ],
)
def test_bad_urls(url: str, pattern: str) -> None:
    assert_clean_failure(loadbench("run", "--target", "green", "--green-url", url), 2, pattern)


def test_url_for_a_color_not_driven() -> None:
    result = loadbench("run", "--target", "green", "--blue-url", "http://127.0.0.1:8000")
    assert_clean_failure(result, 2, r"does not drive blue")


def test_remote_workers_cannot_reach_embedded_targets() -> None:
    assert_clean_failure(loadbench("run", "--remote-workers", "2"), 2, r"remote workers cannot reach")


def test_serve_on_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = loadbench("serve", "green", "--port", str(port), timeout=30)
    assert_clean_failure(result, 2, rf"cannot listen on 127\.0\.0\.1:{port}")


def test_serve_with_a_bad_rest_base() -> None:
    assert_clean_failure(loadbench("serve", "green", "--rest-base", "api", timeout=30), 2, r"rest_base")


def test_external_target_needs_the_password_in_the_environment(tmp_path: Path, stub) -> None:  # type: ignore[no-untyped-def]
    result = loadbench(
        "run", "--profile", profile(tmp_path, GOOD), "--target", "green", "--green-url", stub("html"),
        env={"LOADBENCH_USER_PASSWORD": ""},
    )  # fmt: skip
    assert_clean_failure(result, 2, r"set LOADBENCH_USER_PASSWORD")


def test_minting_needs_the_secret(tmp_path: Path, stub) -> None:  # type: ignore[no-untyped-def]
    text = GOOD + "auth: {mode: mint}\n"
    result = loadbench(
        "run", "--profile", profile(tmp_path, text), "--target", "green", "--green-url", stub("html"),
        env={"LOADBENCH_JWT_SECRET": "", "LOADBENCH_USER_PASSWORD": "x"},
    )  # fmt: skip
    assert_clean_failure(result, 2, r"set LOADBENCH_JWT_SECRET")


# -- unreachable: exit 4 -------------------------------------------------------------------------
def test_unreachable_target(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = loadbench(
        "run", "--profile", profile(tmp_path, GOOD), "--target", "green",
        "--green-url", f"http://127.0.0.1:{port}", "--out", str(tmp_path / "run"),
        env={"LOADBENCH_USER_PASSWORD": "x"},
    )  # fmt: skip
    assert_clean_failure(result, 4, rf"green target http://127\.0\.0\.1:{port} is unreachable")
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "partial"


# -- misbehaving targets: measured, judged, never a crash ------------------------------------------
MISBEHAVING = {"html": "error", "hang": "timeout", "close": "error", "midway": "error", "error": "error"}


@pytest.fixture(scope="module")
def misbehaved(tmp_path_factory: pytest.TempPathFactory, stub) -> tuple[Path, dict[str, Result]]:  # type: ignore[no-untyped-def]
    """A short run against each misbehaving stub, three runs at a time (they wait on the stubs more
    than they compute; their assertions are on outcomes, not on latencies)."""
    folder = tmp_path_factory.mktemp("misbehaving")
    good = profile(folder, GOOD)
    commands = {
        mode: ["run", "--profile", good, "--target", "green", "--green-url", stub(mode),
               "--out", str(folder / mode), "--no-report"]
        for mode in MISBEHAVING
    }  # fmt: skip
    return folder, loadbench_all(commands, at_once=3, env={"LOADBENCH_USER_PASSWORD": "x"})


@pytest.mark.parametrize(("mode", "outcome"), list(MISBEHAVING.items()))
def test_misbehaving_target_is_measured_not_fatal(
    mode: str, outcome: str, misbehaved: tuple[Path, dict[str, Result]]
) -> None:
    folder, results = misbehaved
    assert_clean_failure(results[mode], 1, r"auth_success|error_rate|availability")
    rows = [json.loads(line) for line in (folder / mode / "samples.jsonl").read_text().splitlines()]
    logins = {row["outcome"] for row in rows if row["name"] == "auth.login"}
    assert outcome in logins, logins
    assert not any(row["outcome"] == "ok" and row["name"] == "auth.login" for row in rows)


def test_wrong_credentials(tmp_path: Path, green) -> None:  # type: ignore[no-untyped-def]
    # The preflight refuses to start a run whose logins the target refuses: exit 2, what to change.
    args = ["run", "--profile", profile(tmp_path, GOOD), "--target", "green", "--green-url", green.url, "--no-report"]
    result = loadbench(*args, "--out", str(tmp_path / "stopped"), env={"LOADBENCH_USER_PASSWORD": "definitely-wrong"})
    assert_clean_failure(result, 2, r"preflight: green refused the login \(HTTP 201 body error: Invalid credentials\): "
                                    r"set LOADBENCH_USER_PASSWORD")  # fmt: skip
    assert not (tmp_path / "stopped" / "samples.jsonl").exists()
    # Without it, the run measures the refusals.
    out = tmp_path / "run"
    result = loadbench(*args, "--no-preflight", "--out", str(out), env={"LOADBENCH_USER_PASSWORD": "definitely-wrong"})
    assert_clean_failure(result, 1, r"auth_success")
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {row["outcome"] for row in rows if row["name"] == "auth.login"} == {"soft_failure"}  # 201 + error body


def test_forged_tokens_are_refused(tmp_path: Path, green) -> None:  # type: ignore[no-untyped-def]
    text = GOOD + "auth: {mode: mint}\n"
    args = ["run", "--profile", profile(tmp_path, text), "--target", "green", "--green-url", green.url, "--no-report"]
    env = {"LOADBENCH_JWT_SECRET": "not-the-server-secret-0123456789abcdef", "LOADBENCH_USER_PASSWORD": "x"}
    stopped = loadbench(*args, "--out", str(tmp_path / "stopped"), env=env)
    assert_clean_failure(stopped, 2, r"preflight: green refuses the tokens this run mints \(HTTP 401 on auth.me")
    out = tmp_path / "run"
    result = loadbench(*args, "--no-preflight", "--out", str(out), env=env)
    assert_clean_failure(result, 1, r"error_rate|connection_success")
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert not any(row["outcome"] == "ok" and row["name"] in ("chat.history", "chat.connect") for row in rows)


# -- run directories: exit 3 ----------------------------------------------------------------------
def test_check_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    assert_clean_failure(loadbench("check", str(tmp_path)), 3, r"manifest\.json is missing")


def test_check_a_path_that_does_not_exist(tmp_path: Path) -> None:
    assert_clean_failure(loadbench("check", str(tmp_path / "nope")), 2, r"is not a directory")


def test_check_a_corrupt_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    assert_clean_failure(loadbench("check", str(tmp_path)), 3, r"not readable JSON")


def test_check_a_newer_format(tmp_path: Path) -> None:
    manifest = {"format_version": 99, "run_id": "x", "profile_name": "p", "target_mode": "both", "started_at": "now"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert_clean_failure(loadbench("check", str(tmp_path)), 3, r"format version 99.*upgrade")


def test_check_a_manifest_of_the_wrong_shape(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 1, "status": "weird"}))
    assert_clean_failure(loadbench("check", str(tmp_path)), 3, r"does not match format version 1")


def test_a_full_disk_mid_run(tmp_path: Path) -> None:
    """Simulated with a file-size limit (RLIMIT_FSIZE): writes fail mid-run like on a full disk."""
    import resource
    import subprocess
    import sys

    from battery_helpers import ROOT

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "run"
    text = (
        GOOD.replace("duration_s: 4", "duration_s: 30")
        .replace("users: 2", "users: 6")
        .replace("spawn_rate: 2", "spawn_rate: 6")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.cli",
            "run",
            "--profile",
            profile(tmp_path, text),
            "--out",
            str(out),
            "--no-report",
        ],
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=150,
        cwd=ROOT,
    )
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "File too large" in proc.stderr  # the one-line reason names the failed write
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["exit_code"] == 4
    assert (out / "samples.jsonl").stat().st_size > 0  # what was measured before is kept
