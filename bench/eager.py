#!/usr/bin/env python3
"""What starting each write by hand buys, over a real task per write: one broadcast to N sockets.

    python bench/eager.py [--sockets 1000] [--rounds 200]

In-process, no network: each socket's link writes the way uvicorn's ``send`` does when the
client keeps up (an already-set event awaited, then a buffer append). ``eager`` sockets start
that coroutine by hand (``socketapi._eager.start``, what the ASGI transport does for uvicorn);
``task`` sockets run it as a real task (``_eager.start_task``, what it does for any other server).
Prints the time per broadcast for both in one run, and their ratio; rounds alternate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Coroutine
from typing import Any

from socketapi.connection import Socket
from socketapi.pubsub.hub import WriteBacklog
from socketapi.settings import Limits


class Written:
    """Frames written by all sockets of a kind; ``done`` is set when ``target`` is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


class FakeServerSide:
    """The shape of uvicorn's send on its fast path: wait until writable (already), then write."""

    def __init__(self, eager: bool, written: Written) -> None:
        self.eager = eager
        self.writable = asyncio.Event()
        self.writable.set()
        self.written = written

    async def _send(self, message: dict[str, object]) -> None:
        await self.writable.wait()
        self.written.add()

    def send_text(self, text: str) -> Coroutine[Any, Any, None]:
        return self._send({"type": "websocket.send", "text": text})

    def send_close(self, code: int, reason: str) -> Coroutine[Any, Any, None]:
        return self._send({"type": "websocket.close", "code": code, "reason": reason})


async def broadcast_time(sockets: list[Socket], written: Written, frame: str) -> float:
    written.target = written.count + len(sockets)
    written.done.clear()
    start = time.perf_counter()
    for socket in sockets:
        socket.send_frame(frame)
    await written.done.wait()  # every frame written (the eager ones already are)
    return time.perf_counter() - start


async def main(n: int, rounds: int) -> None:
    limits, backlog = Limits(), WriteBacklog()
    written = {kind: Written() for kind in ("eager", "task")}
    kinds = {
        kind: [Socket({}, FakeServerSide(kind == "eager", written[kind]), limits, backlog) for _ in range(n)]
        for kind in written
    }
    frame = '{"type":"data","channel":"chat","data":{"message":"hello"}}'
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, sockets in kinds.items():
            times[kind].append(await broadcast_time(sockets, written[kind], frame))
    eager, task = (statistics.median(times[k]) * 1000 for k in ("eager", "task"))
    print(f"Python {sys.version.split()[0]}, {asyncio.get_running_loop().__class__.__module__} loop, {n} sockets")
    print(f"one broadcast: eager start {eager:.2f} ms, task per write {task:.2f} ms, task/eager {task / eager:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(main(args.sockets, args.rounds))
    else:
        asyncio.run(main(args.sockets, args.rounds))
