"""Presence and history on real nodes: uvicorn processes on one Redis (and one node on memory).

Every node serves ``tests/apps/presence_history.py`` with presence timings cut down
(heartbeat 0.2 s, timeout 2 s), so that a killed node's entries leave within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.sync.client import connect

from tests.support import ROOT, Server, free_port, serve

from .ph_client import Client
from .redis_support import redis_server

APP = "tests.apps.presence_history:app"
PRESENCE_TIMEOUT = 2.0


def node_env(redis_url: str | None, prefix: str, name: str) -> dict[str, str]:
    env = {"PH_NODE": name, "PH_PREFIX": prefix, "PH_HEARTBEAT": "0.2", "PH_TIMEOUT": str(PRESENCE_TIMEOUT)}
    if redis_url is not None:
        env["PH_REDIS_URL"] = redis_url
    return env


def drop_keys(url: str, prefix: str) -> None:
    """Remove this test's history keys from the shared Redis (only those under its own prefix)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def cluster_prefix() -> str:
    return f"test-ph-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(scope="module")
def nodes(redis_url: str, cluster_prefix: str) -> Iterator[tuple[Server, Server]]:
    """Nodes A and B: two uvicorn processes, one Redis."""
    with (
        serve(APP, env=node_env(redis_url, cluster_prefix, "A")) as a,
        serve(APP, env=node_env(redis_url, cluster_prefix, "B")) as b,
    ):
        yield a, b
        assert a.process.poll() is None, "node A died"
        assert b.process.poll() is None, "node B died"
    drop_keys(redis_url, cluster_prefix)


@pytest.fixture
def clients() -> Iterator[Callable[[Server], Client]]:
    with ExitStack() as stack:

        def open_client(server: Server) -> Client:
            return Client(stack.enter_context(connect(server.url, open_timeout=10)))

        yield open_client


def users(state: dict[str, Any]) -> set[str]:
    return set(state)


# -- presence ----------------------------------------------------------------------------------


def test_presence_converges_on_every_node(nodes: tuple[Server, Server], clients: Callable[[Server], Client]) -> None:
    a, b = nodes
    ann, bob = clients(a), clients(b)
    ann.subscribe("room:1", {"user": "ann"})
    bob.subscribe("room:1", {"user": "bob"})
    took = max(
        ann.wait_presence("room:1", lambda s: users(s) == {"ann", "bob"}),
        bob.wait_presence("room:1", lambda s: users(s) == {"ann", "bob"}),
    )
    print(f"presence converged on both nodes {took:.2f}s after the second join")
    assert ann.presence["room:1"]["bob"]["metas"][0]["node"] == "B"
    assert ann.call("presence", topic="room:1") == bob.call("presence", topic="room:1") == ann.presence["room:1"]

    # an update on B reaches A as a leave of the old ref and a join with phx_ref_prev
    (old,) = ann.presence["room:1"]["bob"]["metas"]
    assert bob.request({"type": "event", "channel": "room:1", "event": "status", "data": {"text": "away"}})["data"]
    ann.wait_presence("room:1", lambda s: s["bob"]["metas"][0].get("status") == "away")
    (new,) = ann.presence["room:1"]["bob"]["metas"]
    assert new["phx_ref_prev"] == old["phx_ref"]

    # a second tab of ann's, on the other node: one key, two metas
    ann2 = clients(b)
    ann2.subscribe("room:1", {"user": "ann"})
    bob.wait_presence("room:1", lambda s: sorted(m["node"] for m in s.get("ann", {}).get("metas", [])) == ["A", "B"])
    ann2.close()
    ann.wait_presence("room:1", lambda s: [m["node"] for m in s["ann"]["metas"]] == ["A"])

    bob.request({"type": "unsubscribe", "channel": "room:1"})
    ann.wait_presence("room:1", lambda s: users(s) == {"ann"})
    ann.close()
    observer = clients(b)
    observer.subscribe("room:1", {"user": "observer"})
    observer.wait_presence("room:1", lambda s: users(s) == {"observer"})


