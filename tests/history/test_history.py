"""History and recovery on one node, memory backend (SPEC 7.3): offsets, epochs, ``since``, ``recovered``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from socketapi import Channel, ImproperlyConfigured, SocketAPI, on_event
from socketapi.history import HistoryPolicy, MemoryHistory, Recovery
from socketapi.pubsub import Broadcast
from socketapi.testclient import SocketSession, TestClient
from socketapi.types import StreamPosition


class Feed(Channel):
    topic = "feed:{name}"
    history = 5

    @on_event("post")
    async def post(self, text: str) -> bool:
        await self.broadcast("post", {"text": text})
        return True

    @on_event("post_from")
    async def post_from(self, text: str) -> bool:
        await self.broadcast_from("post", {"text": text})
        return True

    @on_event("whisper")
    async def whisper(self, text: str) -> bool:
        await self.push("whisper", {"text": text})
        return True


class Short(Channel):
    topic = "short"
    history = 100
    history_ttl = 0.2


def make_app() -> SocketAPI:
    app = SocketAPI()
    app.register(Feed, Short)

    @app.channel("news", history=50)
    async def news(text: str) -> dict[str, str]:
        return {"text": text}

    @app.channel("plain")
    async def plain(text: str) -> dict[str, str]:
        return {"text": text}

    @app.action("publish")
    async def publish(channel: str, count: int = 1, start: int = 0) -> int:
        for i in range(start, start + count):
            if channel == "news":
                await news(text=str(i))
            elif channel == "plain":
                await plain(text=str(i))
            else:
                await app.broadcast(channel, {"text": str(i)})
        return count

    return app


@pytest.fixture
def app() -> SocketAPI:
    return make_app()


@pytest.fixture
def client(app: SocketAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def texts_and_offsets(socket: SocketSession, topic: str, count: int) -> list[tuple[str, int]]:
    frames = [socket.receive_broadcast(topic) for _ in range(count)]
    return [(f["data"]["text"], f["offset"]) for f in frames]


def test_broadcasts_carry_offsets_and_subscribed_the_position(client: TestClient) -> None:
    with client.socket() as ann:
        first = ann.subscribe("news")
        assert first["offset"] == 0
        assert isinstance(first["epoch"], str)
        assert first["epoch"]
        assert "recovered" not in first  # no since, nothing to say
        ann.call("publish", {"channel": "news", "count": 3})
        assert texts_and_offsets(ann, "news", 3) == [("0", 1), ("1", 2), ("2", 3)]
        with client.socket() as bob:
            assert bob.subscribe("news") == {
                "type": "subscribed",
                "channel": "news",
                "offset": 3,
                "epoch": first["epoch"],
                "ref": 1,
            }


def test_topics_without_history_are_unchanged(client: TestClient) -> None:
    with client.socket() as ann:
        assert ann.subscribe("plain") == {"type": "subscribed", "channel": "plain", "ref": 1}
        ann.call("publish", {"channel": "plain"})
        assert ann.receive_broadcast("plain") == {"type": "data", "channel": "plain", "data": {"text": "0"}}


def test_since_recovers_exactly_what_was_missed_then_goes_live(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("news")
        ann.call("publish", {"channel": "news", "count": 2})
        seen = texts_and_offsets(ann, "news", 2)
    last = {"offset": seen[-1][1], "epoch": position["epoch"]}
    with client.socket() as publisher:
        publisher.call("publish", {"channel": "news", "count": 4, "start": 2})  # missed while away
        with client.socket() as ann:
            frame = ann.subscribe("news", since=last)
            assert frame["recovered"] is True
            assert frame["offset"] == 6
            assert frame["epoch"] == position["epoch"]
            publisher.call("publish", {"channel": "news", "start": 6})
            assert texts_and_offsets(ann, "news", 5) == [("2", 3), ("3", 4), ("4", 5), ("5", 6), ("6", 7)]
            assert ann.pending == []


def test_since_the_latest_offset_recovers_nothing_and_says_so(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("news")
        ann.call("publish", {"channel": "news", "count": 2})
        texts_and_offsets(ann, "news", 2)
    with client.socket() as ann:
        frame = ann.subscribe("news", since={"offset": 2, "epoch": position["epoch"]})
        assert frame["recovered"] is True
        assert frame["offset"] == 2
        ann.call("publish", {"channel": "news", "start": 2})
        assert texts_and_offsets(ann, "news", 1) == [("2", 3)]


def test_recovered_false_when_the_window_has_moved_on(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("feed:a")  # history = 5
        ann.call("publish", {"channel": "feed:a", "count": 8})
        texts_and_offsets(ann, "feed:a", 8)
        frame = ann.subscribe("feed:b")
    with client.socket() as ann:
        kept = ann.subscribe("feed:a", since={"offset": 3, "epoch": position["epoch"]})  # 4..8 still held
        assert kept["recovered"] is True
        assert [o for _, o in texts_and_offsets(ann, "feed:a", 5)] == [4, 5, 6, 7, 8]
    with client.socket() as ann:
        lost = ann.subscribe("feed:a", since={"offset": 2, "epoch": position["epoch"]})  # 3 is gone
        assert lost["recovered"] is False
        assert lost["offset"] == 8
        ann.call("publish", {"channel": "feed:a", "start": 8})
        assert texts_and_offsets(ann, "feed:a", 1) == [("8", 9)]  # no replay: the live ones only
        assert frame["epoch"] != position["epoch"]  # each topic has its own epoch


def test_recovered_false_when_the_epoch_is_unknown(client: TestClient, app: SocketAPI) -> None:
    with client.socket() as ann:
        ann.subscribe("news")
        ann.call("publish", {"channel": "news", "count": 2})
        texts_and_offsets(ann, "news", 2)
        with TestClient(make_app()) as restarted, restarted.socket() as again:  # a new process: a new epoch
            frame = again.subscribe("news", since={"offset": 1, "epoch": ann.subscribe("news")["epoch"]})
            assert frame["recovered"] is False
            assert frame["offset"] == 0
        frame = ann.subscribe("feed:x", since={"offset": 0, "epoch": "no-such-epoch"})
        assert frame["recovered"] is False


def test_recovered_false_when_history_expired(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("short")  # history_ttl = 0.2 s
        ann.call("publish", {"channel": "short", "count": 2})
        texts_and_offsets(ann, "short", 2)
    with client.socket() as publisher:
        publisher.call("publish", {"channel": "short", "start": 2})
    time.sleep(0.5)
    with client.socket() as ann:
        frame = ann.subscribe("short", since={"offset": 2, "epoch": position["epoch"]})
        assert frame["recovered"] is False
        assert frame["offset"] == 3


def test_recovered_false_for_an_offset_from_the_future(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("news")
        frame = ann.subscribe("feed:z", since={"offset": 10**12, "epoch": position["epoch"]})
        assert frame["recovered"] is False
    with client.socket() as ann:
        frame = ann.subscribe("news", since={"offset": 2**63 - 1, "epoch": position["epoch"]})
        assert frame["recovered"] is False
        assert frame["offset"] == 0


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        5,
        None,
        [],
        {},
        {"offset": 1},
        {"epoch": "e"},
        {"offset": -1, "epoch": "e"},
        {"offset": 2**63, "epoch": "e"},
        {"offset": 1.5, "epoch": "e"},
        {"offset": "1", "epoch": "e"},
        {"offset": True, "epoch": "e"},
        {"offset": 1, "epoch": 7},
        {"offset": 1, "epoch": None},
        {"offset": 1, "epoch": "e" * 300},
        {"offset": 1, "epoch": "e", "extra": 1},
    ],
    ids=repr,
)
def test_bad_since_is_an_invalid_frame_and_the_socket_carries_on(client: TestClient, since: Any) -> None:
    with client.socket() as ann, client.socket() as bob:
        bob.subscribe("news")
        ann.send({"type": "subscribe", "channel": "news", "since": since, "ref": "bad"})
        assert ann.receive() == {
            "type": "error",
            "message": '\'since\' must be an object {"offset": integer >= 0, "epoch": string}.',
            "code": "invalid_frame",
            "ref": "bad",
            "channel": "news",
        }
        ann.call("publish", {"channel": "news"})  # not subscribed: nothing arrives; bob gets it
        assert texts_and_offsets(bob, "news", 1) == [("0", 1)]
        assert ann.subscribe("news")["offset"] == 1  # and the socket subscribes fine afterwards
        ann.call("publish", {"channel": "news", "start": 1})
        assert texts_and_offsets(ann, "news", 1) == [("1", 2)]


def test_since_on_a_channel_without_history_is_recovered_false(client: TestClient) -> None:
    with client.socket() as ann:
        frame = ann.subscribe("plain", since={"offset": 3, "epoch": "e"})
        assert frame == {"type": "subscribed", "channel": "plain", "recovered": False, "ref": 1}


def test_pushes_carry_no_offset_and_are_not_kept(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("feed:p")
        assert ann.receive_reply(ann.push("feed:p", "whisper", {"text": "psst"})) is True
        assert ann.receive_broadcast("feed:p", "whisper") == {
            "type": "data",
            "channel": "feed:p",
            "event": "whisper",
            "data": {"text": "psst"},
        }
        assert ann.receive_reply(ann.push("feed:p", "post", {"text": "hello"})) is True
        assert ann.receive_broadcast("feed:p", "post")["offset"] == 1
    with client.socket() as ann:
        frame = ann.subscribe("feed:p", since={"offset": 0, "epoch": position["epoch"]})
        assert frame["recovered"] is True
        assert ann.receive_broadcast("feed:p") == {
            "type": "data",
            "channel": "feed:p",
            "event": "post",
            "offset": 1,
            "data": {"text": "hello"},
        }
        ann.call("publish", {"channel": "plain"})  # a marker: nothing else came before it
        assert ann.pending == []


def test_broadcast_from_skips_the_sender_and_still_takes_an_offset(client: TestClient) -> None:
    with client.socket() as ann, client.socket() as bob:
        ann.subscribe("feed:f")
        bob.subscribe("feed:f")
        assert ann.receive_reply(ann.push("feed:f", "post_from", {"text": "hi"})) is True
        assert bob.receive_broadcast("feed:f")["offset"] == 1
        assert ann.receive_reply(ann.push("feed:f", "post", {"text": "all"})) is True
        assert ann.receive_broadcast("feed:f")["offset"] == 2  # the first one never reached ann


def test_a_repeated_subscribe_gives_the_position_and_replays_nothing(client: TestClient) -> None:
    with client.socket() as ann:
        position = ann.subscribe("news")
        ann.call("publish", {"channel": "news", "count": 2})
        texts_and_offsets(ann, "news", 2)
        again = ann.subscribe("news", since={"offset": 0, "epoch": position["epoch"]})
        assert again["offset"] == 2
        assert "recovered" not in again
        ann.call("publish", {"channel": "news", "start": 2})
        assert texts_and_offsets(ann, "news", 1) == [("2", 3)]


@pytest.mark.parametrize(
    ("history", "ttl", "message"),
    [
        (-1, None, "positive number of broadcasts"),
        ("10", None, "positive number of broadcasts"),
        (True, None, "positive number of broadcasts"),
        (10, 0, "history_ttl must be positive"),
        (10, "1h", "history_ttl must be a number"),
        (None, 5, "history_ttl needs history"),
    ],
)
def test_history_options_are_checked_at_registration(history: Any, ttl: Any, message: str) -> None:
    class Bad(Channel):
        topic = "bad"

    Bad.history = history
    Bad.history_ttl = ttl
    with pytest.raises(ImproperlyConfigured, match=message):
        SocketAPI().register(Bad)
    with pytest.raises(ImproperlyConfigured, match=message):

        @SocketAPI().channel("bad", history=history, history_ttl=ttl)
        async def bad() -> None: ...


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_broadcast_landing_between_registration_and_the_read_arrives_once(
    app: SocketAPI, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """The seam, made deterministic: a broadcast is published while the returning subscriber is
    already registered for live delivery, just before (it is then in the history read too) or
    just after (it is then only in the live buffer) its history is read."""
    store = app.history
    assert isinstance(store, MemoryHistory)
    original = MemoryHistory.read

    async def read_with_a_publish_in_the_gap(
        self: MemoryHistory, topic: str, policy: HistoryPolicy, since: StreamPosition | None = None
    ) -> Recovery:
        if since is None:
            return await original(self, topic, policy, since)
        gap = Broadcast.encode(topic, {"text": "in the gap"})
        if when == "before":
            await self.publish(app.hub, gap, policy)
        recovery = await original(self, topic, policy, since)
        if when == "after":
            await self.publish(app.hub, gap, policy)
        return recovery

    monkeypatch.setattr(MemoryHistory, "read", read_with_a_publish_in_the_gap)
    with TestClient(app) as client:
        with client.socket() as ann:
            position = ann.subscribe("news")
        with client.socket() as publisher:
            publisher.call("publish", {"channel": "news", "count": 2})
        with client.socket() as ann:
            back = ann.subscribe("news", since={"offset": 0, "epoch": position["epoch"]})
            assert back["recovered"] is True
            assert back["offset"] == (3 if when == "before" else 2)
            ann.call("publish", {"channel": "news", "start": 2})
            assert texts_and_offsets(ann, "news", 4) == [("0", 1), ("1", 2), ("in the gap", 3), ("2", 4)]
            ann.call("publish", {"channel": "plain"})  # a marker: nothing after it was pending
            assert ann.pending == []


def test_a_repeated_subscribe_whose_history_read_fails_is_answered_with_the_error(
    app: SocketAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(app) as client, client.socket() as ann:
        ann.subscribe("news")

        async def broken(self: MemoryHistory, topic: str, policy: HistoryPolicy, since: Any = None) -> Recovery:
            raise RuntimeError("history store down")

        monkeypatch.setattr(MemoryHistory, "read", broken)
        ann.send({"type": "subscribe", "channel": "news", "ref": "again"})
        assert ann.receive_matching(lambda f: f.get("ref") == "again") == {
            "type": "error",
            "message": "history store down",
            "ref": "again",
            "code": "handler_error",
            "channel": "news",
        }
        ann.call("publish", {"channel": "news"})  # still subscribed, once
        assert texts_and_offsets(ann, "news", 1) == [("0", 1)]
