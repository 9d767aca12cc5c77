"""The baseline: the benchmark protocol written by hand on a bare Starlette WebSocket route.

No framework, plain ``json``: one receive loop per socket, a set of ``chat`` subscribers, and a
broadcast serialized once and written to every subscriber in turn. Every other server is
measured as a ratio to this one.

Run with ``uvicorn raw_starlette:app`` from this folder.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)  # what Starlette's send_json writes
chat_subscribers: set[WebSocket] = set()

SEND_MESSAGE_DONE = dumps({"type": "action", "channel": "send_message", "status": "completed"})


def error(message: str) -> str:
    return dumps({"type": "error", "message": message})


async def broadcast_chat(message: Any) -> None:
    text = dumps({"type": "data", "channel": "chat", "data": {"message": message}})
    for subscriber in list(chat_subscribers):
        try:
            await subscriber.send_text(text)
        except Exception:  # a socket that went away mid-broadcast must not stop the others
            chat_subscribers.discard(subscriber)


async def handle(websocket: WebSocket, frame: Any) -> str | None:
    """Answer one decoded client frame; return the reply text, if any."""
    if not isinstance(frame, dict):
        return error("Frame must be a JSON object.")
    kind = frame.get("type")
    channel = frame.get("channel")
    data = frame.get("data", {})
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
            await broadcast_chat(message)
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


async def endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            try:
                frame = json.loads(text)
            except ValueError:
                reply: str | None = error("Frame is not valid JSON.")
            else:
                reply = await handle(websocket, frame)
            if reply is not None:
                await websocket.send_text(reply)
    except WebSocketDisconnect:
        pass
    finally:
        chat_subscribers.discard(websocket)


app = Starlette(routes=[WebSocketRoute("/", endpoint)])
