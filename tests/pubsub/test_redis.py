"""What only the Redis backend does: channel prefixes, a clear failure to connect, surviving outages."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
import redis

from socketapi.exceptions import BackendError
from socketapi.pubsub import Broadcast, Hub
from socketapi.pubsub.redis import RedisBackend
from tests.support import free_port

from .receivers import Collector
from .redis_support import RedisServer, eventually, numsub


async def test_connecting_to_an_unreachable_redis_raises_backend_error() -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BackendError, match=r"Cannot connect to Redis at 127\.0\.0\.1:\d+"):
        await backend.connect()
    assert not backend.connected


async def test_topics_become_prefixed_channels_only_while_subscribed(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    backend = RedisBackend(f"{redis_url}?prefix={prefix}")
    assert backend.prefix == prefix
    await backend.connect()
    await backend.subscribe("rooms/1")
    await backend.subscribe("rooms/2")
    assert backend.topics == {"rooms/1", "rooms/2"}
    assert sorted(redis_client.pubsub_channels(f"{prefix}*")) == [b"%srooms/%d" % (prefix.encode(), i) for i in (1, 2)]
    await backend.unsubscribe("rooms/1")
    assert redis_client.pubsub_channels(f"{prefix}*") == [f"{prefix}rooms/2".encode()]
    await backend.disconnect()
    await eventually(lambda: not redis_client.pubsub_channels(f"{prefix}*"), "Redis to drop the closed connection")


async def test_publishing_waits_while_max_pending_messages_are_queued(redis_url: str, prefix: str) -> None:
    a = RedisBackend(redis_url, prefix=prefix, max_pending=2)
    b = RedisBackend(redis_url, prefix=prefix)
    async with Hub(a) as publisher, Hub(b) as server:
        subscriber = Collector()
        await server.subscribe("chat", subscriber)
        for i in range(200):
            await publisher.publish(Broadcast.encode("chat", i))
        assert await subscriber.wait_for(199) == list(range(200))


def test_a_scripts_queued_broadcasts_leave_before_its_event_loop_closes(redis_url: str, prefix: str) -> None:
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(f"{prefix}chat")
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    hub = Hub(RedisBackend(redis_url, prefix=prefix))

    async def script() -> None:
        for i in range(50):  # queued, not awaited: the last ones are still queued when this returns
            await hub.publish(Broadcast.encode("chat", i))

    asyncio.run(script())
    received = []
    for _ in range(50):
        message = listener.get_message(timeout=5)
        assert message is not None, f"only {len(received)} of 50 arrived"
        received.append(Broadcast.from_envelope(message["data"])[1].data)
    listener.close()
    assert received == list(range(50))


async def test_a_failed_publish_batch_is_logged_as_lost_once_and_the_next_one_goes_out(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="socketapi.pubsub")
    publisher, server = RedisBackend(redis_url, prefix=prefix), RedisBackend(redis_url, prefix=prefix)
    async with Hub(publisher) as a, Hub(server) as b:
        subscriber = Collector()
        await b.subscribe("chat", subscriber)
        options = publisher._options
        publisher._options = {**options, "port": free_port()}  # the publishing connection cannot connect
        for i in range(3):
            await a.publish(Broadcast.encode("chat", i))
        await eventually(lambda: lost(caplog) == 3, "the loss of all three to be logged")
        assert not publisher._outbox  # dropped, not retried in a loop
        publisher._options = options
        await a.publish(Broadcast.encode("chat", "next"))
        assert await subscriber.wait_for("next") == ["next"]
    assert lost(caplog) == 3


def lost(caplog: pytest.LogCaptureFixture) -> int:
    """How many broadcasts the log says were lost, whatever the batches they went in."""
    return sum(int(n) for n in re.findall(r"(\d+) broadcast\(s\) could not be published", caplog.text))


async def test_nodes_with_different_prefixes_do_not_hear_each_other(redis_url: str, prefix: str) -> None:
    other_backend = RedisBackend(redis_url, prefix=prefix + "other:")
    async with Hub(other_backend) as a, Hub(RedisBackend(redis_url, prefix=prefix)) as b:
        other_app, same_app = Collector(), Collector()
        await a.subscribe("chat", other_app)
        await b.subscribe("chat", same_app)
        async with Hub(RedisBackend(redis_url, prefix=prefix)) as publisher:
            await publisher.publish(Broadcast.encode("chat", "for b"))
        assert await same_app.wait_for("for b") == ["for b"]
        assert other_app.received == []


async def test_an_outage_keeps_local_delivery_and_resubscribes_every_topic_after(
    private_redis: RedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="socketapi.pubsub")
    a_backend = RedisBackend(private_redis.url, prefix=prefix, max_backoff=0.2)
    b_backend = RedisBackend(private_redis.url, prefix=prefix, max_backoff=0.2)
    async with Hub(a_backend) as a, Hub(b_backend) as b:
        on_a, on_b = Collector(), Collector()
        await a.subscribe("chat", on_a)
        await b.subscribe("chat", on_b)
        await a.publish(Broadcast.encode("chat", "before"))
        await on_b.wait_for("before")

        private_redis.stop()
        await eventually(lambda: not a_backend.connected and not b_backend.connected, "both nodes to see the outage")
        await a.publish(Broadcast.encode("chat", "during"))  # neither raises nor waits
        assert on_a.received == ["before", "during"]
        with pytest.raises(BackendError, match="unreachable"):
            await a_backend.publish("chat", b"direct")
        late = Collector()
        await b.subscribe("news", late)  # accepted now; relayed once Redis is back
        assert b.topics == {"chat": 1, "news": 1}

        private_redis.start()
        client = redis.Redis.from_url(private_redis.url)
        try:
            await eventually(
                lambda: numsub(client, f"{prefix}chat") == 2 and numsub(client, f"{prefix}news") == 1,
                "both nodes to subscribe again",
            )
        finally:
            client.close()
        await a.publish(Broadcast.encode("chat", "after"))
        assert await on_b.wait_for("after") == ["before", "after"]
        await a.publish(Broadcast.encode("news", "late news"))
        assert await late.wait_for("late news") == ["late news"]

    messages = caplog.text
    assert "Lost the Redis connection" in messages
    assert "Reconnected to Redis" in messages
    assert "no longer reach other nodes" in messages
    assert "reach other nodes again" in messages