def test_a_killed_node_leaves_every_node_within_the_timeout(
    redis_url: str, clients: Callable[[Server], Client]
) -> None:
    prefix = f"test-ph-kill-{uuid.uuid4().hex[:12]}:"
    try:
        with (
            serve(APP, env=node_env(redis_url, prefix, "A")) as a,
            serve(APP, env=node_env(redis_url, prefix, "B")) as b,
        ):
            ann, bob = clients(a), clients(b)
            ann.subscribe("room:k", {"user": "ann"})
            bob.subscribe("room:k", {"user": "bob"})
            bob.wait_presence("room:k", lambda s: users(s) == {"ann", "bob"})
            os.kill(a.pid, signal.SIGKILL)  # no bye, no close: only the silence tells
            killed = time.monotonic()
            bob.wait_presence("room:k", lambda s: users(s) == {"bob"}, timeout=PRESENCE_TIMEOUT + 5)
            took = time.monotonic() - killed
            print(f"the killed node's entries left {took:.2f}s after SIGKILL (timeout {PRESENCE_TIMEOUT}s)")
            (leave,) = [f for f in bob.presence_log if "ann" in f["data"].get("leaves", {})]
            assert leave["event"] == "presence_diff"
            assert leave["data"]["leaves"]["ann"]["metas"][0]["node"] == "A"
            assert bob.call("presence", topic="room:k") == bob.presence["room:k"]
            assert list(bob.presence["room:k"]) == ["bob"]
            a.process.wait(5)
    finally:
        drop_keys(redis_url, prefix)


# -- history -----------------------------------------------------------------------------------


def test_offsets_form_one_sequence_across_nodes(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client]
) -> None:
    a, b = nodes
    on_a, on_b, pub_a, pub_b = clients(a), clients(b), clients(a), clients(b)
    start = on_a.subscribe("feed")["offset"]
    assert on_b.subscribe("feed")["offset"] == start
    ref_a = pub_a.start_call("publish", count=100, by="A")
    ref_b = pub_b.start_call("publish", count=100, by="B")
    assert pub_a.result(ref_a) == pub_b.result(ref_b) == 100
    seen = []
    for client in (on_a, on_b):
        frames = [client.broadcast("feed") for _ in range(200)]
        assert [f["offset"] for f in frames] == list(range(start + 1, start + 201))  # one sequence, in order
        for by in ("A", "B"):
            assert [f["data"]["seq"] for f in frames if f["data"]["by"] == by] == list(range(100))
        seen.append([(f["offset"], f["data"]["by"], f["data"]["seq"]) for f in frames])
    assert seen[0] == seen[1]  # every node delivers the same order


def test_broadcast_from_on_a_history_topic_skips_the_sender_on_every_node(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client]
) -> None:
    a, b = nodes
    ann, bob, carol = clients(a), clients(a), clients(b)
    start = ann.subscribe("board")["offset"]
    bob.subscribe("board")
    carol.subscribe("board")
    event = {"type": "event", "channel": "board", "event": "post_from", "data": {"text": "hi"}}
    assert ann.request(event)["data"] is True
    assert bob.broadcast("board")["offset"] == carol.broadcast("board")["offset"] == start + 1
    assert ann.request({**event, "event": "post"})["data"] is True
    assert ann.broadcast("board")["offset"] == start + 2  # the first never reached ann


@pytest.mark.parametrize("where", ["one node, memory", "two nodes, Redis"])
def test_recovering_100_missed_broadcasts_while_publishing_goes_on(
    where: str, redis_url: str, clients: Callable[[Server], Client]
) -> None:
    prefix = f"test-ph-rec-{uuid.uuid4().hex[:12]}:"
    url = redis_url if "Redis" in where else None
    try:
        with ExitStack() as stack:
            a = stack.enter_context(serve(APP, env=node_env(url, prefix, "A")))
            b = stack.enter_context(serve(APP, env=node_env(url, prefix, "B"))) if url else a
            _recover_while_publishing(a, b, clients)
    finally:
        drop_keys(redis_url, prefix)


def _recover_while_publishing(a: Server, b: Server, clients: Callable[[Server], Client]) -> None:
    ann, publisher, observer = clients(a), clients(b), clients(b)
    position = ann.subscribe("feed")
    observer.subscribe("feed")
    publisher.call("publish", count=20)
    frames = [ann.broadcast("feed") for _ in range(20)]
    last = frames[-1]["offset"]
    ann.close()  # ann goes away; publishing goes on
    total = 400
    running = publisher.start_call("publish", count=total, start=20, pause=0.004)
    while observer.broadcast("feed")["offset"] < last + 100:
        pass  # ann has now missed at least 100
    ann = clients(a)
    back = ann.subscribe("feed", since={"offset": last, "epoch": position["epoch"]})
    assert back["recovered"] is True, back
    assert back["epoch"] == position["epoch"]
    final = last + total
    offsets = []
    while not offsets or offsets[-1] < final:
        frame = ann.broadcast("feed")
        offsets.append(frame["offset"])
        assert frame["data"]["seq"] == frame["offset"] - position["offset"] - 1
    assert publisher.result(running) == total
    assert offsets == list(range(last + 1, final + 1))  # every missed one once, in order, then the live ones
    assert back["offset"] - last >= 100  # at least 100 were missed ...
    assert back["offset"] < final  # ... and publishing went on after the resubscribe
    print(f"{where_label(a, b)}: recovered {back['offset'] - last} missed, then {final - back['offset']} live")


