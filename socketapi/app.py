"""The ASGI application: a Starlette app with one WebSocket route and the socketapi engine behind it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from .actions import Action
from .channels import Channel, ChannelFunction
from .connection import OverflowPolicy, Socket
from .protocol import JSONWire, WireFormat
from .pubsub import Broadcast, Hub, InMemoryBackend, PubSubBackend, backend_from_url
from .router import Router
from .supervisor import Supervisor
from .types import JSON

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class SocketAPI(Starlette):
    """A WebSocket API: actions and channels multiplexed over one socket at ``path``.

    Args:
        pubsub: the backend that carries broadcasts between processes: an instance, or a
            URL (``"memory://"``, ``"redis://host:6379"``); defaults to
            :class:`InMemoryBackend` (one process, no service needed).
        path: where the WebSocket is served.
        max_queue: frames queued for one socket before ``overflow`` applies.
        overflow: ``"close"`` (close the slow socket with 1013) or ``"drop_oldest"``.
        routes: extra Starlette routes (HTTP endpoints beside the socket).
    """

    def __init__(
        self,
        *,
        pubsub: PubSubBackend | str | None = None,
        path: str = "/",
        max_queue: int = 256,
        overflow: OverflowPolicy = "close",
        routes: Sequence[BaseRoute] | None = None,
        debug: bool = False,
    ) -> None:
        self.endpoints = Router(broadcaster=self)
        if isinstance(pubsub, str):
            pubsub = backend_from_url(pubsub)
        self.hub = Hub(pubsub if pubsub is not None else InMemoryBackend())
        self.wire: WireFormat = JSONWire()
        self.max_queue = max_queue
        self.overflow: OverflowPolicy = overflow
        self.supervisors: set[Supervisor] = set()
        super().__init__(
            debug=debug,
            routes=[WebSocketRoute(path, self._serve), *(routes or [])],
            lifespan=self._lifespan,
        )

    # -- declaring (sugar over the router) -------------------------------------------------

    def action(self, name: str) -> Callable[[F], F]:
        """Declare an action: ``@app.action("add_numbers")``."""
        return self.endpoints.action(name)

    def channel(
        self, name: str, default_response: bool = False
    ) -> Callable[[Callable[P, Awaitable[R]]], ChannelFunction[P, R]]:
        """Declare a channel: ``@app.channel("chat")``; calling the function broadcasts its result."""
        return self.endpoints.channel(name, default_response)

    def register(self, *classes: type[Channel] | type[Action]) -> None:
        """Register ``Channel`` and ``Action`` subclasses."""
        self.endpoints.register(*classes)

    def include_router(self, router: Router) -> None:
        """Mount a :class:`Router`'s actions and channels; its channel functions broadcast through this app."""
        self.endpoints.include_router(router)

    # -- broadcasting ----------------------------------------------------------------------

    async def broadcast(self, topic: str, data: JSON = None, *, event: str | None = None) -> None:
        """Send ``data`` to every subscriber of ``topic`` (every node, through the pub/sub backend)."""
        await self.hub.publish(Broadcast.encode(topic, data, event))

    # -- introspection ---------------------------------------------------------------------

    @property
    def socket_count(self) -> int:
        return len(self.supervisors)

    @property
    def subscription_count(self) -> int:
        return sum(len(s.joined) for s in self.supervisors)

    # -- serving -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.hub.start()
        try:
            yield
        finally:
            await self.hub.stop()

    async def _serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        socket = Socket(websocket, max_queue=self.max_queue, overflow=self.overflow)
        supervisor = Supervisor(socket, self.endpoints, self.hub, self.wire)
        self.supervisors.add(supervisor)
        socket.start()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    supervisor.handle(text if text is not None else message.get("bytes") or b"")
                elif message["type"] == "websocket.disconnect":
                    break
        finally:
            self.supervisors.discard(supervisor)
            await supervisor.close("closed")
            await socket.stop()
