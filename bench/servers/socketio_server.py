"""The same three endpoints on python-socketio (ASGI mode), the usual Python choice for this job.

- ``add_numbers``: an event whose handler's return value is the acknowledgement (``a + b``);
- ``subscribe``: joins the room named by its argument (``"chat"``) and acknowledges ``"subscribed"``;
- ``send_message``: emits ``chat`` with ``{"message": ...}`` to the room, then acknowledges.

python-socketio encodes a room emit once and writes it to every participant.
Run with ``uvicorn socketio_server:app`` from this folder.
"""

from __future__ import annotations

from typing import Any

import socketio  # type: ignore[import-untyped]

sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
app = socketio.ASGIApp(sio)


@sio.on("add_numbers")  # type: ignore[untyped-decorator]
async def add_numbers(sid: str, data: dict[str, Any]) -> int | dict[str, str]:
    a, b = data.get("a"), data.get("b")
    if type(a) is not int or type(b) is not int:
        return {"error": "Invalid parameters for action 'add_numbers'"}
    return a + b


@sio.on("subscribe")  # type: ignore[untyped-decorator]
async def subscribe(sid: str, room: str) -> str:
    await sio.enter_room(sid, room)
    return "subscribed"


@sio.on("send_message")  # type: ignore[untyped-decorator]
async def send_message(sid: str, data: dict[str, Any]) -> str:
    await sio.emit("chat", {"message": data["message"]}, room="chat")
    return "completed"
