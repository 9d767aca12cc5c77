"""History kept in Redis, seen from one app in process: key expiry, and what an outage costs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis

from socketapi import Channel, SocketAPI
from socketapi.history import META_TTL
from socketapi.pubsub.redis import RedisBackend
from socketapi.testclient import ErrorFrameReceived, TestClient
from tests.history.test_history import Feed

from .redis_support import RedisServer


class Ticker(Channel):
    topic = "ticker"
    history = 10
    history_ttl = 1


def make_app(url: str, prefix: str) -> SocketAPI:
    app = SocketAPI(pubsub=RedisBackend(url, prefix=prefix, max_backoff=0.2))
    app.register(Ticker)

    @app.action("tick")
    async def tick(n: int) -> None:
        await app.broadcast("ticker", {"n": n})

    return app


@pytest.fixture
def cleanup(redis_client: redis.Redis, prefix: str) -> Iterator[None]:
    yield
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.mark.usefixtures("cleanup")
def test_the_broadcasts_expire_after_history_ttl_and_the_offsets_go_on(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    with TestClient(make_app(redis_url, prefix)) as client, client.socket() as ann:
        position = ann.subscribe("ticker")
        ann.call("tick", {"n": 1})
        ann.call("tick", {"n": 2})
        assert [ann.receive_broadcast("ticker")["offset"] for _ in range(2)] == [1, 2]
        assert 0 < redis_client.ttl(f"{prefix}history:ticker") <= 1
        assert META_TTL - 5 < redis_client.ttl(f"{prefix}history-meta:ticker") <= META_TTL
        time.sleep(1.5)  # past history_ttl
        assert redis_client.exists(f"{prefix}history:ticker") == 0
        with client.socket() as bob:
            back = bob.subscribe("ticker", since={"offset": 1, "epoch": position["epoch"]})
            assert back["recovered"] is False
            assert back["offset"] == 2
            assert back["epoch"] == position["epoch"]


def test_while_redis_is_down_broadcasts_arrive_without_offset_and_subscribes_fail(
    private_redis: RedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(make_app(private_redis.url, prefix)) as client, client.socket() as ann:
        position = ann.subscribe("ticker")
        ann.call("tick", {"n": 1})
        assert ann.receive_broadcast("ticker")["offset"] == 1
        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="socketapi.history"):
            ann.call("tick", {"n": 2})
            assert ann.receive_broadcast("ticker") == {"type": "data", "channel": "ticker", "data": {"n": 2}}
        assert "not recorded" in caplog.text
        with client.socket() as bob:
            with pytest.raises(ErrorFrameReceived) as error:
                bob.subscribe("ticker")
            assert "history at Redis" in error.value.message
            bob.call("tick", {"n": 3})  # the socket carries on
            private_redis.start()  # empty: the history is gone
            back = bob.subscribe("ticker", since={"offset": 1, "epoch": position["epoch"]})
            assert back["recovered"] is False
            assert back["epoch"] != position["epoch"]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_broadcast_from_on_a_channel_with_history_leaves_out_only_the_sender(
    backend: str, request: pytest.FixtureRequest, prefix: str
) -> None:
    """Over Redis a recorded broadcast reaches its own node back through the broker, in offset
    order; the subscriber ``broadcast_from`` leaves out is found again there by the name it
    travelled with, and only for that broadcast."""
    if backend == "redis":
        request.getfixturevalue("cleanup")
        board = SocketAPI(pubsub=RedisBackend(request.getfixturevalue("redis_url"), prefix=prefix))
    else:
        board = SocketAPI()
    board.register(Feed)  # history, with a 'post_from' that leaves the sender out
    with TestClient(board) as client, client.socket() as ann, client.socket() as bob:
        start = ann.subscribe("feed:board")["offset"]
        bob.subscribe("feed:board")
        assert ann.receive_reply(ann.push("feed:board", "post_from", {"text": "one"})) is True
        assert ann.receive_reply(ann.push("feed:board", "post", {"text": "two"})) is True
        seen = [bob.receive_broadcast("feed:board", "post") for _ in range(2)]
        assert [(f["offset"], f["data"]["text"]) for f in seen] == [(start + 1, "one"), (start + 2, "two")]
        mine = ann.receive_broadcast("feed:board", "post")
        assert (mine["offset"], mine["data"]["text"]) == (start + 2, "two")  # the first never reached ann
        assert board.hub.skips == {}  # the sender was found again, not left behind
