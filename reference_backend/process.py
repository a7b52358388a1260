"""Run a reference backend as a child process, for the orchestrator and for tests.

Secrets reach the child only through its environment (``ENV_JWT_SECRET``, ``ENV_USER_PASSWORD``):
the config file it reads has them removed, and nothing here logs them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from reference_backend.settings import ENV_JWT_SECRET, ENV_USER_PASSWORD, BackendSettings, Color

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_POLL_S = 0.02
_STDERR_TAIL_LINES = 30


class BackendStartError(RuntimeError):
    """The backend process exited or did not become ready in time; the message has its stderr tail
    (``stderr_tail`` alone, for a caller that says it in one line)."""

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        super().__init__(f"{message}\n--- backend stderr (tail) ---\n{stderr_tail}" if stderr_tail else message)
        self.stderr_tail = stderr_tail


def settings_without_secrets(settings: BackendSettings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    data.pop("jwt_secret", None)
    data.get("users", {}).pop("password", None)
    return data


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::", "127.0.0.1"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class BackendProcess:
    """A running ``python -m reference_backend`` child. Stop it with ``stop()`` or a ``with`` block."""

    def __init__(self, color: Color, process: subprocess.Popen[bytes], port: int, host: str, workdir: Path) -> None:
        self.color = color
        self.process = process
        self.port = port
        self.url = f"http://{_url_host(host)}:{port}"
        self.config_path = workdir / "settings.json"  # what the child was started with (no secrets)
        self._workdir = workdir
        self._final_stderr: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr_tail(self, lines: int = _STDERR_TAIL_LINES) -> str:
        """The last lines the child wrote to stdout or stderr (kept after ``stop()``)."""
        if self._final_stderr is not None:
            return "\n".join(self._final_stderr.splitlines()[-lines:])
        return _tail(self._workdir / "stderr.log", lines)

    def stop(self, timeout_s: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code. Safe to call twice."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            return self.process.returncode
        finally:
            if self._final_stderr is None:
                self._final_stderr = _tail(self._workdir / "stderr.log", _STDERR_TAIL_LINES)
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> BackendProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_backend_process(
    settings: BackendSettings, *, env: Mapping[str, str], ready_timeout_s: float = 20.0
) -> BackendProcess:
    """Start a backend and return once ``GET /metrics`` answers 200.

    ``env`` is the child's base environment (typically ``os.environ``); the settings' secrets, when
    set, are added to it. Raises ``BackendStartError`` if the child exits or is not ready in time.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"loadbench-{settings.color}-"))
    config_path = workdir / "settings.json"
    config_path.write_text(json.dumps(settings_without_secrets(settings)))
    port_file = workdir / "port"
    child_env = dict(env)
    if secret := settings.jwt_secret.get_secret_value():
        child_env[ENV_JWT_SECRET] = secret
    if password := settings.users.password.get_secret_value():
        child_env[ENV_USER_PASSWORD] = password
    python_path = child_env.get("PYTHONPATH")
    child_env["PYTHONPATH"] = str(_PACKAGE_ROOT) + (os.pathsep + python_path if python_path else "")
    command = [
        sys.executable, "-m", "reference_backend", "--config", str(config_path), "--port-file", str(port_file),
        "--parent-pid", str(os.getpid()),  # it stops if whoever started it dies, even by SIGKILL
        "--workdir", str(workdir),  # and then removes this folder itself
    ]  # fmt: skip
    with open(workdir / "stderr.log", "wb") as stderr:
        # Its own session: a Ctrl-C in the terminal reaches the orchestrator only, which stops the
        # load first and the targets last, so the end of a run does not measure a dying server.
        process = subprocess.Popen(
            command, env=child_env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True
        )
    backend: BackendProcess | None = None
    try:
        deadline = time.monotonic() + ready_timeout_s
        port = _wait_for_port(process, port_file, deadline, workdir)
        backend = BackendProcess(settings.color, process, port, settings.host, workdir)
        _wait_for_http(backend, deadline)
        return backend
    except BaseException:
        if backend is not None:
            backend.stop(timeout_s=2)
        else:
            process.kill()
            process.wait()
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _failure(message: str, workdir: Path) -> BackendStartError:
    return BackendStartError(message, stderr_tail=_tail(workdir / "stderr.log", _STDERR_TAIL_LINES))


def _wait_for_port(process: subprocess.Popen[bytes], port_file: Path, deadline: float, workdir: Path) -> int:
    while True:
        if process.poll() is not None:
            raise _failure(f"the backend exited with code {process.returncode} before listening", workdir)
        try:
            text = port_file.read_text().strip()
        except FileNotFoundError:
            text = ""
        if text:
            return int(text)
        if time.monotonic() > deadline:
            raise _failure("the backend did not start listening in time", workdir)
        time.sleep(_POLL_S)


def _wait_for_http(backend: BackendProcess, deadline: float) -> None:
    with httpx.Client(timeout=2.0) as client:
        while True:
            if backend.process.poll() is not None:
                raise _failure(f"the backend exited with code {backend.process.returncode}", backend._workdir)
            try:
                if client.get(f"{backend.url}/metrics").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise _failure("the backend did not answer GET /metrics with 200 in time", backend._workdir)
            time.sleep(_POLL_S)
