"""The swarm's pure parts: fan-out steps of both dialects, markers and rooms, back-off, failure
classification, the connection gauge, and the preflight's refusals."""

from __future__ import annotations

import errno
import json
import resource
import time
from pathlib import Path

import pytest
import websocket

from loadtests.cli import main
from loadtests.dialects import dialect_for
from loadtests.dialects.base import RoomCreated, RoomMessage, SioEvent, WsText
from loadtests.errors import ConfigError
from loadtests.recorder.rows import ConnectionsRow
from loadtests.swarm import preflight
from loadtests.swarm.connection import classify
from loadtests.swarm.gauge import ConnectionGauge, HeldSums
from loadtests.swarm.rooms import Marker, RoomBook, decode_marker, encode_marker
from loadtests.swarm.settings import ReconnectSettings

# -- dialects ---------------------------------------------------------------------------------


def test_blue_has_no_fan_out_and_opens_sockets_with_a_chat() -> None:
    # CONTRACT.md: blue never relays a user's message (no user_message frames), and a socket's first
    # frame must open a chat: the swarm opens each blue socket with its account's chat.
    blue = dialect_for("blue")
    assert blue.room_create("room 1") is None and blue.room_send("a" * 24, "lbfo1 x 1 2.0") is None
    relay = WsText(json.dumps({"type": "user_message", "data": {"chatId": "c", "text": "hello"}}))
    assert blue.decode(relay) is None
    assert blue.opening_required
    join = blue.open_chat("a" * 24, first=True)
    assert join is not None and json.loads(join.send.text) == {"type": "join_room", "chatId": "a" * 24}  # type: ignore[union-attr]
    create = blue.create_chat("swarm")
    assert create.until is RoomCreated and json.loads(create.send.text)["type"] == "create_room"  # type: ignore[union-attr]


@pytest.mark.parametrize("style", ["kebab", "snake"])
def test_green_fan_out_needs_no_room_and_uses_the_configured_event_names(style: str) -> None:
    from loadtests.dialects.options import DialectOptions

    green = dialect_for("green", DialectOptions(event_style=style))
    assert green.room_create("room 1") is None
    send = green.room_send("c" * 24, "text")
    assert send.send == SioEvent(
        "send-message" if style == "kebab" else "send_message", {"chatId": "c" * 24, "content": "text"}
    )
    assert green.decode(SioEvent("message", {"chatId": "c", "content": "hi"})) == RoomMessage("hi", "c")


# -- markers and rooms ------------------------------------------------------------------------


def test_marker_round_trips_and_rejects_other_text() -> None:
    marker = Marker("1f.7", 123456789, 1700000000.25)
    assert decode_marker(encode_marker(marker)) == marker
    assert decode_marker("hello there") is None
    assert decode_marker("lbfo1 id notanumber 1.0") is None


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_room_book_completes_expires_and_cancels_deliveries() -> None:
    clock = _Clock()
    book = RoomBook(room_size=3, max_rooms=2, timeout_s=5, clock=clock)
    seats = [book.seat(i) for i in range(7)]
    assert [s is not None and s.sender for s in seats[:6]] == [True, False, False, True, False, False]
    assert seats[6] is None  # beyond max_rooms
    room = seats[0].room  # type: ignore[union-attr]
    assert room.chat_id is not None and len(room.chat_id) == 24
    sender, a, b = object(), object(), object()
    assert book.start(room, sender, 1.0) is None  # nobody joined yet
    for member in (sender, a, b):
        assert book.joined(room, member, room.chat_id)
    first = book.start(room, sender, 1.0)
    assert first is not None
    assert book.received(first.msg_id, a, first.sent_ns + 10) is None
    assert book.received(first.msg_id, a, first.sent_ns + 20) is None  # counted once
    assert book.received(first.msg_id, object(), first.sent_ns + 25) is None  # joined later: not waited for
    done = book.received(first.msg_id, b, first.sent_ns + 30)
    assert done is not None and done.last_ns == first.sent_ns + 30  # the later of the two arrivals
    second = book.start(room, sender, 2.0)
    assert second is not None and book.received(second.msg_id, a, second.sent_ns + 5) is None
    clock.now += 6
    (expired,) = book.expire()
    assert (expired.expected, expired.received) == (2, 1) and book.is_expired(second.msg_id)
    third = book.start(room, sender, 3.0)
    assert third is not None and book.cancel(third.msg_id) and not book.cancel(third.msg_id)
    assert not book.joined(room, a, "e" * 24)  # a chat that is not the room's


def test_reconnect_delay_grows_is_capped_and_jittered() -> None:
    policy = ReconnectSettings(delay_s=1, max_delay_s=5, randomization=0.5)
    assert [policy.delay(n, 0) for n in range(5)] == [1, 2, 4, 5, 5]
    assert policy.delay(0, -1) == 0.5 and policy.delay(0, 1) == 1.5


