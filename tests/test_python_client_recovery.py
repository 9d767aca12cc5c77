"""socketapi.client's recovery bookkeeping on plain frames (no server): positions, since, duplicates."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from socketapi.client import Message, Rejoin, SocketError, StreamPosition
from socketapi.client.channel import Channel
from socketapi.client.link import Link


class ScriptedConnection:
    """Stands for the WebSocket: records what the client sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def last(self, kind: str) -> dict[str, Any]:
        return next(frame for frame in reversed(self.sent) if frame["type"] == kind)

    async def written(self, count: int) -> None:
        """Let the client's write tasks run until ``count`` frames were sent (bounded)."""
        for _ in range(100):
            if len(self.sent) >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"{len(self.sent)} frames sent, expected {count}")


async def settle() -> None:
    """Run the callbacks an answer scheduled (futures call their done callbacks on the next loop turns)."""
    for _ in range(3):
        await asyncio.sleep(0)


def setup() -> tuple[Link, Channel, list[SocketError]]:
    errors: list[SocketError] = []
    link = Link(timeout=1.0, while_disconnected="wait", report=errors.append)
    link.closing = False
    link.ws = cast(Any, ScriptedConnection())
    channel = Channel(cast(Any, None), link, "feed", {"since_param": "kept"})
    return link, channel, errors


async def join(link: Link, channel: Channel, **subscribed: Any) -> None:
    joining = asyncio.ensure_future(channel.join())
    ws = cast(ScriptedConnection, link.ws)
    await ws.written(1)
    assert link.answer({"type": "subscribed", "channel": "feed", "ref": ws.last("subscribe")["ref"], **subscribed})
    await joining


async def reconnect(link: Link, channel: Channel) -> ScriptedConnection:
    link.fail_all(SocketError("The connection was lost.", "disconnected"))
    link.ws = None
    channel.connection_lost(for_good=False)
    assert channel.state == "joining"
    ws = ScriptedConnection()
    link.ws = cast(Any, ws)
    channel.rejoin()
    await ws.written(1)
    return ws


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
