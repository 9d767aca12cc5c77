"""The app served by uvicorn in the end-to-end tests; gates let a test hold a handler open."""

from __future__ import annotations

import asyncio
from typing import Any

from socketapi import Channel, SocketAPI, on_event

app = SocketAPI()
gates: dict[str, asyncio.Event] = {}


def gate(key: str) -> asyncio.Event:
    return gates.setdefault(key, asyncio.Event())


@app.action("add_numbers")
async def add_numbers(a: int, b: int) -> int:
    return a + b


@app.channel("chat")
async def chat(message: str = "Welcome") -> dict[str, str]:
    return {"message": message}


@app.action("send_message")
async def send_message(message: str) -> None:
    await chat(message=message)


@app.action("block")
async def block(key: str) -> str:
    """Answers only once another frame released ``key``: a handler as slow as the test wants."""
    await gate(key).wait()
    return f"released {key}"


@app.action("release")
async def release(key: str) -> None:
    gate(key).set()


class Room(Channel):
    topic = "room:{name}"

    async def join(self, name: str, nick: str) -> dict[str, str]:
        self.nick = nick
        self.seen: list[int] = []
        await self.broadcast_monitor("joined", None)
        return {"nick": nick}

    @on_event("wait")
    async def wait(self, key: str) -> str:
        await gate(key).wait()
        return f"released {key}"

    @on_event("note")
    async def note(self, n: int) -> list[int]:
        self.seen.append(n)
        return self.seen

    async def leave(self, reason: str) -> None:
        await self.broadcast_monitor("left", reason)

    async def broadcast_monitor(self, what: str, reason: str | None) -> None:
        await app.broadcast("monitor", {what: self.nick, "room": self.topic_name, "reason": reason})


class Monitor(Channel):
    topic = "monitor"

    async def handle_in(self, event: str, payload: dict[str, Any]) -> Any:
        return {"sockets": app.socket_count, "subscriptions": app.subscription_count, "topics": app.hub.topics}


app.register(Room, Monitor)
