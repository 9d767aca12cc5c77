"""The contract every pub/sub backend fulfils, run against each one (ids ``memory`` and ``redis``).

A *node* is one backend instance; the ``cluster`` fixture makes nodes that share one broker.
The first group speaks to backends directly, the second goes through a :class:`Hub` per node,
as the app does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from socketapi.exceptions import BackendError
from socketapi.pubsub import Broadcast, Hub, PubSubBackend

from .conftest import Cluster
from .receivers import TIMEOUT, Collector, Listener


async def node(cluster: Cluster) -> tuple[PubSubBackend, Listener]:
    backend = cluster.node()
    await backend.connect()
    return backend, Listener(backend)


@pytest.fixture
async def hubs(cluster: Cluster) -> AsyncIterator[tuple[Hub, Hub]]:
    async with Hub(cluster.node()) as a, Hub(cluster.node()) as b:
        yield a, b


# -- the backend alone -------------------------------------------------------------------


async def test_publish_reaches_a_subscribed_node(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    await b.subscribe("chat")
    await a.publish("chat", b"hello")
    assert await b_inbox.next() == ("chat", b"hello")


async def test_subscribe_returns_once_the_broker_confirmed(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    for i in range(20):  # publish right after each subscribe: nothing may be lost
        await b.subscribe(f"room:{i}")
        assert cluster.subscribed_nodes(f"room:{i}") == 1
        await a.publish(f"room:{i}", str(i).encode())
    assert [await b_inbox.next() for _ in range(20)] == [(f"room:{i}", str(i).encode()) for i in range(20)]


async def test_nothing_published_before_subscribing_arrives(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    witness, witness_inbox = await node(cluster)
    await witness.subscribe("chat")
    await a.publish("chat", b"too early")
    assert await witness_inbox.next() == ("chat", b"too early")  # the broker has dispatched it
    await b.subscribe("chat")
    await a.publish("chat", b"in time")
    assert await b_inbox.next() == ("chat", b"in time")


async def test_unsubscribe_stops_delivery(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    await b.subscribe("chat")
    await b.subscribe("news")
    await b.unsubscribe("chat")
    assert cluster.subscribed_nodes("chat") == 0
    await a.publish("chat", b"unheard")
    await a.publish("news", b"heard")
    assert await b_inbox.next() == ("news", b"heard")


async def test_unsubscribing_an_unknown_topic_is_a_no_op(cluster: Cluster) -> None:
    b, _ = await node(cluster)
    await b.unsubscribe("never-subscribed")
    assert cluster.subscribed_nodes("never-subscribed") == 0


async def test_other_topics_are_not_delivered(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    await b.subscribe("room:1")
    await a.publish("room:10", b"other")
    await a.publish("room:1", b"mine")
    assert await b_inbox.next() == ("room:1", b"mine")


async def test_messages_arrive_in_publish_order(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    await b.subscribe("chat")
    await asyncio.gather(*(a.publish("chat", str(i).encode()) for i in range(300)))
    assert [(await b_inbox.next())[1] for _ in range(300)] == [str(i).encode() for i in range(300)]


async def test_every_subscribed_node_gets_one_copy(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    nodes = [await node(cluster) for _ in range(3)]
    for backend, _ in nodes:
        await backend.subscribe("chat")
    assert cluster.subscribed_nodes("chat") == 3
    await a.publish("chat", b"one")
    await a.publish("chat", b"two")
    for _, inbox in nodes:
        assert [await inbox.next(), await inbox.next()] == [("chat", b"one"), ("chat", b"two")]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("rooms/5", b'{"text":"hi"}'),
        ("salle:\u00e9t\u00e9 \U0001f389", "\u00e9t\u00e9 \U0001f389".encode()),
        ("bytes", bytes(range(256)) + b"\n\r\n\x00"),
        ("big", b"x" * 1_000_000),
        ("empty", b""),
    ],
    ids=["json", "unicode", "binary", "1MB", "empty"],
)
async def test_bytes_and_topics_round_trip_unchanged(cluster: Cluster, topic: str, payload: bytes) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    await b.subscribe(topic)
    await a.publish(topic, payload)
    assert await b_inbox.next() == (topic, payload)


async def test_using_a_node_before_connect_raises(cluster: Cluster) -> None:
    backend = cluster.node()
    with pytest.raises(BackendError, match="not connected"):
        await backend.publish("chat", b"x")
    with pytest.raises(BackendError, match="not connected"):
        await backend.subscribe("chat")


async def test_disconnect_ends_listen_and_leaves_every_topic(cluster: Cluster) -> None:
    b, b_inbox = await node(cluster)
    await b.subscribe("chat")
    await b.disconnect()
    await asyncio.wait_for(b_inbox.task, TIMEOUT)
    assert cluster.subscribed_nodes("chat") == 0


async def test_disconnect_first_sends_what_was_published(cluster: Cluster) -> None:
    a, _ = await node(cluster)
    b, b_inbox = await node(cluster)
    await b.subscribe("chat")
    for i in range(100):
        await a.publish("chat", str(i).encode())
    await a.disconnect()
    assert [(await b_inbox.next())[1] for _ in range(100)] == [str(i).encode() for i in range(100)]


# -- through the hub -----------------------------------------------------------------------


async def test_hub_delivers_once_on_the_publishing_node_and_once_elsewhere(hubs: tuple[Hub, Hub]) -> None:
    a, b = hubs
    on_a, on_b = Collector(), Collector()
    await a.subscribe("chat", on_a)
    await b.subscribe("chat", on_b)
    await a.publish(Broadcast.encode("chat", "from a"))
    assert await on_b.wait_for("from a") == ["from a"]
    # B publishes after receiving: an echo of "from a" to A would arrive before this marker.
    await b.publish(Broadcast.encode("chat", "marker"))
    assert await on_a.wait_for("marker") == ["from a", "marker"]
    assert await on_b.wait_for("marker") == ["from a", "marker"]


async def test_hub_subscribes_the_backend_once_per_topic(hubs: tuple[Hub, Hub], cluster: Cluster) -> None:
    _, b = hubs
    first, second = Collector(), Collector()
    await b.subscribe("chat", first)
    await b.subscribe("chat", second)
    assert b.topics == {"chat": 2}
    assert cluster.subscribed_nodes("chat") == 1
    await b.unsubscribe("chat", first)
    assert cluster.subscribed_nodes("chat") == 1
    await b.unsubscribe("chat", second)
    assert cluster.subscribed_nodes("chat") == 0
    assert b.topics == {}


async def test_concurrent_joins_of_a_new_topic_all_wait_for_the_confirmation(hubs: tuple[Hub, Hub]) -> None:
    a, b = hubs
    subscribers = [Collector() for _ in range(10)]

    async def join_then_publish(n: int) -> None:
        await b.subscribe("room:new", subscribers[n])
        await a.publish(Broadcast.encode("room:new", n))

    await asyncio.gather(*(join_then_publish(n) for n in range(10)))
    for n, subscriber in enumerate(subscribers):
        await subscriber.wait_for(n)  # published after this subscriber's join returned
    await a.publish(Broadcast.encode("room:new", "end"))
    for subscriber in subscribers:
        assert sorted(await subscriber.wait_for("end"), key=str) == [*range(10), "end"]


async def test_joining_while_the_last_subscriber_leaves_keeps_the_topic(
    hubs: tuple[Hub, Hub], cluster: Cluster
) -> None:
    a, b = hubs
    leaving, joining = Collector(), Collector()
    await b.subscribe("chat", leaving)
    await asyncio.gather(b.unsubscribe("chat", leaving), b.subscribe("chat", joining))
    assert b.topics == {"chat": 1}
    assert cluster.subscribed_nodes("chat") == 1
    await a.publish(Broadcast.encode("chat", "still here"))
    assert await joining.wait_for("still here") == ["still here"]


async def test_hub_publish_from_a_node_with_no_subscribers(hubs: tuple[Hub, Hub]) -> None:
    a, b = hubs
    subscriber = Collector()
    await b.subscribe("news", subscriber)
    for i in range(5):
        await a.publish(Broadcast.encode("news", i, event="tick"))
    assert await subscriber.wait_for(4) == [0, 1, 2, 3, 4]
    assert a.topics == {}
