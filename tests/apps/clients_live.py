"""The app of the clients' presence and recovery tests: a presence room and a topic with history.

``CLIENTS_TEST_PUBSUB`` picks the backend (a Redis URL with a prefix of the test's own, so that
history outlives a server restart); the default is in-memory.
"""

from __future__ import annotations

import os
from typing import Any

from socketapi import Channel, SocketAPI

app = SocketAPI(pubsub=os.environ.get("CLIENTS_TEST_PUBSUB") or None)


class Lobby(Channel):
    topic = "lobby:{lobby_id}"
    presence = True

    async def join(self, lobby_id: int, nick: str, device: str = "web") -> dict[str, Any]:
        await self.track(nick, {"device": device})
        return {"lobby": lobby_id}


@app.channel("feed", history=1000)
async def feed(n: int) -> dict[str, int]:
    return {"n": n}


@app.action("publish")
async def publish(start: int, count: int = 1) -> int:
    """Broadcast ``{"n": start}`` ... ``{"n": start + count - 1}`` on ``feed``, in order."""
    for n in range(start, start + count):
        await feed(n=n)
    return start + count


app.register(Lobby)
