"""The app of the hardening tests; its limits come from SOCKETAPI_TEST_LIMITS (JSON) so each test picks its own."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

from starlette.websockets import WebSocket

from socketapi import Channel, ConnectRefused, Depends, SocketAPI, on_event
from socketapi.connection import Socket

_handler = logging.StreamHandler()
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))  # level names, for the log checks
logging.getLogger("socketapi").setLevel(logging.DEBUG)
logging.getLogger("socketapi").addHandler(_handler)

limits: dict[str, Any] = json.loads(os.environ.get("SOCKETAPI_TEST_LIMITS", "{}"))
if "rate_limit" in limits:
    limits["rate_limit"] = tuple(limits["rate_limit"])
LEAVE_LOG = os.environ.get("SOCKETAPI_TEST_LEAVE_LOG")


async def authenticate(websocket: WebSocket) -> dict[str, Any] | None:
    if os.environ.get("SOCKETAPI_TEST_AUTH") != "1":
        return None
    token = websocket.query_params.get("token")
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith("token."):
            token = offered.removeprefix("token.")
    if token not in {"ann-token", "bob-token"}:
        raise ConnectRefused("bad token")
    return {"user": token.removesuffix("-token")}


app = SocketAPI(on_connect=authenticate, **limits)
gate = asyncio.Event()
marks: list[str] = []  # names given to `mark`: which frames the server executed


@app.channel("chat")
async def chat(message: str) -> dict[str, str]:
    return {"message": message}


@app.action("say")
async def say(message: str) -> None:
    await chat(message=message)


@app.action("flood")
async def flood(count: int, size: int = 10, start: int = 0) -> int:
    """Broadcast ``count`` messages on chat (numbered from ``start``); returns once all were handed to every
    local subscriber."""
    filler = "x" * size
    for i in range(start, start + count):
        await chat(message=f"{i}:{filler}")
    return count


@app.action("echo")
async def echo(value: Any = None) -> Any:
    return value


@app.action("block")
async def block() -> None:
    await gate.wait()


@app.action("sleep")
async def sleep(seconds: float, pad: Any = None) -> float:
    await asyncio.sleep(seconds)
    return seconds


@app.action("number")
async def number(x: float) -> float:
    return x


@app.action("difference")
async def difference(a: float, b: float) -> float:
    return a - b  # inf - inf is NaN


@app.action("mark")
async def mark(name: str) -> None:
    marks.append(name)


@app.action("shout")
async def shout(topic: str, value: Any = None, count: int = 1, size: int = 0) -> int:
    for i in range(count):
        await app.broadcast(topic, {"i": i, "value": value, "pad": "x" * size})
    return count


@app.action("boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


def current_user(socket: Socket) -> str:
    return str(socket.assigns.get("user", "anonymous"))


@app.action("whoami")
async def whoami(user: Annotated[str, Depends(current_user)]) -> str:
    return user


@app.action("stats")
async def stats() -> dict[str, Any]:
    return {
        "sockets": app.socket_count,
        "subscriptions": app.subscription_count,
        "topics": app.hub.topics,
        "tasks": len(asyncio.all_tasks()),
        "marks": marks,
        "fds": len(os.listdir("/proc/self/fd")),
    }


def append_line(path: Path, line: str) -> None:
    with path.open("a") as log:
        log.write(line + "\n")


class Room(Channel):
    topic = "room:{name}"

    async def join(self, name: str) -> None:
        self.name = name

    @on_event("ping")
    async def ping(self) -> str:
        return "pong"

    @on_event("work")
    async def work(self, seconds: float, pad: Any = None) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def leave(self, reason: str) -> None:
        if LEAVE_LOG:
            await asyncio.to_thread(append_line, Path(LEAVE_LOG), f"{self.topic_name} {reason}")


class Ticker(Channel):
    """Frames of this channel may be dropped for a slow subscriber instead of closing it."""

    topic = "ticker"
    overflow = "drop_oldest"


@app.action("tick")
async def tick(count: int, size: int = 0) -> int:
    for i in range(count):
        await app.broadcast("ticker", {"n": i, "pad": "x" * size}, event="tick")
    return count


app.register(Room, Ticker)
