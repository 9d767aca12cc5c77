"""The benchmark protocol written by hand on the ``websockets`` library's asyncio server.

The same three endpoints as ``raw_starlette.py``, with no framework and no ASGI: one handler
task per socket reading messages, a broadcast serialized once and written with
``websockets.broadcast`` (which never waits for a slow client). It measures the library.

Run with ``python raw_websockets.py --port N [--loop uvloop|asyncio]`` from this folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from functools import partial
from typing import Any

from websockets import ConnectionClosed, broadcast
from websockets.asyncio.server import ServerConnection, serve

dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
chat_subscribers: set[ServerConnection] = set()
SEND_MESSAGE_DONE = dumps({"type": "action", "channel": "send_message", "status": "completed"})


def error(message: str) -> str:
    return dumps({"type": "error", "message": message})


def handle(websocket: ServerConnection, frame: Any) -> str:
    if not isinstance(frame, dict):
        return error("Frame must be a JSON object.")
    kind, channel, data = frame.get("type"), frame.get("channel"), frame.get("data", {})
    if not isinstance(data, dict):
        return error("Data must be a JSON object.")
    if kind == "action":
        if channel == "add_numbers":
            a, b = data.get("a"), data.get("b")
            if type(a) is not int or type(b) is not int:
                return error("Invalid parameters for action 'add_numbers'")
            return dumps({"type": "action", "channel": "add_numbers", "status": "completed", "data": a + b})
        if channel == "send_message":
            message = data.get("message")
            if not isinstance(message, str):
                return error("Invalid parameters for action 'send_message'")
            broadcast(chat_subscribers, dumps({"type": "data", "channel": "chat", "data": {"message": message}}))
            return SEND_MESSAGE_DONE
        return error(f"Action '{channel}' not found.")
    if kind == "subscribe":
        if channel != "chat":
            return error(f"Channel '{channel}' not found.")
        chat_subscribers.add(websocket)
        return dumps({"type": "subscribed", "channel": "chat"})
    if kind == "unsubscribe":
        chat_subscribers.discard(websocket)
        return dumps({"type": "unsubscribed", "channel": channel})
    return error(f"Unknown message type: {kind}.")


async def endpoint(websocket: ServerConnection) -> None:
    try:
        async for text in websocket:
            try:
                frame = json.loads(text)
            except ValueError:
                reply = error("Frame is not valid JSON.")
            else:
                reply = handle(websocket, frame)
            await websocket.send(reply)
    except ConnectionClosed:
        pass
    finally:
        chat_subscribers.discard(websocket)


async def main(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(endpoint, host, port, compression=None):
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.host, args.port))
    else:
        asyncio.run(main(args.host, args.port))