# -- failures ---------------------------------------------------------------------------------


def _raised_inside(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception:
            raise outer  # noqa: B904 (the libraries do this: the cause is in __context__)
    except Exception as error:
        return error


def test_connect_failures_are_classified_through_the_cause_chain() -> None:
    import socketio

    refused = _raised_inside(socketio.exceptions.ConnectionError("Connection error"), ConnectionRefusedError(111, "x"))
    assert classify(refused).kind == "refused"
    assert classify(websocket.WebSocketBadStatusException("denied", 403)).kind == "auth"
    assert classify(websocket.WebSocketBadStatusException("oops", 502)).kind == "protocol"
    assert classify(TimeoutError("timed out")).kind == "timeout"
    assert classify(TimeoutError()).outcome.value == "timeout"
    assert classify(OSError(errno.EMFILE, "Too many open files")).kind == "resource"
    refusal = socketio.exceptions.ConnectionError("One or more namespaces failed to connect: /")
    assert classify(refusal, server_refusal="Authentication failed").kind == "auth"
    assert classify(ValueError("odd")).kind == "other"


# -- gauge ------------------------------------------------------------------------------------


def test_gauge_rows_carry_open_peak_low_and_counters() -> None:
    gauge = ConnectionGauge("green", "SwarmUser")
    assert gauge.rotate(0, 1, "local") is None  # never active: no row
    for _ in range(3):
        gauge.opened()
    gauge.dropped()
    gauge.failed("refused")
    gauge.opened()
    gauge.reconnected()
    gauge.closed()
    row = gauge.rotate(1, 2, "local")
    assert row is not None
    assert (row.open, row.peak, row.low, row.opened, row.closed, row.dropped, row.reconnected) == (2, 3, 0, 4, 1, 1, 1)
    assert row.failures == {"refused": 1}
    again = gauge.rotate(2, 3, "local")
    assert again is not None and (again.open, again.peak, again.low, again.opened) == (2, 2, 2, 0)


# -- preflight --------------------------------------------------------------------------------

LIMITS = preflight.HostLimits(nofile_soft=1024, nofile_hard=20_000, port_range=(32768, 60999), available_bytes=8 << 30)


def test_preflight_accepts_ten_thousand_on_one_process_and_one_server() -> None:
    plan = preflight.SwarmPlan(per_target={"green": 10_000}, processes=1, embedded=("green",))
    report = preflight.check(plan, LIMITS)
    assert report.files_needed == 10_000 + preflight.FD_OVERHEAD
    assert report.memory_needed_bytes < LIMITS.available_bytes


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        (preflight.SwarmPlan({"green": 30_000}, processes=1), ["30000 connections per Locust process", "--workers 2"]),
        (preflight.SwarmPlan({"green": 25_000}, processes=2, embedded=("green",)), ["embedded green backend", "20000"]),
        (preflight.SwarmPlan({"blue": 27_000}, processes=2), ["local ports", "32768-60999"]),
        (preflight.SwarmPlan({"blue": 10_000, "green": 10_000}), ["20000 connections per Locust process"]),
    ],
)
def test_preflight_refuses_what_this_machine_cannot_hold(plan: preflight.SwarmPlan, words: list[str]) -> None:
    with pytest.raises(ConfigError) as refused:
        preflight.check(plan, LIMITS)
    message = str(refused.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_preflight_counts_each_source_address_s_ports_and_only_this_machine_s_share() -> None:
    over_one_range = preflight.SwarmPlan({"green": 30_000}, processes=2)
    with pytest.raises(ConfigError, match=r"swarm\.source_addresses"):
        preflight.check(over_one_range, LIMITS)
    two_sources = preflight.SwarmPlan({"green": 30_000}, processes=2, sources=("127.0.0.1", "127.0.0.2"))
    assert preflight.check(two_sources, LIMITS).files_needed == 15_000 + preflight.FD_OVERHEAD
    # two local workers of four: this machine opens half of the 40,000
    half_here = preflight.SwarmPlan({"green": 40_000}, processes=4, local_processes=2)
    assert preflight.check(half_here, LIMITS).memory_needed_bytes == 20_000 * 25 * 1024
    with pytest.raises(ConfigError, match="40000 connections from this machine"):
        preflight.check(preflight.SwarmPlan({"green": 40_000}, processes=4), LIMITS)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("10.255.255.254", ["10.255.255.254", "loopback target"]),
        ("192.0.2.7", ["192.0.2.7", "not this machine's"]),  # TEST-NET-1: never assigned here
        ("127.0.0.2", ["127.0.0.2", "another machine"]),
    ],
)
def test_preflight_refuses_a_source_address_that_cannot_work(source: str, words: list[str]) -> None:
    plan = preflight.SwarmPlan({"green": 100}, sources=(source,), loopback_targets=source.startswith("10."))
    with pytest.raises(ConfigError) as refused:
        preflight.check(plan, LIMITS)
    assert all(word in str(refused.value) for word in words), str(refused.value)


