"""Fixtures for the pub/sub tests: the Redis URL, per-test channel prefixes, and clusters of nodes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from socketapi.pubsub import InMemoryBackend, MemoryBroker, PubSubBackend
from socketapi.pubsub.redis import RedisBackend
from tests.ci import unavailable

from .redis_support import REDIS_URL, RedisServer, numsub, ping, redis_server


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis: skipped without one, a failure under CI."""
    reason = ping(REDIS_URL)
    if reason is not None:
        unavailable(f"Redis is unreachable at {REDIS_URL}: {reason} (set REDIS_URL, or run redis-server)")
    return REDIS_URL


@pytest.fixture
def prefix() -> str:
    """A channel prefix of this test's own, so that parallel runs never hear each other."""
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` of this test's own, to stop and restart."""
    with redis_server() as server:
        yield server


class Cluster:
    """Backends that behave as nodes of one cluster, and a view of the broker's side."""

    def __init__(self, kind: str, redis_url: str | None = None, prefix: str = "") -> None:
        self.kind = kind
        self.redis_url = redis_url
        self.prefix = prefix
        self.broker = MemoryBroker()
        self.nodes: list[PubSubBackend] = []
        self._client = redis.Redis.from_url(redis_url) if redis_url else None

    def node(self) -> PubSubBackend:
        """A new, unconnected node."""
        backend: PubSubBackend
        if self.kind == "redis":
            assert self.redis_url is not None
            backend = RedisBackend(self.redis_url, prefix=self.prefix)
        else:
            backend = InMemoryBackend(self.broker)
        self.nodes.append(backend)
        return backend

    def subscribed_nodes(self, topic: str) -> int:
        """How many nodes the broker sends ``topic`` to right now."""
        if self._client is not None:
            return numsub(self._client, self.prefix + topic)
        return self.broker.topics.get(topic, 0)

    async def close(self) -> None:
        for backend in self.nodes:
            await backend.disconnect()
        if self._client is not None:
            self._client.close()


@pytest.fixture(params=["memory", "redis"])
async def cluster(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Cluster]:
    """Nodes on one in-process broker (``memory``) or on one Redis (``redis``)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    nodes = Cluster(request.param, url, prefix)
    yield nodes
    await nodes.close()
