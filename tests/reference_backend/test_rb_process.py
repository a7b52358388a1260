"""The backend as a real child process: start, readiness, secrets, memory growth, stop."""

from __future__ import annotations

import json
import os
import re
import socket

import httpx
import pytest
from rb_helpers import PASSWORD, SECRET, USER, make_settings

from reference_backend.process import BackendStartError, settings_without_secrets, start_backend_process
from reference_backend.settings import FaultSettings

pytestmark = pytest.mark.e2e  # runs the CLI as a process, or starts servers

_RSS = re.compile(r"^process_resident_memory_bytes (\S+)$", re.MULTILINE)


def rss_bytes(url: str) -> float:
    match = _RSS.search(httpx.get(f"{url}/metrics").text)
    assert match is not None
    return float(match.group(1))


def test_settings_file_carries_no_secrets() -> None:
    text = json.dumps(settings_without_secrets(make_settings("green")))
    assert SECRET not in text
    assert PASSWORD not in text
    assert "jwt_secret" not in text
    assert "password" not in text


def test_start_and_stop_a_blue_process() -> None:
    settings = make_settings("blue")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOADBENCH_")}
    with start_backend_process(settings, env=environ) as backend:
        assert (backend.color, backend.url) == ("blue", f"http://127.0.0.1:{backend.port}")
        assert backend.pid > 0
        login = httpx.post(f"{backend.url}/api/auth/admin/login", json={"username": USER, "password": PASSWORD})
        assert login.status_code == 200  # the password reached the child through its environment
        assert "process_resident_memory_bytes" in httpx.get(f"{backend.url}/metrics").text
        config = backend.config_path.read_text()
        assert SECRET not in config
        assert PASSWORD not in config
    assert backend.process.returncode == 0  # a graceful stop on SIGTERM
    assert not backend.config_path.exists()
    assert SECRET not in backend.stderr_tail()
    assert PASSWORD not in backend.stderr_tail()


def test_memory_growth_shows_in_rss() -> None:
    faults = FaultSettings(memory_growth_kb_per_request=1024, paths=("/health",))
    with start_backend_process(make_settings("green", faults=faults), env=os.environ) as backend:
        before = rss_bytes(backend.url)
        with httpx.Client(base_url=backend.url) as http:
            for _ in range(48):
                assert http.get("/health").status_code == 200
        grown = rss_bytes(backend.url) - before
    assert grown >= 40 * 1024 * 1024


def test_a_child_that_cannot_listen_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings("blue", port=taken.getsockname()[1])
        with pytest.raises(BackendStartError, match="exited with code"):
            start_backend_process(settings, env=os.environ, ready_timeout_s=15)


def test_a_backend_does_not_outlive_the_run_that_started_it() -> None:
    """Its parent killed with SIGKILL (no cleanup ran), the backend stops by itself."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    starter = (
        "import os, time\n"
        "from reference_backend.process import start_backend_process\n"
        "from reference_backend.settings import BackendSettings\n"
        "env = {**os.environ, 'LOADBENCH_JWT_SECRET': 'x' * 32}\n"
        "backend = start_backend_process(BackendSettings(color='green'), env=env)\n"
        "print(backend.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert parent.stdout is not None
    backend_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    alive = True
    while alive and time.monotonic() < deadline:
        try:
            os.kill(backend_pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            alive = False
    if alive:
        os.kill(backend_pid, signal.SIGKILL)
    assert not alive
