"""A join storm: 1,000 members join one presence topic at once; what does one watcher receive?

Prints figures; it is not a test. Run from the repository root, with Redis reachable::

    python bench/presence.py [--members 1000] [--redis-url redis://127.0.0.1:6379/0]

For each setup (one node in memory; two nodes on Redis, members split evenly) and each
coalescing window (50 ms, the default, and 0: changes are still batched per event-loop turn,
the closest to Phoenix's one diff per change), it starts the node(s) serving
``bench/apps_presence.py``, subscribes a watcher on the first node, then connects every member
at once (at most 100 handshakes in flight). Each member subscribes and tracks itself. The
watcher syncs ``presence_state`` and ``presence_diff`` as phoenix.js does until it sees every
member; every member counts the frames it receives until the storm is over.

Reported: the diff frames the watcher received, the time from the first member's connect to
the watcher seeing all of them, and the presence frames all members received together (the
storm's total cost; without coalescing it grows as members squared).

Clients, nodes and Redis share this machine: figures compare setups, they are not capacities.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from socketapi.presence import sync_diff, sync_state  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def node(pubsub: str, window: float) -> Iterator[str]:
    """A uvicorn process serving the bench app; stopped by its PID."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "apps_presence:app", "--app-dir", str(ROOT / "bench")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PRESENCE_PUBSUB": pubsub, "PRESENCE_WINDOW": str(window)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not listen on {port}")
            time.sleep(0.05)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Member(asyncio.Protocol):
    """A bare WebSocket client: subscribes as ``user`` and counts the presence frames it gets."""

    def __init__(self, url: str, user: str) -> None:
        self.host, self.port = url.removeprefix("ws://").rstrip("/").split(":")
        self.user = user
        self.buffer = bytearray()
        self.handshaken = False
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send_text(self, text: str) -> None:
        assert self.transport is not None
        payload, mask = text.encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert buffer.startswith(b"HTTP/1.1 101"), bytes(buffer[:80])
            del buffer[: end + 4]
            self.handshaken = True
            self.send_text(json.dumps({"type": "subscribe", "channel": "room", "data": {"user": self.user}}))
        pos = 0
        while len(buffer) - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if len(buffer) - pos < 4:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                length, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
            if len(buffer) < start + length:
                break
            frame = bytes(buffer[start : start + length])
            pos = start + length
            if frame.startswith(b'{"type":"subscribed"'):
                self.subscribed.set_result(None)
            elif b'"event":"presence_' in frame[:80]:
                self.frames += 1
        del buffer[:pos]


async def storm(urls: list[str], members: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with connect(urls[0], max_size=None, max_queue=None, open_timeout=TIMEOUT) as watcher:
        await watcher.send(json.dumps({"type": "subscribe", "channel": "room", "data": {"user": "watcher"}}))
        state: dict[str, object] = {}
        diffs = 0

        async def until(predicate: object) -> None:
            nonlocal state, diffs
            assert callable(predicate)
            while not predicate(state):
                frame = json.loads(await asyncio.wait_for(watcher.recv(), TIMEOUT))
                if frame.get("event") == "presence_state":
                    state = sync_state(state, frame["data"])  # type: ignore[arg-type]
                elif frame.get("event") == "presence_diff":
                    diffs += 1
                    state = sync_diff(state, frame["data"])  # type: ignore[arg-type]

        await until(lambda s: "watcher" in s)
        diffs = 0
        limit = asyncio.Semaphore(100)
        transports: list[asyncio.Transport] = []
        crowd: list[Member] = []

        async def join(i: int) -> None:
            async with limit:
                member = Member(urls[i % len(urls)], f"m{i}")
                crowd.append(member)
                transport, _ = await loop.create_connection(lambda: member, member.host, int(member.port))
                transports.append(transport)
                await asyncio.wait_for(member.subscribed, TIMEOUT)

        start = time.perf_counter()
        joining = asyncio.gather(*(join(i) for i in range(members)))
        await until(lambda s: len(s) == members + 1)
        converged = time.perf_counter() - start
        await joining
        await asyncio.sleep(1.0)  # let the last windows reach every member
        total = sum(m.frames for m in crowd)
        for transport in transports:
            transport.close()
    return {"diffs": diffs, "seconds": converged, "member_frames": total}


async def run(args: argparse.Namespace) -> None:
    redis = f"{args.redis_url}{'&' if '?' in args.redis_url else '?'}prefix=bench-presence-{uuid.uuid4().hex[:8]}:"
    print(f"presence join storm: {args.members} members joining one topic at once, one watcher")
    print(
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        "clients, nodes and Redis share this machine"
    )
    print(f"{'setup':<22}{'window':>8}{'watcher diffs':>15}{'converged s':>13}{'frames to all members':>23}")
    for name, pubsub, count in (("1 node, memory", "memory://", 1), ("2 nodes, Redis", redis, 2)):
        for window in (0.05, 0.0):
            with contextlib.ExitStack() as stack:
                urls = [stack.enter_context(node(pubsub, window)) for _ in range(count)]
                await asyncio.sleep(0.5)  # the nodes find each other
                r = await storm(urls, args.members)
            print(
                f"{name:<22}{window * 1000:>6.0f}ms{r['diffs']:>15.0f}{r['seconds']:>13.2f}{r['member_frames']:>23,.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--redis-url", default=REDIS_URL)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
