"""One node of the scale-out tests: Redis from ``SCALE_REDIS_URL``, channel prefix from ``SCALE_PREFIX``.

Two uvicorn processes serving this module are two nodes of one cluster; a plain Python process
importing it and calling ``chat(...)`` broadcasts to both without serving anything.
"""

from __future__ import annotations

import os
from typing import Any

from socketapi import SocketAPI
from socketapi.pubsub.redis import RedisBackend

NODE = os.environ.get("SCALE_NODE", "script")

app = SocketAPI(
    pubsub=RedisBackend(os.environ["SCALE_REDIS_URL"], prefix=os.environ["SCALE_PREFIX"], max_backoff=0.2),
)


@app.channel("chat")
async def chat(text: str, seq: int = 0) -> dict[str, Any]:
    return {"text": text, "seq": seq, "node": NODE}


@app.channel("rooms/{room_id}")
async def room(room_id: int, text: str) -> dict[str, Any]:
    return {"room": room_id, "text": text, "node": NODE}


@app.action("burst")
async def burst(text: str, count: int = 1) -> int:
    """Broadcast ``count`` messages on ``chat``, one after the other: a single publisher's sequence."""
    for seq in range(count):
        await chat(text=text, seq=seq)
    return count


@app.action("say_in_room")
async def say_in_room(room_id: int, text: str) -> None:
    await room(room_id=room_id, text=text)
