"""The app of tests/test_transports.py: an HTTP route beside the socket, a second socket path, small frames."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from socketapi import Channel, SocketAPI
from socketapi.wire import JSONWire

LEAVE_LOG = os.environ.get("SOCKETAPI_TEST_LEAVE_LOG")
MAX_FRAME = 4096


async def hello(request: Request) -> JSONResponse:
    answer: dict[str, Any] = {"hello": request.query_params.get("name", "world")}
    if request.method == "POST":
        answer["length"] = len(await request.body())
    return JSONResponse(answer, headers={"x-served": "yes"})


app = SocketAPI(routes=[Route("/hello", hello, methods=["GET", "POST"])], max_frame_size=MAX_FRAME)
app.add_socket("/v1", JSONWire())


@app.channel("chat")
async def chat(message: str) -> dict[str, str]:
    return {"message": message}


@app.action("say")
async def say(message: str) -> None:
    await chat(message=message)


@app.action("echo")
async def echo(value: Any = None) -> Any:
    return value


def append_line(path: Path, line: str) -> None:
    with path.open("a") as log:
        log.write(line + "\n")


class Room(Channel):
    topic = "room:{name}"

    async def join(self, name: str) -> None:
        self.name = name

    async def leave(self, reason: str) -> None:
        if LEAVE_LOG:
            await asyncio.to_thread(append_line, Path(LEAVE_LOG), f"{self.topic_name} {reason}")


app.register(Room)
