"""A node for the presence and history tests: memory by default, Redis when ``PH_REDIS_URL`` is set.

``PH_PREFIX`` is the Redis prefix, ``PH_NODE`` names the node in what it broadcasts, and
``PH_HEARTBEAT`` / ``PH_TIMEOUT`` shorten presence's timings so that a dead node leaves fast.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from socketapi import Channel, SocketAPI, on_event

NODE = os.environ.get("PH_NODE", "A")
REDIS_URL = os.environ.get("PH_REDIS_URL")

if REDIS_URL:
    from socketapi.pubsub.redis import RedisBackend

    app = SocketAPI(pubsub=RedisBackend(REDIS_URL, prefix=os.environ["PH_PREFIX"], max_backoff=0.2))
else:  # a script importing this module broadcasts to the server at PH_PORT
    app = SocketAPI(host="127.0.0.1", port=int(os.environ.get("PH_PORT", "8000")))

app.presence.configure(
    heartbeat=float(os.environ.get("PH_HEARTBEAT", "0.2")), timeout=float(os.environ.get("PH_TIMEOUT", "2"))
)


class Room(Channel):
    topic = "room:{room_id}"
    presence = True

    async def join(self, room_id: str, user: str) -> None:
        await self.track(user, {"node": NODE})

    @on_event("status")
    async def status(self, text: str) -> bool:
        await self.update({"node": NODE, "status": text})
        return True


class Board(Channel):
    topic = "board"
    history = 100

    @on_event("post")
    async def post(self, text: str) -> bool:
        await self.broadcast("post", {"text": text, "node": NODE})
        return True

    @on_event("post_from")
    async def post_from(self, text: str) -> bool:
        await self.broadcast_from("post", {"text": text, "node": NODE})
        return True


app.register(Room, Board)


@app.channel("feed", history=1000)
async def feed(seq: int, by: str = "") -> dict[str, Any]:
    return {"seq": seq, "node": NODE, "by": by}


@app.action("publish")
async def publish(count: int, start: int = 0, pause: float = 0.0, by: str = "") -> int:
    """Broadcast ``count`` numbered messages on ``feed``, pausing between them (publishing that goes on)."""
    for seq in range(start, start + count):
        await feed(seq=seq, by=by)
        if pause:
            await asyncio.sleep(pause)
    return count


@app.action("presence")
async def presence(topic: str) -> dict[str, Any]:
    return app.presence.list(topic)


@app.action("node")
async def node() -> str:
    return NODE
