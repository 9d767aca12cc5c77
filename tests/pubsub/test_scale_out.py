"""End to end: two uvicorn processes sharing one Redis behave as one server.

Every node serves ``tests/apps/scale_chat.py``; clients are ``websockets``' sync clients.
Waits are on frames or on Redis's own view (``PUBSUB NUMSUB``), always bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from tests.support import ROOT, Server, serve

from .redis_support import RedisServer, numsub, redis_server, wait_until

APP = "tests.apps.scale_chat:app"
TIMEOUT = 5.0
Frame = dict[str, Any]


class Client:
    """A WebSocket client speaking socketapi's frames; every wait is bounded."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pending: list[Frame] = []  # frames read while waiting for another kind, in arrival order

    def send(self, frame: Frame) -> None:
        self.ws.send(json.dumps(frame))

    def expect(self, predicate: Callable[[Frame], bool], what: str) -> Frame:
        """The first frame, received or still to come, that matches ``predicate``."""
        for i, frame in enumerate(self.pending):
            if predicate(frame):
                return self.pending.pop(i)
        while True:
            try:
                frame = json.loads(self.ws.recv(timeout=TIMEOUT))
            except TimeoutError:
                raise AssertionError(f"no frame within {TIMEOUT}s while waiting for {what}") from None
            if predicate(frame):
                return frame
            assert frame.get("type") != "error", frame
            self.pending.append(frame)

    def subscribe(self, channel: str) -> None:
        self.send({"type": "subscribe", "channel": channel})
        self.expect(lambda f: f == {"type": "subscribed", "channel": channel}, f"subscribed to {channel!r}")

    def unsubscribe(self, channel: str) -> None:
        self.send({"type": "unsubscribe", "channel": channel})
        self.expect(lambda f: f == {"type": "unsubscribed", "channel": channel}, f"unsubscribed from {channel!r}")

    def call(self, action: str, **data: Any) -> Any:
        self.send({"type": "action", "channel": action, "data": data})
        return self.expect(lambda f: f.get("type") == "action" and f["channel"] == action, f"{action}'s result").get(
            "data"
        )

    def data(self, channel: str) -> Any:
        """The data of the next broadcast on ``channel``."""
        frame = self.expect(lambda f: f.get("type") == "data" and f["channel"] == channel, f"a broadcast on {channel}")
        return frame["data"]

    def assert_nothing_pending(self) -> None:
        assert not self.pending, f"unexpected frames: {self.pending}"

    def close(self) -> None:
        self.ws.close()


def node_env(redis_url: str, prefix: str, name: str) -> dict[str, str]:
    return {"SCALE_REDIS_URL": redis_url, "SCALE_PREFIX": prefix, "SCALE_NODE": name}


@pytest.fixture(scope="module")
def cluster_prefix() -> str:
    return f"test-scale-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="module")
def nodes(redis_url: str, cluster_prefix: str) -> Iterator[tuple[Server, Server]]:
    """Nodes A and B: two uvicorn processes on their own ports, one Redis."""
    with (
        serve(APP, env=node_env(redis_url, cluster_prefix, "A")) as a,
        serve(APP, env=node_env(redis_url, cluster_prefix, "B")) as b,
    ):
        yield a, b
        assert a.process.poll() is None, "node A died"
        assert b.process.poll() is None, "node B died"


@pytest.fixture
def clients() -> Iterator[Callable[[Server], Client]]:
    with ExitStack() as stack:

        def open_client(server: Server) -> Client:
            return Client(stack.enter_context(connect(server.url, open_timeout=TIMEOUT)))

        yield open_client


@pytest.fixture
def channels(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_a_broadcast_triggered_on_one_node_reaches_the_other_once_and_in_order(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client]
) -> None:
    a, b = nodes
    on_a, on_b, sender = clients(a), clients(b), clients(b)
    on_a.subscribe("chat")
    on_b.subscribe("chat")
    assert sender.call("burst", text="seq", count=50) == 50
    assert sender.call("burst", text="end") == 1  # same publisher, so it comes after every "seq"
    for client in (on_a, on_b):
        received = [client.data("chat") for _ in range(51)]
        assert [(m["text"], m["seq"], m["node"]) for m in received] == [
            *(("seq", i, "B") for i in range(50)),
            ("end", 0, "B"),
        ]
        client.assert_nothing_pending()


