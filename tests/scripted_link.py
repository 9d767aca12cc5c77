"""A socketapi.client channel over a scripted connection (no server): the test plays the server's frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from socketapi.client import SocketError
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
