"""The ASGI transport: one WebSocket connection served on the raw ASGI ``receive``/``send``.

An :class:`ASGITransport` is an ASGI app for one path and one wire format. It owns each
connection whole: the handshake (origin, ``on_connect``, subprotocol, accept or refuse), the
read loop, the writer's link to the server, and the teardown. It uses only the ASGI messages
of the WebSocket spec, so it runs on any ASGI server (uvicorn, hypercorn, daphne, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .. import _eager
from ..connection import WS_1008_POLICY_VIOLATION
from .base import Endpoint, Session, choose_subprotocol, handshake_view, logger, run_connect_hook

if TYPE_CHECKING:
    from ..types import Receive, Scope, Send
    from ..wire import WireFormat

# Servers whose WebSocket ``send`` may be started by hand in the caller (socketapi._eager.start):
# their send path writes to the transport and at most awaits a future or an event while writes
# are paused; it takes no timeout and asks for no current task. Any other ``send`` (another
# server, a middleware around it, the test client) is run as a real task.
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


def _write_text(send: Send, text: str) -> Awaitable[None]:
    return send({"type": "websocket.send", "text": text})  # the server's coroutine, not wrapped


class ASGILink:
    """The writer's side of an ASGI connection: text frames and the close, as ASGI messages."""

    __slots__ = ("_send", "eager")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.eager = send_is_eager_safe(send)

    @property
    def text_writer(self) -> tuple[Callable[[Send, str], Awaitable[None]], Send]:
        """(write, the server's send), read once by the socket: no tuple kept per connection."""
        return _write_text, self._send

    def send_text(self, text: str) -> Awaitable[None]:
        return _write_text(self._send, text)

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
        refused = self.wire.refuse(scope)
        if refused is not None:
            logger.info("Refused a socket at %s: %s", scope.get("path"), refused)
            assigns = None
        else:
            assigns = await run_connect_hook(endpoint, handshake_view(scope))
        if assigns is None:
            await send({"type": "websocket.close", "code": WS_1008_POLICY_VIOLATION})  # before accept: HTTP 403
            return
        subprotocol = choose_subprotocol(list(scope.get("subprotocols") or []), endpoint.limits, self.wire)
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        connection = asyncio.current_task()
        assert connection is not None
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def abort() -> None:
            # The close frame could not be written in time: stop reading and hand the connection
            # back to the server (ASGI has no abort; returning is how an app lets go of a socket).
            if not ended.done():
                ended.set_result(None)

        session = Session(endpoint, self.wire, self.encode_broadcast, scope, ASGILink(send), assigns, abort)
        session.supervisor.adopts = ADOPT
        reader = _Reader(session, receive, ended)
        endpoint.serving.add(connection)
        session.start()
        try:
            reader.start()
            await ended  # the client left, or the connection was abandoned, or a reader failed
        finally:
            reader.stop()
            try:
                await session.end()
            finally:
                endpoint.serving.discard(connection)


# Where asyncio has no eager tasks (Python < 3.12), an action runs in the task that read its
# frame until it first waits (Supervisor.adopts): most actions never wait, and then cost no task.
ADOPT = not _eager.NATIVE


class _Reader:
    """Reads one connection's frames, in a task that may be handed over to an action.

    When an action that began in the reading task waits (``Supervisor.adopted``), that task
    goes on as the action's own, to its end, and reading goes on in a new task. The
    connection's own task only waits for the end and tears down.
    """

    __slots__ = ("_ended", "_receive", "_session", "_task")

    def __init__(self, session: Session, receive: Receive, ended: asyncio.Future[None]) -> None:
        self._session = session
        self._receive = receive
        self._ended = ended
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read())

    def stop(self) -> None:
        """Stop reading (the connection is over). A task that became an action's is the supervisor's."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    async def _read(self) -> None:
        session, receive, supervisor = self._session, self._receive, self._session.supervisor
        try:
            while True:
                if session.paused:  # an inbound bound is reached: TCP pushes back until work finishes
                    await session.wait_readable()
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    session.receive(text if text is not None else message.get("bytes") or b"")
                    adopted = supervisor.adopted
                    if adopted is not None:
                        supervisor.adopted = None
                        if self._task is asyncio.current_task():
                            self.start()  # reading goes on in a new task; this one is the action's now
                        await _eager.drive(*adopted)
                        return
                elif kind == "websocket.disconnect":
                    break
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self._ended.done():
                self._ended.set_exception(exc)
            raise
        if not self._ended.done():
            self._ended.set_result(None)
