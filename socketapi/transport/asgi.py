"""The ASGI transport: one WebSocket connection served on the raw ASGI ``receive``/``send``.

An :class:`ASGITransport` is an ASGI app for one path and one wire format. It owns each
connection whole: the handshake (origin, ``on_connect``, subprotocol, accept or refuse), the
read loop, the writer's link to the server, and the teardown. It uses only the ASGI messages
of the WebSocket spec, so it runs on any ASGI server (uvicorn, hypercorn, daphne, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket

from ..connection import WS_1008_POLICY_VIOLATION
from .base import Endpoint, Session, choose_subprotocol, run_connect_hook

if TYPE_CHECKING:
    from ..types import Receive, Scope, Send
    from ..wire import WireFormat

# Servers whose WebSocket ``send`` may be started by hand in the caller (socketapi._eager.start):
# their send path writes to the transport and at most awaits a future or an event while writes
# are paused; it takes no timeout and asks for no current task. Any other ``send`` (another
# server, a middleware around it, the test client) is run as a real task.
_ABORT = "socketapi: connection abandoned"  # the cancel message that tells our abort from the server's cancel

EAGER_SEND_SERVERS = frozenset(
    {
        "uvicorn.protocols.websockets.websockets_sansio_impl",
        "uvicorn.protocols.websockets.wsproto_impl",
        "uvicorn.protocols.websockets.websockets_impl",
    }
)


def send_is_eager_safe(send: Send) -> bool:
    """Whether ``send`` is the bound method of one of :data:`EAGER_SEND_SERVERS`' protocol objects."""
    owner = getattr(send, "__self__", None)
    return owner is not None and type(owner).__module__ in EAGER_SEND_SERVERS


class ASGILink:
    """The writer's side of an ASGI connection: text frames and the close, as ASGI messages."""

    __slots__ = ("_send", "eager")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.eager = send_is_eager_safe(send)

    def send_text(self, text: str) -> Awaitable[None]:
        return self._send({"type": "websocket.send", "text": text})  # the server's coroutine, not wrapped

    def send_close(self, code: int, reason: str) -> Awaitable[None]:
        return self._send({"type": "websocket.close", "code": code, "reason": reason})


class ASGITransport:
    """Serves WebSocket connections of one app at one path, speaking one wire format."""

    def __init__(self, endpoint: Endpoint, wire: WireFormat) -> None:
        self.endpoint = endpoint
        self.wire = wire
        self.encode_broadcast = wire.broadcast  # one bound method, shared: broadcasts cache frames by it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoint
        message = await receive()
        if message["type"] != "websocket.connect":  # the client left before the handshake
            return
        assigns = await run_connect_hook(endpoint, WebSocket(scope, receive, send))
        if assigns is None:
            await send({"type": "websocket.close", "code": WS_1008_POLICY_VIOLATION})  # before accept: HTTP 403
            return
        subprotocol = choose_subprotocol(list(scope.get("subprotocols") or []), endpoint.limits)
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        task = asyncio.current_task()
        assert task is not None

        reading = True

        def abort() -> None:
            # The close frame could not be written in time: stop reading and hand the connection
            # back to the server (ASGI has no abort; returning is how an app lets go of a socket).
            if reading:  # (once the read loop is over, the teardown must not be interrupted)
                task.cancel(_ABORT)

        session = Session(endpoint, self.wire, self.encode_broadcast, scope, ASGILink(send), assigns, abort)
        endpoint.serving.add(task)
        session.start()
        try:
            while True:
                if session.paused:  # an inbound bound is reached: TCP pushes back until work finishes
                    await session.wait_readable()
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    session.receive(text if text is not None else message.get("bytes") or b"")
                elif kind == "websocket.disconnect":
                    break
        except asyncio.CancelledError as exc:
            if exc.args != (_ABORT,):
                raise
            task.uncancel()
        finally:
            reading = False
            try:
                await session.end()
            finally:
                endpoint.serving.discard(task)