def where_label(a: Server, b: Server) -> str:
    return "one node" if a is b else "two nodes"


def test_a_flushed_redis_starts_a_new_epoch(clients: Callable[[Server], Client]) -> None:
    with redis_server() as broker, serve(APP, env=node_env(broker.url, "ph-flush:", "A")) as a:
        ann = clients(a)
        position = ann.subscribe("feed")
        ann.call("publish", count=3)
        last = [ann.broadcast("feed") for _ in range(3)][-1]["offset"]
        ann.close()
        control = redis.Redis.from_url(broker.url)
        try:
            control.flushall()  # our own redis-server: the history is lost
        finally:
            control.close()
        ann = clients(a)
        back = ann.subscribe("feed", since={"offset": last, "epoch": position["epoch"]})
        assert back["recovered"] is False
        assert back["epoch"] != position["epoch"]
        assert back["offset"] == 0
        ann.call("publish", count=1, start=3)
        assert ann.broadcast("feed")["offset"] == 1  # a new sequence, in the new epoch


def test_presence_converges_again_after_the_broker_restarts(clients: Callable[[Server], Client]) -> None:
    """Longer than the timeout without Redis: each node drops the other's members, then gets them back."""
    with redis_server() as broker:
        env = node_env(broker.url, "ph-restart:", "A")
        with serve(APP, env=env) as a, serve(APP, env={**env, "PH_NODE": "B"}) as b:
            ann, bob = clients(a), clients(b)
            ann.subscribe("room:r", {"user": "ann"})
            bob.subscribe("room:r", {"user": "bob"})
            for client in (ann, bob):
                client.wait_presence("room:r", lambda s: users(s) == {"ann", "bob"})
            broker.stop()
            ann.wait_presence("room:r", lambda s: users(s) == {"ann"}, timeout=PRESENCE_TIMEOUT + 5)
            bob.wait_presence("room:r", lambda s: users(s) == {"bob"}, timeout=PRESENCE_TIMEOUT + 5)
            carol = clients(b)  # joins during the outage: only her node knows, for now
            carol.subscribe("room:r", {"user": "carol"})
            broker.start()  # same port, empty
            for client in (ann, bob, carol):
                client.wait_presence("room:r", lambda s: users(s) == {"ann", "bob", "carol"}, timeout=15)
            assert ann.call("presence", topic="room:r") == bob.call("presence", topic="room:r")


def test_a_script_broadcasting_on_a_history_topic_records_it_and_closes_its_connections(
    nodes: tuple[Server, Server], clients: Callable[[Server], Client], redis_url: str, cluster_prefix: str
) -> None:
    a, b = nodes
    on_a, on_b = clients(a), clients(b)
    start = on_a.subscribe("feed")["offset"]
    on_b.subscribe("feed")
    script = (
        "import asyncio\n"
        "from tests.apps.presence_history import feed\n"
        "async def main():\n"
        "    for seq in range(3):\n"
        "        await feed(seq=seq, by='script')\n"
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
    assert "Warning" not in result.stderr, result.stderr
    for client in (on_a, on_b):
        frames = [client.broadcast("feed") for _ in range(3)]
        assert [(f["offset"], f["data"]["seq"], f["data"]["by"]) for f in frames] == [
            (start + 1 + i, i, "script") for i in range(3)
        ]


def test_a_script_on_the_memory_backend_hands_history_broadcasts_to_the_server_which_records_them(
    clients: Callable[[Server], Client], tmp_path: Path
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    port = free_port()
    env = {**node_env(None, "", "A"), "PH_PORT": str(port), "XDG_RUNTIME_DIR": str(runtime)}
    with serve(APP, port=port, env=env) as server:
        ann = clients(server)
        position = ann.subscribe("feed")
        script = (
            "import asyncio\n"
            "from tests.apps.presence_history import feed\n"
            "async def main():\n"
            "    for seq in range(2):\n"
            "        await feed(seq=seq, by='script')\n"
            "asyncio.run(main())\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        frames = [ann.broadcast("feed") for _ in range(2)]
        assert [(f["offset"], f["data"]["by"]) for f in frames] == [(1, "script"), (2, "script")]
        bob = clients(server)
        back = bob.subscribe("feed", since={"offset": 0, "epoch": position["epoch"]})
        assert back["recovered"] is True
        assert [bob.broadcast("feed")["data"]["seq"] for _ in range(2)] == [0, 1]