def test_a_client_subscribed_on_both_nodes_gets_one_copy_per_node(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client]
) -> None:
    a, b = nodes
    via_a, via_b, sender = clients(a), clients(b), clients(a)
    via_a.subscribe("rooms/1")
    via_b.subscribe("rooms/1")
    sender.call("say_in_room", room_id=1, text="hello")
    sender.call("say_in_room", room_id=1, text="end")
    for client in (via_a, via_b):
        assert [client.data("rooms/1")["text"] for _ in range(2)] == ["hello", "end"]


def test_a_plain_python_process_broadcasts_to_every_node(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client], redis_url: str, cluster_prefix: str
) -> None:
    a, b = nodes
    on_a, on_b = clients(a), clients(b)
    on_a.subscribe("chat")
    on_b.subscribe("chat")
    script = (
        "import asyncio\n"
        "from tests.apps.scale_chat import chat\n"
        "async def main():\n"
        "    for seq in range(3):\n"
        "        await chat(text='from a script', seq=seq)\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **node_env(redis_url, cluster_prefix, "script")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr  # it closed its connections, it logged no failure
    for client in (on_a, on_b):
        assert [client.data("chat") for _ in range(3)] == [
            {"text": "from a script", "seq": seq, "node": "script"} for seq in range(3)
        ]


def test_redis_carries_a_topic_only_while_a_node_has_subscribers(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client], channels: redis.Redis, cluster_prefix: str
) -> None:
    a, b = nodes
    rooms = f"{cluster_prefix}rooms/"

    def listed() -> list[str]:
        return sorted(name.decode().removeprefix(rooms) for name in channels.pubsub_channels(f"{rooms}1*"))

    on_a, on_b = clients(a), clients(b)
    on_a.subscribe("rooms/10")
    assert listed() == ["10"]
    on_b.subscribe("rooms/10")
    on_b.subscribe("rooms/11")
    assert listed() == ["10", "11"]
    assert numsub(channels, f"{rooms}10") == 2  # one subscription per node, not per client
    on_a.unsubscribe("rooms/10")  # "unsubscribed" comes once Redis confirmed
    assert numsub(channels, f"{rooms}10") == 1
    on_b.unsubscribe("rooms/11")
    assert listed() == ["10"]
    on_b.close()  # a socket going away leaves its topics too
    wait_until(lambda: listed() == [], "node B to unsubscribe the closed socket's topics")


def test_nodes_survive_a_redis_restart_and_delivery_between_them_resumes(
    clients: Callable[[Server], Client], prefix: str
) -> None:
    with redis_server() as broker:
        env = node_env(broker.url, prefix, "A")
        with serve(APP, env=env) as a, serve(APP, env={**env, "SCALE_NODE": "B"}) as b:
            _survive_a_restart(broker, a, b, clients, prefix)
            assert a.process.poll() is None, "node A died"
            assert b.process.poll() is None, "node B died"


def _survive_a_restart(
    broker: RedisServer, a: Server, b: Server, clients: Callable[[Server], Client], prefix: str
) -> None:
    on_a, on_b = clients(a), clients(b)
    on_a.subscribe("chat")
    on_b.subscribe("chat")
    on_b.call("burst", text="before")
    assert on_a.data("chat")["text"] == on_b.data("chat")["text"] == "before"

    broker.stop()
    # Each node still serves its own subscribers, and accepts new subscriptions.
    on_a.call("burst", text="during, on A")
    assert on_a.data("chat")["text"] == "during, on A"
    on_b.call("burst", text="during, on B")
    assert on_b.data("chat")["text"] == "during, on B"
    on_a.subscribe("rooms/7")

    broker.start()  # same port
    watcher = redis.Redis.from_url(broker.url)
    try:
        wait_until(
            lambda: numsub(watcher, f"{prefix}chat") == 2 and numsub(watcher, f"{prefix}rooms/7") == 1,
            "both nodes to subscribe again after the restart",
        )
    finally:
        watcher.close()
    on_b.call("burst", text="after")
    assert on_a.data("chat")["text"] == "after"  # what B said during the outage is lost, nothing else
    assert on_b.data("chat")["text"] == "after"
    on_b.call("say_in_room", room_id=7, text="subscribed during the outage")
    assert on_a.data("rooms/7")["text"] == "subscribed during the outage"
