"""Choosing a backend: by URL scheme or by instance, and broadcasting from a process that never serves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketapi import SocketAPI
from socketapi.exceptions import ImproperlyConfigured
from socketapi.pubsub import Hub, InMemoryBackend, backend_from_url
from socketapi.pubsub.redis import DEFAULT_PREFIX, RedisBackend

from .receivers import Collector


def test_memory_url_gives_each_backend_a_broker_of_its_own() -> None:
    first, second = backend_from_url("memory://"), backend_from_url("memory://")
    assert isinstance(first, InMemoryBackend)
    assert isinstance(second, InMemoryBackend)
    assert first.broker is not second.broker


def test_redis_url_takes_its_channel_prefix_from_the_query() -> None:
    backend = backend_from_url("redis://cache.internal:6380/2?prefix=shop:&socket_connect_timeout=1")
    assert isinstance(backend, RedisBackend)
    assert backend.prefix == "shop:"
    assert backend.where == "cache.internal:6380"
    assert backend.channel("rooms/1") == b"shop:rooms/1"


def test_rediss_url_and_the_default_prefix() -> None:
    backend = backend_from_url("rediss://:secret@cache.internal")
    assert isinstance(backend, RedisBackend)
    assert backend.prefix == DEFAULT_PREFIX
    assert "secret" not in backend.where


def test_an_explicit_prefix_wins_over_the_urls() -> None:
    assert RedisBackend("redis://localhost?prefix=url:", prefix="arg:").prefix == "arg:"


@pytest.mark.parametrize("url", ["kafka://broker:9092", "localhost:6379", ""])
def test_an_unknown_scheme_is_improperly_configured(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="expected one of memory://, redis://, rediss://"):
        backend_from_url(url)


def test_socketapi_takes_a_url_an_instance_or_nothing() -> None:
    assert isinstance(SocketAPI(pubsub="redis://localhost:6379").hub.backend, RedisBackend)
    assert isinstance(SocketAPI(pubsub="memory://").hub.backend, InMemoryBackend)
    assert isinstance(SocketAPI().hub.backend, InMemoryBackend)
    backend = InMemoryBackend()
    assert SocketAPI(pubsub=backend).hub.backend is backend


def test_a_process_that_never_serves_broadcasts_by_calling_a_channel_function(redis_url: str, prefix: str) -> None:
    app = SocketAPI(pubsub=RedisBackend(redis_url, prefix=prefix))

    @app.channel("news")
    async def news(text: str) -> dict[str, Any]:
        return {"text": text}

    async def worker() -> None:
        async with Hub(RedisBackend(redis_url, prefix=prefix)) as server:  # stands for a serving node
            subscriber = Collector()
            await server.subscribe("news", subscriber)
            assert not app.hub.running
            assert await news(text="hello") == {"text": "hello"}  # no lifespan: connects on first publish
            assert app.hub.running
            await app.broadcast("news", {"text": "again"})
            assert await subscriber.wait_for({"text": "again"}) == [{"text": "hello"}, {"text": "again"}]

    asyncio.run(worker())
    assert not app.hub.running  # disconnected when the worker's event loop shut down
