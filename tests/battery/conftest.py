from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STUB = Path(__file__).with_name("stub_server.py")


@pytest.fixture(scope="session")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # type: ignore[type-arg]
    """``stub(mode)`` → URL of a misbehaving target process (see stub_server.py)."""
    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    folder = tmp_path_factory.mktemp("stubs")

    def start(mode: str) -> str:
        if mode not in started:
            port_file = folder / f"{mode}.port"
            proc = subprocess.Popen([sys.executable, str(STUB), mode, str(port_file)])
            deadline = time.monotonic() + 20
            while not port_file.exists():
                assert time.monotonic() < deadline and proc.poll() is None, "stub did not start"
                time.sleep(0.02)
            started[mode] = (proc, f"http://127.0.0.1:{port_file.read_text().strip()}")
        return started[mode][1]

    yield start
    for proc, _ in started.values():
        proc.kill()
        proc.wait()
