"""The benchmark protocol written by hand on picows: what the direct transport's library can do.

The same three endpoints as ``raw_starlette.py``, with no framework: one listener object per
socket, each frame answered from picows's ``on_ws_frame`` callback, a broadcast serialized once
and written to every subscriber in turn. It measures the library, not socketapi.

Run with ``python raw_picows.py --port N [--loop uvloop|asyncio]`` from this folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from functools import partial
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
chat_subscribers: set[WSTransport] = set()
SEND_MESSAGE_DONE = dumps({"type": "action", "channel": "send_message", "status": "completed"}).encode()


def error(message: str) -> bytes:
    return dumps({"type": "error", "message": message}).encode()


def handle(transport: WSTransport, frame: Any) -> bytes:
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
            return dumps({"type": "action", "channel": "add_numbers", "status": "completed", "data": a + b}).encode()
        if channel == "send_message":
            message = data.get("message")
            if not isinstance(message, str):
                return error("Invalid parameters for action 'send_message'")
            text = dumps({"type": "data", "channel": "chat", "data": {"message": message}}).encode()
            for subscriber in chat_subscribers:
                subscriber.send(WSMsgType.TEXT, text)
            return SEND_MESSAGE_DONE
        return error(f"Action '{channel}' not found.")
    if kind == "subscribe":
        if channel != "chat":
            return error(f"Channel '{channel}' not found.")
        chat_subscribers.add(transport)
        return dumps({"type": "subscribed", "channel": "chat"}).encode()
    if kind == "unsubscribe":
        chat_subscribers.discard(transport)
        return dumps({"type": "unsubscribed", "channel": channel}).encode()
    return error(f"Unknown message type: {kind}.")


class Listener(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            try:
                decoded = json.loads(frame.get_payload_as_bytes())
            except ValueError:
                reply = error("Frame is not valid JSON.")
            else:
                reply = handle(transport, decoded)
            transport.send(WSMsgType.TEXT, reply)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        chat_subscribers.discard(transport)


def route(request: WSUpgradeRequest) -> Listener:
    return Listener()


async def main(host: str, port: int) -> None:
    server = await ws_create_server(route, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
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
