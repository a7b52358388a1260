"""Serve one reference backend with uvicorn on a socket it binds itself."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from contract.lifeline import exit_backstop, watch_parent
from reference_backend.app import create_app
from reference_backend.settings import BackendSettings

BACKLOG = 4096
# Seconds uvicorn waits for open connections before cancelling them on shutdown; under the
# default 10 s stop timeout of BackendProcess, so a stop ends with SIGTERM rather than SIGKILL.
GRACEFUL_SHUTDOWN_S = 5


class NotifyingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_started`` once it listens, so nobody has to poll for it."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free port (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


KEEP_ALIVE_S = 75


def uvicorn_config(settings: BackendSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        loop="auto",
        http="auto",
        ws="auto",
        log_level="warning",
        # Access logs would print WebSocket URLs, and those carry ?token=: secrets are never logged.
        access_log=False,
        lifespan="on",
        backlog=BACKLOG,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # uvicorn's 5 s default closes idle keep-alive connections while a user thinks, and a
        # request sent on a connection closing at that instant fails in the client: a race the
        # real deployments do not have behind nginx (75 s), so the stand-in must not add it.
        timeout_keep_alive=KEEP_ALIVE_S,
        # WebSocket protocol pings: uvicorn sends one every 20 s, as the real blue (FastAPI on
        # uvicorn) does. The real green does not: Socket.IO on Node (the `ws` server) sends none,
        # Engine.IO's own heartbeat is its only ping. At 10,000 connections the extra 500 pings a
        # second cost the stand-in a fifth of its core and the swarm's generator half its idle CPU.
        ws_ping_interval=20.0 if settings.color == "blue" else None,
    )


def write_port_file(path: Path, port: int) -> None:
    """Write atomically, so a reader never sees a half-written number."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{port}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


ORPHAN_EXIT_S = 2  # an orphaned backend is gone within this (plus the watch's period)


def serve(
    settings: BackendSettings,
    *,
    port_file: Path | None = None,
    parent_pid: int | None = None,
    on_orphaned: Callable[[], None] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (uvicorn handles both), or until ``parent_pid`` goes away (then
    ``on_orphaned`` runs first). ``settings`` must carry its secrets."""
    sock = bind_socket(settings.host, settings.port)
    port = sock.getsockname()[1]

    def started() -> None:
        if port_file is not None:
            write_port_file(port_file, port)

    server = NotifyingServer(uvicorn_config(settings), started)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn installs its own handlers while it runs, and re-raises the signal after a graceful
    # shutdown once it has put these back: with them, a stop by SIGTERM exits 0 instead of dying by
    # the signal, and a signal that arrives before uvicorn's handlers are in place is not lost.
    in_main_thread = threading.current_thread() is threading.main_thread()  # else signals are not ours
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)} if in_main_thread else {}

    def orphaned(last_seen_alive: float) -> None:
        # Whoever started this backend is gone (even by SIGKILL): nobody measures a graceful end any
        # more, so connections are not waited for, and the kernel ends the process should the exit hang.
        exit_backstop(ORPHAN_EXIT_S)
        if on_orphaned is not None:
            on_orphaned()
        server.force_exit = True
        server.should_exit = True

    if parent_pid is not None:
        watch_parent(parent_pid, orphaned)
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
