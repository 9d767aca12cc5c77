"""The app the client tests (JavaScript and Python) talk to, served by a real uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket

from socketapi import Channel, ConnectRefused, JoinRefused, SocketAPI, on_event


async def check_token(websocket: WebSocket) -> dict[str, Any]:
    """Refuse ``?token=bad`` at the handshake (HTTP 403): the client must back off, not hammer."""
    if websocket.query_params.get("token") == "bad":
        raise ConnectRefused("bad token")
    return {}


app = SocketAPI(on_connect=check_token)


@app.action("add")
async def add(a: int, b: int) -> int:
    return a + b


@app.action("fail")
async def fail(why: str = "boom") -> None:
    raise RuntimeError(why)


@app.action("sleep")
async def sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@app.action("nothing")
async def nothing() -> None:
    return None


@app.channel("news")
async def news(headline: str) -> dict[str, str]:
    return {"headline": headline}


@app.action("publish")
async def publish(headline: str) -> None:
    await news(headline=headline)


class Room(Channel):
    topic = "room:{room_id}"

    async def join(self, room_id: int, nick: str) -> dict[str, Any]:
        if not nick:
            raise JoinRefused("A nickname is required.", data={"field": "nick"})
        self.nick = nick
        return {"room": room_id, "nick": nick}

    @on_event("shout")
    async def shout(self, text: str) -> dict[str, bool]:
        await self.broadcast("shout", {"from": self.nick, "text": text})
        return {"ok": True}

    @on_event("wave")
    async def wave(self) -> None:
        """Returns nothing: no reply is sent (Phoenix's :noreply)."""

    @on_event("whoami")
    async def whoami(self) -> dict[str, str]:
        return {"nick": self.nick}


app.register(Room)
