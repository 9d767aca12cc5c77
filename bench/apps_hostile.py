"""The app ``bench/hostile.py`` attacks: slow and fat handlers, many channels, a broadcast to listen to.

Only public API of socketapi 0.3 (so the same file measures any revision). Limits come from
``HOSTILE_LIMITS`` (JSON keyword arguments of ``SocketAPI``); ``leave`` hooks append
``topic reason`` lines to the file named by ``HOSTILE_LEAVE_LOG``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from socketapi import Channel, SocketAPI, on_event

app = SocketAPI(**json.loads(os.environ.get("HOSTILE_LIMITS", "{}")))
LEAVE_LOG = Path(os.environ.get("HOSTILE_LEAVE_LOG", os.devnull))
marks: list[str] = []


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@app.action("stats")
async def stats() -> dict[str, Any]:
    return {
        "sockets": app.socket_count,
        "subscriptions": app.subscription_count,
        "tasks": len(asyncio.all_tasks()),
        "rss_kib": rss_kib(),
        "fds": len(os.listdir("/proc/self/fd")),
        "marks": marks,
    }


@app.action("sleep")
async def sleep(seconds: float = 5.0, pad: Any = None) -> None:
    await asyncio.sleep(seconds)


@app.action("echo")
async def echo(value: Any = None) -> Any:
    return value


@app.action("number")
async def number(x: float) -> float:
    return x


@app.action("difference")
async def difference(a: float, b: float) -> float:
    return a - b  # inf - inf is NaN


@app.action("mark")
async def mark(name: str) -> None:
    """Leaves a trace that the server executed this frame."""
    marks.append(name)


@app.action("shout")
async def shout(topic: str, value: Any = None, count: int = 1, size: int = 0) -> int:
    for i in range(count):
        await app.broadcast(topic, {"i": i, "value": value, "pad": "x" * size})
    return count


class Room(Channel):
    topic = "room:{name}"

    async def join(self, name: str) -> None:
        self.name = name

    @on_event("work")
    async def work(self, seconds: float = 5.0, pad: Any = None) -> None:
        await asyncio.sleep(seconds)

    async def leave(self, reason: str) -> None:
        await asyncio.to_thread(append_line, f"{self.topic_name} {reason}")


def append_line(line: str) -> None:
    with LEAVE_LOG.open("a") as log:
        log.write(line + "\n")


app.register(Room)