def test_preflight_refuses_more_memory_than_is_available() -> None:
    small = preflight.HostLimits(20_000, 20_000, (32768, 60999), available_bytes=100 << 20)
    with pytest.raises(ConfigError, match="GiB"):
        preflight.check(preflight.SwarmPlan({"green": 5_000}, embedded=("green",)), small)


def test_preflight_plan_follows_the_mix_and_the_targets() -> None:
    plan = preflight.plan_for(
        users=1000,
        mix={"SwarmUser": 3, "ChatUser": 1},
        target_weights={"blue": 1, "green": 1},
        processes=0,
        embedded=(),
    )
    assert plan is not None and plan.per_target == {"blue": 375, "green": 375} and plan.processes == 1
    assert (
        preflight.plan_for(users=10, mix={"ChatUser": 1}, target_weights={"blue": 1}, processes=1, embedded=()) is None
    )


def test_preflight_raises_the_soft_limit_where_the_hard_limit_allows() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 5_000:
        pytest.skip("the hard open-file limit is too low for this test")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4_096, hard))  # lowering is always allowed
        report = preflight.ensure(preflight.SwarmPlan({"green": 5_000 - preflight.FD_OVERHEAD}))
        assert report.raised_soft_to == 5_000
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 5_000
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_loadbench_run_refuses_an_impossible_swarm_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "huge.yaml"
    profile.write_text("version: 1\nname: huge\nduration_s: 5\nusers: 60000\nspawn_rate: 500\nmix: {SwarmUser: 1}\n")
    out = tmp_path / "never"
    assert main(["run", "--profile", str(profile), "--target", "green", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "configuration error: swarm: 60000 connections per Locust process" in err
    assert not out.exists()


def test_the_connect_gate_holds_handshakes_while_the_generator_is_busy_but_never_starves() -> None:
    import asyncio

    from loadtests.swarm.engine import ConnectGate, CpuWindow

    async def scenario() -> None:
        gate = ConnectGate(max_connecting=4, max_lag_s=0.05, max_cpu_pct=65)
        gate.cpu_pct = 99.0
        assert not gate.busy  # nothing in flight: one may start, however busy the process
        await gate.__aenter__()
        assert gate.busy  # one in flight and the CPU past its bound: the next one waits
        second = asyncio.ensure_future(gate.__aenter__())
        await asyncio.sleep(0.12)
        assert not second.done() and gate.held_s > 0
        gate.cpu_pct = 10.0
        await asyncio.wait_for(second, 1)
        assert gate.in_flight == 2
        gate.lag_s = 0.2  # a late loop holds it just the same
        assert gate.busy

    asyncio.run(scenario())
    window = CpuWindow(window_s=0.2)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # spin: this thread uses a whole core
        pass
    assert window.sample() > 50


def _row(node: str, t1: float, open_: int, user_class: str = "SwarmUser") -> ConnectionsRow:
    return ConnectionsRow(t0=t1 - 1, t1=t1, target="green", user_class=user_class, node=node, open=open_, peak=open_,
                          low=open_, opened=0, closed=0, dropped=0, reconnected=0, gave_up=0)  # fmt: skip


def test_held_sums_count_each_node_once_per_interval_and_carry_a_late_node() -> None:
    sums = HeldSums(interval_s=1.0)
    assert sums.add([_row("a", 9.0, 0), _row("b", 9.0, 0)]) == [("green", 9.0, 0)]
    assert sums.add([_row("a", 10.0, 100), _row("a", 10.0, 5, "Other")]) == []  # b has not reported 10 yet
    assert sums.add([_row("b", 10.0, 200)]) == [("green", 10.0, 305)]
    # a busy node rotates twice in slot 11 (10.6 and 11.4 both round to 11): its later count replaces
    assert sums.add([_row("a", 10.6, 110), _row("a", 11.4, 120)]) == []
    assert sums.add([_row("b", 11.0, 210)]) == [("green", 11.0, 330)]
    # b skips slot 12 (its next rotation is at 13): slot 12 is whole once b reports 13, with b's 210
    assert sums.add([_row("a", 12.0, 130), _row("a", 13.0, 140)]) == []
    assert sums.add([_row("b", 13.0, 230)]) == [("green", 12.0, 340), ("green", 13.0, 370)]
