"""socketapi.client's recovery bookkeeping on plain frames (no server): positions, since, duplicates."""

from __future__ import annotations

from typing import Any

from socketapi.client import Message, Rejoin, StreamPosition
from tests.scripted_link import join, reconnect, settle, setup


async def test_rejoin_asks_for_what_came_after_the_last_offset_seen() -> None:
    link, channel, _ = setup()
    got: list[tuple[Any, int | None]] = []
    channel.on("data", lambda message: got.append((message.data, message.offset)))
    await join(link, channel, offset=10, epoch="e1")
    assert channel.position == StreamPosition(10, "e1")
    channel.deliver({"type": "data", "channel": "feed", "data": "a", "offset": 11})
    channel.deliver({"type": "data", "channel": "feed", "data": "b", "offset": 12})
    assert channel.position == StreamPosition(12, "e1")

    rejoins: list[Rejoin] = []
    channel.on_rejoin(rejoins.append)
    ws = await reconnect(link, channel)
    subscribe = ws.last("subscribe")
    assert subscribe["since"] == {"offset": 12, "epoch": "e1"}
    assert subscribe["data"] == {"since_param": "kept"}
    link.answer(
        {
            "type": "subscribed",
            "channel": "feed",
            "ref": subscribe["ref"],
            "offset": 14,
            "epoch": "e1",
            "recovered": True,
        }
    )
    await settle()
    assert rejoins == [Rejoin(None, True)]
    # Recovered: the position stays at 12 until the missed broadcasts arrive (a second drop mid-replay still asks).
    assert channel.position == StreamPosition(12, "e1")
    channel.deliver({"type": "data", "channel": "feed", "data": "c", "offset": 13})
    channel.deliver({"type": "data", "channel": "feed", "data": "b again", "offset": 12})  # a duplicate: dropped
    channel.deliver({"type": "data", "channel": "feed", "data": "d", "offset": 14})
    assert got == [("a", 11), ("b", 12), ("c", 13), ("d", 14)]


async def test_not_recovered_restarts_from_the_new_position() -> None:
    link, channel, _ = setup()
    await join(link, channel, offset=5, epoch="old")
    channel.deliver({"type": "data", "channel": "feed", "data": "x", "offset": 6})
    rejoins: list[Rejoin] = []
    channel.on_rejoin(rejoins.append)
    ws = await reconnect(link, channel)
    subscribe = ws.last("subscribe")
    assert subscribe["since"] == {"offset": 6, "epoch": "old"}
    link.answer(
        {
            "type": "subscribed",
            "channel": "feed",
            "ref": subscribe["ref"],
            "offset": 2,
            "epoch": "new",
            "recovered": False,
        }
    )
    await settle()
    assert rejoins == [Rejoin(None, False)]
    assert channel.position == StreamPosition(2, "new")
    messages: list[Message] = []
    channel.on("data", messages.append)
    channel.deliver({"type": "data", "channel": "feed", "data": "y", "offset": 3})
    assert [m.data for m in messages] == ["y"]


async def test_a_topic_without_history_rejoins_without_since() -> None:
    link, channel, _ = setup()
    await join(link, channel)
    assert channel.position is None
    ws = await reconnect(link, channel)
    assert "since" not in ws.last("subscribe")


async def test_a_rejoin_refused_stops_the_channel_and_is_reported() -> None:
    link, channel, errors = setup()
    await join(link, channel)
    ws = await reconnect(link, channel)
    link.answer(
        {
            "type": "error",
            "message": "Go away.",
            "code": "join_refused",
            "channel": "feed",
            "ref": ws.last("subscribe")["ref"],
        }
    )
    await settle()
    assert channel.state == "errored"
    assert [(e.message, e.code) for e in errors] == [("Go away.", "join_refused")]
    assert "feed" not in link.channels
