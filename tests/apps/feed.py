"""An app for tests run in a process of its own: options from SOCKETAPI_TEST_LIMITS (JSON), a ``flood`` action."""

from __future__ import annotations

import asyncio
import json
import os

from socketapi import Channel, SocketAPI

app = SocketAPI(**json.loads(os.environ.get("SOCKETAPI_TEST_LIMITS", "{}")))
reasons: list[str] = []


class Feed(Channel):
    topic = "feed"

    async def leave(self, reason: str) -> None:
        reasons.append(reason)


class SlowLeave(Channel):
    """Its ``leave`` takes 8 seconds (saving state somewhere slow): a graceful shutdown waits for it.

    SOCKETAPI_TEST_LEAVE_DELAY sets the seconds; with SOCKETAPI_TEST_LEAVE_LOG, each hook appends
    ``started <reason>`` and then ``done`` or ``cancelled`` to that file.
    """

    topic = "slow"

    async def leave(self, reason: str) -> None:
        note(f"started {reason}")
        try:
            await asyncio.sleep(float(os.environ.get("SOCKETAPI_TEST_LEAVE_DELAY", "8")))
        except asyncio.CancelledError:
            note("cancelled")
            raise
        note("done")


def note(line: str) -> None:
    path = os.environ.get("SOCKETAPI_TEST_LEAVE_LOG")
    if path:
        with open(path, "a") as log:
            log.write(line + "\n")


app.register(Feed, SlowLeave)


@app.action("flood")
async def flood(topic: str, count: int, size: int = 0) -> int:
    """``count`` broadcasts in a tight loop: nothing in it waits but the broadcast itself."""
    pad = "x" * size
    for i in range(count):
        await app.broadcast(topic, {"n": i, "pad": pad})
    return count


@app.action("leaves")
async def leaves() -> list[str]:
    return reasons


if __name__ == "__main__":
    # `python -m tests.apps.feed PORT SNDBUF`: serve with a small send buffer on every connection.
    import socket
    import sys

    import uvicorn

    port, sndbuf = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)  # accepted connections inherit it
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, loop="asyncio", log_level="warning", ws_per_message_deflate=False)
    uvicorn.Server(config).run(sockets=[sock])
