"""Run an app in this process on a free loopback port, for fast tests.

The server runs on a real OS thread with its own event loop, even when gevent has monkey-patched
the standard library (Locust does, and so do tests that import it): a patched "thread" is a
greenlet, and uvicorn's event loop would block every other greenlet while it waits for I/O.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from typing import Any

from reference_backend.server import NotifyingServer, uvicorn_config
from reference_backend.settings import BackendSettings

_STOP_TIMEOUT_S = 15.0


class ServerStartError(RuntimeError):
    pass


def _unpatched(module: str, name: str) -> Any:
    """The standard library's own ``module.name``, whether or not gevent has patched it."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_object_patched(module, name):
        return monkey.get_original(module, name)
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def running_app(settings: BackendSettings, *, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on a background thread; yield its base URL.

    Readiness is uvicorn's own ``started`` signal (no sleeps); the server is stopped on exit.
    ``settings`` must carry its secrets; ``host`` and ``port`` are ignored (127.0.0.1, a free port).
    """
    start_thread = _unpatched("_thread", "start_new_thread")
    allocate_lock = _unpatched("_thread", "allocate_lock")
    socket_class = _unpatched("socket", "socket")
    sock = socket_class()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = uvicorn_config(settings)
    config.timeout_graceful_shutdown = 2
    # Real locks, released from the server thread: one when it listens, one when it has ended.
    started, ended = allocate_lock(), allocate_lock()
    started.acquire()
    ended.acquire()
    server = NotifyingServer(config, started.release)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # includes uvicorn's SystemExit on a failed startup
            failure.append(exc)
        finally:
            if not server.started:
                started.release()
            ended.release()

    start_thread(run, ())
    try:
        if not started.acquire(timeout=start_timeout_s) or not server.started:
            raise ServerStartError(f"the {settings.color} backend did not start") from (failure or [None])[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        ended.acquire(timeout=_STOP_TIMEOUT_S)
        sock.close()
