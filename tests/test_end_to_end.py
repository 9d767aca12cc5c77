"""End to end: a real uvicorn on 127.0.0.1 and real WebSocket clients."""

from __future__ import annotations

import socket as _socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Client, Server, serve


@pytest.fixture(scope="module")
def server(transport: str) -> Iterator[Server]:
    with serve("tests.apps.e2e:app", transport=transport) as running:
        yield running


@pytest.fixture
def connect_client(server: Server) -> Iterator[Any]:
    clients: list[Client] = []

    def make() -> Client:
        clients.append(Client(server.url))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


def test_two_clients_and_a_broadcast(connect_client: Any) -> None:
    alice, bob = connect_client(), connect_client()
    for c in (alice, bob):
        c.send({"type": "subscribe", "channel": "chat"})
        assert c.recv() == {"type": "subscribed", "channel": "chat"}
    bob.send({"type": "action", "channel": "send_message", "data": {"message": "hi all"}})
    expected = {"type": "data", "channel": "chat", "data": {"message": "hi all"}}
    assert alice.recv() == expected
    assert sorted([bob.recv(), bob.recv()], key=str) == sorted(
        [expected, {"type": "action", "channel": "send_message", "status": "completed"}], key=str
    )


def test_a_slow_action_delays_nothing_else_on_its_socket(connect_client: Any) -> None:
    ws, other = connect_client(), connect_client()
    ws.send({"type": "subscribe", "channel": "chat"})
    assert ws.recv()["type"] == "subscribed"
    ws.send({"type": "action", "channel": "block", "data": {"key": "slow-1"}, "ref": "slow"})
    ws.send({"type": "ping", "ref": "p"})
    assert ws.recv() == {"type": "pong", "ref": "p"}
    ws.send({"type": "action", "channel": "add_numbers", "data": {"a": 2, "b": 2}, "ref": "fast"})
    assert ws.recv() == {"type": "action", "channel": "add_numbers", "status": "completed", "data": 4, "ref": "fast"}
    other.send({"type": "action", "channel": "send_message", "data": {"message": "meanwhile"}})
    assert ws.recv() == {"type": "data", "channel": "chat", "data": {"message": "meanwhile"}}
    other.send({"type": "action", "channel": "release", "data": {"key": "slow-1"}})
    assert ws.recv() == {
        "type": "action",
        "channel": "block",
        "status": "completed",
        "data": "released slow-1",
        "ref": "slow",
    }


def test_frames_for_one_channel_instance_run_in_order_others_run_concurrently(connect_client: Any) -> None:
    ws, other = connect_client(), connect_client()
    for room in ("a", "b"):
        ws.send({"type": "subscribe", "channel": f"room:{room}", "data": {"nick": "ann"}})
        assert ws.recv()["type"] == "subscribed"
    ws.send({"type": "event", "channel": "room:a", "event": "wait", "data": {"key": "order-1"}, "ref": 1})
    ws.send({"type": "event", "channel": "room:a", "event": "note", "data": {"n": 1}, "ref": 2})
    ws.send({"type": "event", "channel": "room:b", "event": "note", "data": {"n": 9}, "ref": 3})
    assert ws.recv() == {"type": "reply", "channel": "room:b", "event": "note", "status": "ok", "data": [9], "ref": 3}
    other.send({"type": "action", "channel": "release", "data": {"key": "order-1"}})
    assert ws.recv()["ref"] == 1
    assert ws.recv() == {"type": "reply", "channel": "room:a", "event": "note", "status": "ok", "data": [1], "ref": 2}


def test_a_slow_handler_on_one_socket_never_stalls_another(connect_client: Any) -> None:
    slow, fast = connect_client(), connect_client()
    slow.send({"type": "action", "channel": "block", "data": {"key": "other-socket"}})
    for i in range(20):
        fast.send({"type": "action", "channel": "add_numbers", "data": {"a": i, "b": 1}})
        assert fast.recv()["data"] == i + 1
    fast.send({"type": "action", "channel": "release", "data": {"key": "other-socket"}})
    assert slow.recv()["data"] == "released other-socket"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "Invalid JSON."),
        (b"\x00\x01binary", "Binary frames are not supported; send JSON as text."),
        ("[1,2,3]", "A message must be a JSON object."),
        ("[" * 50_000, "Invalid JSON."),
        ('{"type":"action","channel":"add_numbers","data":[]}', "'data' must be a JSON object."),
    ],
)
def test_malformed_frames_over_a_real_socket(connect_client: Any, raw: str | bytes, message: str) -> None:
    ws, bystander = connect_client(), connect_client()
    bystander.send({"type": "subscribe", "channel": "chat"})
    assert bystander.recv()["type"] == "subscribed"
    ws.send(raw)
    assert ws.recv() == {"type": "error", "message": message}
    ws.send({"type": "action", "channel": "send_message", "data": {"message": "after"}})
    assert ws.recv()["status"] == "completed"
    assert bystander.recv() == {"type": "data", "channel": "chat", "data": {"message": "after"}}


@pytest.mark.parametrize("how", ["close-frame", "dropped-tcp"])
def test_disconnect_runs_leave_once_per_joined_channel(connect_client: Any, how: str) -> None:
    monitor, leaver = connect_client(), connect_client()
    monitor.send({"type": "subscribe", "channel": "monitor"})
    assert monitor.recv()["type"] == "subscribed"
    for room in ("x", "y"):
        leaver.send({"type": "subscribe", "channel": f"room:{room}", "data": {"nick": how}})
        assert leaver.recv()["type"] == "subscribed"
        assert monitor.recv()["data"] == {"joined": how, "room": f"room:{room}", "reason": None}
    if how == "close-frame":
        leaver.close()
    else:
        leaver.ws.socket.shutdown(_socket.SHUT_RDWR)  # gone without a close frame
        leaver.ws.socket.close()
    lefts = sorted([monitor.recv()["data"], monitor.recv()["data"]], key=lambda d: d["room"])
    assert lefts == [
        {"left": how, "room": "room:x", "reason": "closed"},
        {"left": how, "room": "room:y", "reason": "closed"},
    ]
    monitor.send({"type": "event", "channel": "monitor", "event": "stats", "ref": "s"})
    stats = monitor.recv()
    assert stats["ref"] == "s"
    topics = stats["data"]["topics"]  # subscribers per topic on the server, right after the leave hooks ran
    assert "room:x" not in topics  # the leaver's subscriptions are gone from the hub ...
    assert "room:y" not in topics
    assert topics["monitor"] == 1  # ... and the monitor's own is the one left on its topic


def test_unsubscribe_runs_leave_with_reason_left(connect_client: Any) -> None:
    monitor, ws = connect_client(), connect_client()
    monitor.send({"type": "subscribe", "channel": "monitor"})
    assert monitor.recv()["type"] == "subscribed"
    ws.send({"type": "subscribe", "channel": "room:z", "data": {"nick": "zed"}})
    assert ws.recv()["type"] == "subscribed"
    assert monitor.recv()["data"]["joined"] == "zed"
    ws.send({"type": "unsubscribe", "channel": "room:z"})
    assert ws.recv() == {"type": "unsubscribed", "channel": "room:z"}
    assert monitor.recv()["data"] == {"left": "zed", "room": "room:z", "reason": "left"}
