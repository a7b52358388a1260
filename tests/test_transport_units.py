"""The real-time plumbing both connection layers share (``loadtests.transport.wire``) and the one
classification of a failed connect (``loadtests.transport.errors``): no sockets."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import socketio
import websocket

from loadtests.dialects.base import Outcome, SioEvent, WsText
from loadtests.transport.base import TransportClosed
from loadtests.transport.errors import ConnectFailed, TransportError, classify
from loadtests.transport.wire import (
    NO_WS_REDIRECTS,
    sio_client_options,
    sio_event,
    sio_refusal,
    ws_item,
    ws_url,
)


def test_a_refused_handshake_reads_the_same_on_every_path() -> None:
    # green: the server's connect_error message; blue: the status it answered instead of the upgrade
    namespaces = socketio.exceptions.ConnectionError("One or more namespaces failed to connect: /")
    green = classify(namespaces, server_refusal=sio_refusal({"message": "Authentication failed"}))
    assert str(green) == "handshake refused: Authentication failed"  # the server's words, not the library's
    assert (green.kind, green.refused, green.timed_out, green.outcome) == ("auth", True, False, Outcome.ERROR)
    assert green.reason == "auth: handshake refused: Authentication failed"  # the swarm's sample reason
    blue = classify(websocket.WebSocketBadStatusException("denied", 403))
    assert str(blue) == "handshake refused with HTTP 403" and blue.refused and blue.kind == "auth"
    assert isinstance(blue, TransportError) and isinstance(blue, ConnectFailed)


def test_only_the_servers_refusal_counts_as_one() -> None:
    assert sio_refusal("Connection error") is None  # the library reporting a transport failure
    assert sio_refusal({"message": ""}) == "no reason given"
    failed = classify(socketio.exceptions.ConnectionError("Connection error"), server_refusal=None)
    assert failed.kind == "protocol" and not failed.refused


def test_timeouts_are_timeouts_whoever_says_so() -> None:
    for error in (
        TimeoutError(),
        websocket.WebSocketTimeoutException("x"),
        socketio.exceptions.ConnectionError("timed out"),
    ):
        failed = classify(error)
        assert failed.kind == "timeout" and failed.timed_out and failed.outcome is Outcome.TIMEOUT, error


def test_frames_urls_and_events() -> None:
    assert ws_item(websocket.ABNF.OPCODE_TEXT, b"pong") == WsText("pong")
    assert ws_item(websocket.ABNF.OPCODE_CLOSE, (1007).to_bytes(2, "big")) == TransportClosed(
        "closed by peer with code 1007"
    )
    assert ws_item(websocket.ABNF.OPCODE_CLOSE, b"") == TransportClosed("closed by peer with code 1005")
    assert ws_item(websocket.ABNF.OPCODE_BINARY, b"\x00") is None
    assert ws_url("https://h:8443/x", "/ws", {"token": "t"}) == "wss://h:8443/ws?token=t"
    assert ws_url("http://h:8000", "/api/chat/ws", {}) == "ws://h:8000/api/chat/ws"
    assert sio_event("pong", ("p1",)) == SioEvent("pong", "p1")
    assert sio_event("many", (1, 2)) == SioEvent("many", [1, 2]) and sio_event("none", ()) == SioEvent("none", None)


def test_every_socketio_client_refuses_redirects_and_reconnects_never() -> None:
    for options in (sio_client_options(), sio_client_options(skip_utf8_validation=True)):
        assert options["reconnection"] is False
        assert options["websocket_extra_options"]["redirect_limit"] == NO_WS_REDIRECTS["redirect_limit"] == 0


# -- the packages' public surfaces --------------------------------------------------------------


@pytest.mark.parametrize("package", ["loadtests.transport", "loadtests.swarm"])
def test_a_lazy_surface_names_each_export_once_and_resolves_it_from_its_owner(package: str) -> None:
    module = importlib.import_module(package)
    owners = {name: owner for owner, names in module.EXPORTS.items() for name in names}
    assert sorted(module.__all__) == sorted(owners) and len(owners) == sum(map(len, module.EXPORTS.values()))
    for name in module.__all__:
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{owners[name]}"), name), name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", ["loadtests.dialects", "loadtests.dialects.base", "loadtests.dialects.steps",
                                     "loadtests.dialects.events", "loadtests.dialects.judging"])  # fmt: skip
def test_every_name_a_dialect_module_exports_exists(package: str) -> None:
    module = importlib.import_module(package)
    assert all(hasattr(module, name) for name in module.__all__)


@pytest.mark.e2e
def test_the_surfaces_import_no_io_stack() -> None:
    # The orchestrator imports transport.errors (through the probe) and the profile swarm.settings:
    # neither may pull in Locust (it patches the standard library) or a socket library.
    code = (
        "import sys, loadtests.transport, loadtests.transport.errors, loadtests.transport.base, "
        "loadtests.swarm, loadtests.swarm.settings, loadtests.chat_socket; "
        "print(sorted(m for m in ('locust', 'gevent', 'socketio', 'websocket') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
