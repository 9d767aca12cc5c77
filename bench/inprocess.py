"""CPU per fan-out delivery with the network taken out: real uvicorn connections over fake transports.

    python bench/inprocess.py [--servers raw,socketapi] [--subscribers 1000] [--rounds 8]

Each server's ASGI app (the same two ``bench/run.py`` compares) is served by uvicorn's own
WebSocket protocol objects (``WebSocketsSansIOProtocol``, what uvicorn picks in both), each
given a transport that keeps nothing and never blocks. Subscribers join ``chat``, one socket
calls ``send_message``, and the figure is the process's CPU time per delivery over a batch of
broadcasts, best of several rounds. Everything a real server runs per delivery is in it except
the ``send`` system call and the event loop's polling: uvicorn, websockets' framing, Starlette
(raw) or socketapi, and asyncio's own Python.

The servers run one after the other in this one process, so a ratio compares code, not
machines. It counts CPU, not wall time: on a busy machine the best of the rounds still holds.
Run it with the repository's environment (socketapi, uvicorn and websockets installed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench" / "servers"))

APPS = {"raw": "raw_starlette:app", "socketapi": "example_app:app"}

HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client must send it (an all-zero mask leaves the payload as is)."""
    size = len(payload)
    header = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


class Transport(asyncio.Transport):
    """Takes every write at once and keeps only a count of them."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.closing = False
        self.waiter: tuple[asyncio.Future[None], int] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        if self.waiter is not None and self.writes >= self.waiter[1] and not self.waiter[0].done():
            self.waiter[0].set_result(None)

    def wait_writes(self, count: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiter = (future, self.writes + count)
        return future

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def measure(target: str, subscribers: int, broadcasts: int, rounds: int) -> float:
    """Best CPU microseconds per delivery over ``rounds`` batches of ``broadcasts``."""
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    module, name = target.split(":")
    app = getattr(importlib.import_module(module), name)
    config = Config(app=app, ws="websockets-sansio", lifespan="on", log_level="warning", ws_ping_interval=None)
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    state = ServerState()
    assert config.ws_protocol_class is not None

    def connect() -> tuple[Any, Transport]:
        protocol = config.ws_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg,misc]
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(HANDSHAKE)
        return protocol, transport

    async def call(protocol: Any, transport: Transport, frame: dict[str, Any], replies: int = 1) -> None:
        done = transport.wait_writes(replies)
        protocol.data_received(client_frame(json.dumps(frame).encode()))
        await asyncio.wait_for(done, 30)

    publisher, publisher_transport = connect()
    await asyncio.sleep(0.05)
    joined = []
    for _ in range(subscribers):
        protocol, transport = connect()
        joined.append((protocol, transport))
    await asyncio.sleep(0.1)
    for protocol, transport in joined:
        await call(protocol, transport, {"type": "subscribe", "channel": "chat"})
    send = {"type": "action", "channel": "send_message", "data": {"message": "hello"}}
    await call(publisher, publisher_transport, send)  # warm up every path once
    best = float("inf")
    gc.collect()
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(broadcasts):
            await call(publisher, publisher_transport, send)
        best = min(best, (time.process_time() - start) / (broadcasts * subscribers) * 1e6)
    for protocol, _ in [*joined, (publisher, publisher_transport)]:
        protocol.connection_lost(None)
    await asyncio.sleep(0.1)
    await lifespan.shutdown()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="raw,socketapi")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--passes", type=int, default=2, help="alternate the servers this many times")
    args = parser.parse_args()
    names = args.servers.split(",")
    figures: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.passes):
        for name in names:
            figures[name].append(asyncio.run(measure(APPS[name], args.subscribers, args.broadcasts, args.rounds)))
    base = min(figures[names[0]])
    for name in names:
        best = min(figures[name])
        passes = ", ".join(f"{value:.3f}" for value in figures[name])
        print(f"{name:10} {best:.3f} µs CPU per delivery (passes: {passes})  {best / base:.3f}x {names[0]}")


if __name__ == "__main__":
    main()
