"""The send queue over real TCP: a stuck socket is closed by frame count or by bytes, a reading one keeps up.

The server's send buffer is made small (``live(..., sndbuf=...)``) and the clients' receive
buffers too, so that a client that stops reading makes the server's writes wait after a few
KiB: the condition under which frames queue at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from socketapi import Channel, SocketAPI, on_event
from tests.live import RawSocket, live, wait_until

MiB = 1024 * 1024


def make_app(**limits: Any) -> tuple[SocketAPI, list[str]]:
    """An app with a ``feed`` channel (its ``leave`` reasons recorded) and a ``flood`` action."""
    app = SocketAPI(**limits)
    reasons: list[str] = []

    class Feed(Channel):
        topic = "feed"

        async def leave(self, reason: str) -> None:
            reasons.append(reason)

    class Ticker(Channel):
        topic = "ticker"
        overflow = "drop_oldest"

        @on_event("spam")
        async def spam(self, count: int, size: int = 0) -> None:
            """``count`` pushes to this subscriber only: they follow the channel's overflow policy too."""
            pad = "x" * size
            for i in range(count):
                await self.push("tick", {"n": i, "pad": pad})
            reasons.append("spammed")

        async def leave(self, reason: str) -> None:
            reasons.append(reason)

    class Tape(Ticker):
        """Ticker with history: its broadcasts take the same overflow policy on their own code path."""

        topic = "tape"
        history = 10

    app.register(Feed, Ticker, Tape)

    @app.action("flood")
    async def flood(topic: str, count: int, size: int = 0) -> int:
        """``count`` broadcasts in a tight loop: nothing in it waits but the broadcast itself."""
        pad = "x" * size
        for i in range(count):
            await app.broadcast(topic, {"n": i, "pad": pad})
        return count

    return app, reasons


def join(port: int, topic: str, rcvbuf: int = 4096) -> RawSocket:
    client = RawSocket(port, rcvbuf=rcvbuf)
    client.send({"type": "subscribe", "channel": topic, "ref": "join"})
    answer = client.receive()
    for position in ("offset", "epoch"):  # a channel with history says where it stands
        answer.pop(position, None)
    assert answer == {"type": "subscribed", "channel": topic, "ref": "join"}
    return client


def flood(port: int, topic: str, count: int, size: int) -> None:
    caller = RawSocket(port, rcvbuf=1 * MiB)
    caller.send({"type": "action", "channel": "flood", "data": {"topic": topic, "count": count, "size": size}})
    assert caller.receive(timeout=60)["data"] == count  # the broadcaster was never held up
    caller.close()


def numbers(texts: list[bytes]) -> list[int]:
    return [json.loads(t)["data"]["n"] for t in texts]


@pytest.mark.parametrize(
    ("limits", "what"),
    [
        ({"max_queue": 8, "max_queue_bytes": 1 * MiB}, "frames"),  # 8 small frames are far under 1 MiB
        ({"max_queue": 100_000, "max_queue_bytes": 4096}, "bytes"),
    ],
    ids=["by-frame-count", "by-bytes"],
)
def test_a_stuck_socket_is_closed_with_1013_when_its_queue_is_full(limits: dict[str, Any], what: str) -> None:
    app, reasons = make_app(**limits)
    with live(app, sndbuf=4096) as server:
        stuck = join(server.port, "feed")  # ... and now it stops reading
        flood(server.port, "feed", 2000, 100)  # 2000 frames of ~130 bytes: 260 KB, a quarter of 1 MiB
        texts, code = stuck.read_until_closed(timeout=5)
        assert code == 1013, f"not closed by the {what} limit"
        assert numbers(texts) == list(range(len(texts)))  # what it got before the close came in order
        assert len(texts) < 2000
        wait_until(lambda: reasons == ["overflow"], "leave('overflow')")
        stuck.close()
        bystander = join(server.port, "feed")  # the server carries on
        flood(server.port, "feed", 3, 0)
        assert [bystander.receive()["data"]["n"] for _ in range(3)] == [0, 1, 2]
        bystander.close()


@pytest.mark.parametrize(("how", "topic"), [("broadcast", "ticker"), ("broadcast", "tape")])
def test_a_drop_oldest_channel_keeps_a_stuck_subscriber_and_the_newest_frames(how: str, topic: str) -> None:
    app, reasons = make_app(max_queue=8, max_queue_bytes=1 * MiB)
    with live(app, sndbuf=4096) as server:
        stuck = join(server.port, topic)
        if how == "broadcast":
            flood(server.port, topic, 2000, 100)
        else:
            stuck.send({"type": "event", "channel": topic, "event": "spam", "data": {"count": 2000, "size": 100}})
        stuck.send({"type": "unsubscribe", "channel": topic, "ref": "bye"})  # not droppable: it must arrive
        frames = []
        while (frame := stuck.receive())["type"] == "data":
            frames.append(frame["data"]["n"])
        assert frame == {"type": "unsubscribed", "channel": topic, "ref": "bye"}
        assert 0 < len(frames) < 2000  # some were dropped ...
        assert frames == sorted(frames)  # ... the rest came in order ...
        assert frames[-1] == 1999  # ... the newest kept
        assert reasons == ["left"]  # never closed for overflow
        stuck.close()


def test_a_drop_oldest_channels_pushes_never_close_a_stuck_subscriber() -> None:
    """The channel's own pushes follow its overflow policy too: frames are dropped, the socket stays."""
    app, reasons = make_app(max_queue=8, max_queue_bytes=1 * MiB)
    with live(app, sndbuf=4096) as server:
        stuck = join(server.port, "ticker")
        stuck.send({"type": "event", "channel": "ticker", "event": "spam", "data": {"count": 2000, "size": 100}})
        wait_until(lambda: reasons == ["spammed"], "the 2000 pushes")
        stuck.send({"type": "unsubscribe", "channel": "ticker", "ref": "bye"})
        pushed = []
        while (frame := stuck.receive())["type"] == "data":  # a close (1013) instead fails here
            pushed.append(frame["data"]["n"])
        assert frame == {"type": "unsubscribed", "channel": "ticker", "ref": "bye"}
        assert 0 < len(pushed) < 2000  # some pushes were dropped ...
        assert pushed[-1] == 1999  # ... the newest kept
        wait_until(lambda: reasons == ["spammed", "left"], "leave('left')")
        stuck.close()
