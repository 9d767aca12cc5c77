"""Redis promises that only a slow or stalled broker can show, built on purpose with a delaying proxy."""

from __future__ import annotations

import asyncio

from socketapi.pubsub import Broadcast, Hub
from socketapi.pubsub.redis import RedisBackend

from .proxy import DelayingProxy
from .receivers import Collector, Listener

DELAY = 0.5  # how late the slow node's commands reach Redis: far longer than a publish takes


async def test_subscribe_returns_only_after_redis_confirmed(redis_url: str, prefix: str) -> None:
    """``subscribed`` means every later broadcast reaches you, even when the SUBSCRIBE travels slowly."""
    async with DelayingProxy(redis_url, delay=DELAY) as proxy:
        slow, fast = RedisBackend(proxy.url, prefix=prefix), RedisBackend(redis_url, prefix=prefix)
        await slow.connect()
        await fast.connect()
        try:
            listener = Listener(slow)
            await slow.subscribe("news")
            await fast.publish("news", b"right after subscribe returned")
            assert await listener.next() == ("news", b"right after subscribe returned")
        finally:
            await slow.disconnect()
            await fast.disconnect()


async def test_a_second_subscriber_joining_during_the_confirmation_waits_for_it_too(
    redis_url: str, prefix: str
) -> None:
    async with (
        DelayingProxy(redis_url, delay=DELAY) as proxy,
        Hub(RedisBackend(proxy.url, prefix=prefix)) as slow,
        Hub(RedisBackend(redis_url, prefix=prefix)) as fast,
    ):
        first, second = Collector(), Collector()
        joining = asyncio.create_task(slow.subscribe("news", first))
        await asyncio.sleep(DELAY / 5)  # the first SUBSCRIBE is on its way to Redis
        assert not joining.done()
        await slow.subscribe("news", second)
        await fast.publish(Broadcast.encode("news", "hello"))
        assert await second.wait_for("hello") == ["hello"]
        await joining
        assert await first.wait_for("hello") == ["hello"]


async def test_publishing_waits_while_max_pending_messages_wait_for_a_stalled_redis(
    redis_url: str, prefix: str
) -> None:
    max_pending = 4
    async with DelayingProxy(redis_url) as proxy:
        publisher = RedisBackend(proxy.url, prefix=prefix, max_pending=max_pending)
        async with Hub(publisher) as a, Hub(RedisBackend(redis_url, prefix=prefix)) as b:
            subscriber = Collector()
            await b.subscribe("chat", subscriber)
            await a.publish(Broadcast.encode("chat", -1))  # the publishing connection is open ...
            await subscriber.wait_for(-1)
            proxy.pause()  # ... and now Redis takes nothing more from it

            async def burst() -> None:
                for i in range(3 * max_pending):
                    await a.publish(Broadcast.encode("chat", i))

            publishing = asyncio.create_task(burst())
            await asyncio.sleep(0.3)  # plenty of turns for a publisher that does not wait
            assert not publishing.done(), "publish() went on while Redis took nothing"
            assert subscriber.received == [-1]
            proxy.resume()
            await asyncio.wait_for(publishing, 10)
            assert await subscriber.wait_for(3 * max_pending - 1) == [-1, *range(3 * max_pending)]
