"""Fast green: the tiny Node socket.io server of ``benchmarks/fast_green`` (its ``server.js`` says
what it speaks), built with npm on first use and run on a free loopback port, for the benchmarks
that must measure the generator rather than a Python server (``swarm_hold.py``,
``swarm_scale_out.py``)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FAST_GREEN = Path(__file__).resolve().parent / "fast_green"


def _free_port() -> int:
    # _harness.free_port's twin: importing _harness monkey-patches the process for gevent, which a
    # script that only starts fast green and loadbench must not do.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_fast_green() -> str | None:
    """Install fast green's dependencies on first use (``npm ci`` when the lock file is there).
    None when it can run; else why not, in one line."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"{'node' if node is None else 'npm'} not found on PATH"
    pinned = json.loads((FAST_GREEN / "package.json").read_text())["dependencies"]

    def installed(name: str) -> str | None:
        found = FAST_GREEN / "node_modules" / name / "package.json"
        return json.loads(found.read_text()).get("version") if found.exists() else None

    if all(installed(name) == version for name, version in pinned.items()):
        return None
    verb = "ci" if (FAST_GREEN / "package-lock.json").exists() else "install"
    command = [npm, verb, "--no-audit", "--no-fund"]
    print(f"· fast green: npm {verb} in {FAST_GREEN}", flush=True)
    try:
        done = subprocess.run(command, cwd=FAST_GREEN, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"npm {verb} failed: {error}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"npm {verb} exited with {done.returncode}: {tail[0][:200]}"
    return None


@contextmanager
def fast_green(ready_timeout_s: float = 30.0, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``node server.js PORT WORKERS`` on a free loopback port; yields (url, pid) once it printed
    its ready line and answers ``GET /health``. Always stopped at the end; it also exits by itself
    if this process dies (its stdin is our pipe), and its workers with it."""
    import httpx

    port = _free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            ["node", "server.js", str(port), str(workers)], cwd=FAST_GREEN, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, start_new_session=True,
        )  # fmt: skip
        try:
            line: list[bytes] = []
            reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
            reader.start()
            reader.join(timeout=ready_timeout_s)
            url = f"http://127.0.0.1:{port}"
            if not line or not line[0].decode(errors="replace").strip().endswith(url):
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-1:] or ["nothing on stderr"]
                raise RuntimeError(f"fast green did not start (exit {proc.poll()}): {tail[0][:200]}")
            deadline = time.monotonic() + ready_timeout_s
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("fast green printed its ready line but /health did not answer 200")
                time.sleep(0.05)
            yield url, proc.pid
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
