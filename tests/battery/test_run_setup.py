"""Setting a run up: the run directory is claimed atomically, and what a user gets wrong before
anything starts (an ``--out`` that is a file, an absurd profile name, too low an open-file limit)
ends with exit 2 and one line, never a traceback."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from battery_helpers import ROOT, assert_clean_failure, loadbench

from loadtests.errors import ConfigError
from loadtests.recorder.rundir import RunDirectory

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers

SHORT = """\
version: 1
name: setup
duration_s: 3
users: 2
spawn_rate: 2
health_probe_s: 0.5
chat: {think_time_s: [0.1, 0.2]}
"""

ROUNDS = 40


def _create_in_rounds(barrier, looked, results: Path, queue) -> None:  # type: ignore[no-untyped-def]
    # The worst interleaving, every round: a caller that has found a name free waits until the
    # other caller has found it free too, before it creates. An atomic create never looks first.
    original_exists = Path.exists
    state = {"waited": False}

    def exists(self: Path, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        found = original_exists(self, *args, **kwargs)
        if self.parent == results and not found and not state["waited"]:
            state["waited"] = True
            with contextlib.suppress(threading.BrokenBarrierError):
                looked.wait(timeout=2)
        return found

    Path.exists = exists  # type: ignore[method-assign]  # in this forked child only
    for _ in range(ROUNDS):
        barrier.wait(timeout=20)
        state["waited"] = False
        try:
            made = RunDirectory.create(out=None, results_root=results, profile="race", target="both")
            queue.put(str(made.path))
        except ConfigError as error:
            queue.put(f"refused: {error}")


def _race(tmp_path: Path) -> list[list[str]]:
    """Two processes call ``RunDirectory.create`` at the same instant, ``ROUNDS`` times; the
    answers of each round."""
    context = multiprocessing.get_context("fork")
    barrier, looked = context.Barrier(2), context.Barrier(2)
    queue = context.Queue()
    results = tmp_path / "results"
    procs = [context.Process(target=_create_in_rounds, args=(barrier, looked, results, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    try:
        answers = [queue.get(timeout=60) for _ in range(2 * ROUNDS)]
    finally:
        for proc in procs:
            proc.join(timeout=30)
    return [sorted(answers[2 * index : 2 * index + 2]) for index in range(ROUNDS)]


def test_two_simultaneous_runs_never_share_a_generated_directory(tmp_path: Path) -> None:
    rounds = _race(tmp_path)
    made = [path for pair in rounds for path in pair]
    assert not [answer for answer in made if answer.startswith("refused")]
    assert len(set(made)) == len(made), f"{len(made) - len(set(made))} directories were handed out twice"


def _create_in_rounds_once(barrier, results: Path, out: Path, queue) -> None:  # type: ignore[no-untyped-def]
    barrier.wait(timeout=20)
    try:
        queue.put(str(RunDirectory.create(out=out, results_root=results, profile="race", target="both").path))
    except ConfigError as error:
        queue.put(f"refused: {error}")


def test_two_simultaneous_runs_with_the_same_out_one_is_refused(tmp_path: Path) -> None:
    """The same ``--out`` for two runs started together: one gets it, the other exit 2."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    queue = context.Queue()
    out = tmp_path / "shared"
    procs = [context.Process(target=_create_in_rounds_once, args=(barrier, tmp_path, out, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    answers = sorted(queue.get(timeout=60) for _ in range(2))
    for proc in procs:
        proc.join(timeout=30)
    assert answers[0] == str(out)
    assert answers[1].startswith("refused: --out") and "not empty" in answers[1]


# -- item 10: exit 2 and one line before anything starts ------------------------------------------
def test_out_naming_an_existing_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    result = loadbench("run", "--profile", "smoke", "--out", str(afile), timeout=60)
    assert_clean_failure(result, 2, r"--out .*afile is a file")
    assert afile.read_text() == "keep me\n"
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1


def test_a_5000_character_profile_name(tmp_path: Path) -> None:
    profile = tmp_path / "long.yaml"
    profile.write_text(SHORT.replace("name: setup", "name: " + "x" * 5000))
    result = loadbench("run", "--profile", str(profile), "--results", str(tmp_path / "results"), timeout=60)
    assert_clean_failure(result, 2, r"profile long: name: .*at most \d+ characters")
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1
    assert len(result.reason) < 300
    assert not (tmp_path / "results").exists()


def test_too_low_an_open_file_limit_says_so(tmp_path: Path) -> None:
    """``ulimit -n 12``: refused before anything starts, in one line that says what to change."""
    out = tmp_path / "run"
    command = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12))\n"
        "from loadtests.cli import main\n"
        f"sys.exit(main(['run', '--profile', 'smoke', '--out', {str(out)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, timeout=60, cwd=ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith("loadbench: ") and "too many open files" in lines[0] and "ulimit -n" in lines[0]
    assert not out.exists()  # nothing started, nothing half-written


def test_a_backend_that_runs_out_of_files_is_one_line() -> None:
    """Should a backend still die of it (the limit passed the check, the backend needed more), the
    reason is one line naming it, not the backend's traceback."""
    from loadtests.embedded import backend_failure_reason
    from reference_backend.process import BackendStartError

    tail = "Traceback (most recent call last):\n  File x\nOSError: [Errno 24] Too many open files\n"
    error = BackendStartError("the backend exited with code 1 before listening", stderr_tail=tail)
    reason = backend_failure_reason("blue", error)
    assert "\n" not in reason
    assert "too many open files" in reason and "ulimit -n" in reason


# -- item 8: auth mode mint against the embedded backends -----------------------------------------
MINT_SECRET = "mint-secret-from-the-profile-Xy7"


@pytest.mark.parametrize("source", ["secret_file", "secret_env"])
def test_minting_against_the_embedded_backends_uses_the_profiles_secret(source: str, tmp_path: Path) -> None:
    """The embedded backends verify tokens with the secret the profile names (file or variable),
    not a fresh one of their own: every minted token is accepted, the run passes."""
    env = {"LOADBENCH_JWT_SECRET": "another-secret-the-profile-does-not-name"}
    if source == "secret_file":
        secret_file = tmp_path / "jwt.secret"
        secret_file.write_text(MINT_SECRET + "\n")
        auth = f"auth: {{mode: mint, secret_file: {secret_file}}}\n"
    else:
        env["MY_JWT_SECRET"] = MINT_SECRET
        auth = "auth: {mode: mint, secret_env: MY_JWT_SECRET}\n"
    profile = tmp_path / "mint.yaml"
    # One SLO that a short run can decide: every request answered ok, on both colors.
    slos = (
        "slos: [{name: errors, metric: '*', statistic: error_rate, comparison: '<', threshold: 0.1, min_samples: 5}]\n"
    )
    profile.write_text(SHORT + auth + slos)
    out = tmp_path / "run"
    result = loadbench("run", "--profile", str(profile), "--out", str(out), "--no-report", env=env, timeout=120)
    assert result.code == 0, (result.stdout[-3000:], result.stderr[-2000:])
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {row["target"] for row in rows if row["outcome"] == "ok"} == {"blue", "green"}
    assert not [row for row in rows if row["outcome"] != "ok"]
    assert MINT_SECRET not in "".join(path.read_text(errors="replace") for path in out.rglob("*") if path.is_file())


def test_minting_with_an_unreadable_secret_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    profile = tmp_path / "mint.yaml"
    profile.write_text(SHORT + f"auth: {{mode: mint, secret_file: {tmp_path / 'missing.secret'}}}\n")
    out = tmp_path / "run"
    result = loadbench("run", "--profile", str(profile), "--out", str(out), timeout=60)
    assert_clean_failure(result, 2, r"cannot read the JWT secret file .*missing\.secret")
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1
    assert not out.exists()
