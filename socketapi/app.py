"""The ASGI application: a Starlette app with one WebSocket route and the socketapi engine behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from .actions import Action
from .channels import Channel, ChannelFunction
from .connection import WS_1001_GOING_AWAY, WS_1008_POLICY_VIOLATION, WS_1009_MESSAGE_TOO_BIG, Socket
from .exceptions import ConnectRefused
from .protocol import JSONWire, WireFormat
from .pubsub import Broadcast, Hub, InMemoryBackend, PubSubBackend, backend_from_url
from .router import Router
from .schema.page import SchemaEndpoints
from .settings import Limits, OverflowPolicy
from .supervisor import Supervisor
from .types import JSON, Receive, Scope, Send

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

ConnectHook = Callable[[WebSocket], Awaitable[dict[str, Any] | None]]

logger = logging.getLogger("socketapi")


class SocketAPI(Starlette):
    """A WebSocket API: actions and channels multiplexed over one socket at ``path``.

    Args:
        pubsub: the backend that carries broadcasts between processes: an instance, or a
            URL (``"memory://"``, ``"redis://host:6379"``); defaults to
            :class:`InMemoryBackend` (one process, no service needed).
        path: where the WebSocket is served.
        on_connect: ``async def hook(websocket) -> assigns | None`` run at the handshake, before
            the socket is accepted; raise :class:`ConnectRefused` (or anything) to refuse it with 403.
        graceful_shutdown: on SIGTERM/SIGINT, close every socket with 1001 and run ``leave``
            hooks with ``"shutdown"`` before the server goes on with its own shutdown.
        routes: extra Starlette routes (HTTP endpoints beside the socket).
        asyncapi: serve the API's description at ``/asyncapi`` (a page) and ``/asyncapi.json``
            (its AsyncAPI 3.0 document), with ``title`` and ``version`` (docs/asyncapi.md).

    Every other keyword is a limit of :class:`~socketapi.settings.Limits`, with its default there.
    """

    def __init__(
        self,
        *,
        pubsub: PubSubBackend | str | None = None,
        path: str = "/",
        on_connect: ConnectHook | None = None,
        graceful_shutdown: bool = True,
        routes: Sequence[BaseRoute] | None = None,
        asyncapi: bool = True,
        title: str = "socketapi",
        version: str = "0.1.0",
        debug: bool = False,
        max_frame_size: int = Limits.max_frame_size,
        max_queue: int = Limits.max_queue,
        max_queue_bytes: int = Limits.max_queue_bytes,
        overflow: OverflowPolicy = Limits.overflow,
        allowed_origins: Sequence[str] | None = Limits.allowed_origins,
        idle_timeout: float | None = Limits.idle_timeout,
        max_channels: int = Limits.max_channels,
        rate_limit: tuple[float, int] | None = Limits.rate_limit,
        rate_limit_strikes: int = Limits.rate_limit_strikes,
        action_timeout: float | None = Limits.action_timeout,
        hide_error_details: bool = Limits.hide_error_details,
        shutdown_timeout: float = Limits.shutdown_timeout,
        subprotocols: Sequence[str] = Limits.subprotocols,
    ) -> None:
        self.limits = Limits(
            max_frame_size=max_frame_size,
            max_queue=max_queue,
            max_queue_bytes=max_queue_bytes,
            overflow=overflow,
            allowed_origins=tuple(allowed_origins) if allowed_origins is not None else None,
            idle_timeout=idle_timeout,
            max_channels=max_channels,
            rate_limit=rate_limit,
            rate_limit_strikes=rate_limit_strikes,
            action_timeout=action_timeout,
            hide_error_details=hide_error_details,
            shutdown_timeout=shutdown_timeout,
            subprotocols=tuple(subprotocols),
        )
        self.path = path
        self.endpoints = Router(broadcaster=self)
        if isinstance(pubsub, str):
            pubsub = backend_from_url(pubsub)
        self.hub = Hub(pubsub if pubsub is not None else InMemoryBackend())
        self.wire: WireFormat = JSONWire()
        self._encode_broadcast = self.wire.broadcast  # one bound method, shared: broadcasts cache frames by it
        self.on_connect = on_connect
        self.graceful_shutdown = graceful_shutdown
        self.supervisors: set[Supervisor] = set()
        self._serving: set[asyncio.Task[Any]] = set()
        self._shutting_down = False
        self.schema = SchemaEndpoints(self.endpoints, title=title, version=version, path=path)
        super().__init__(
            debug=debug,
            routes=[WebSocketRoute(path, self._serve), *(routes or []), *(self.schema.routes() if asyncapi else [])],
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
        """Sockets currently connected to this process."""
        return len(self.supervisors)

    @property
    def subscription_count(self) -> int:
        """Channel subscriptions currently joined on this process."""
        return sum(len(s.joined) for s in self.supervisors)

    # -- shutdown ----------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Close every socket with 1001 and run its ``leave`` hooks with ``"shutdown"``.

        Returns within ``shutdown_timeout`` seconds even if clients never answer the close.
        """
        self._shutting_down = True
        supervisors = list(self.supervisors)
        if supervisors:
            logger.info("Shutting down %d socket(s)", len(supervisors))
        for supervisor in supervisors:
            supervisor.socket.close(WS_1001_GOING_AWAY, "Server shutting down", cause="shutdown")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.limits.shutdown_timeout):
                await asyncio.gather(*(s.close("shutdown") for s in supervisors), return_exceptions=True)
                if self._serving:
                    await asyncio.wait(set(self._serving))

    def _chain_signal_handlers(self) -> Callable[[], None]:
        """Run :meth:`shutdown` before the ASGI server's own SIGTERM/SIGINT handling, and chain to it."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        installed: dict[int, Any] = {}

        def make_handler(previous: Callable[[int, Any], Any]) -> Callable[[int, Any], None]:
            def handler(signum: int, frame: Any) -> None:
                if self._shutting_down:  # a second signal: no more waiting
                    previous(signum, frame)
                    return
                self._shutting_down = True

                async def then_previous() -> None:
                    try:
                        await self.shutdown()
                    finally:
                        previous(signum, frame)

                loop.call_soon_threadsafe(lambda: loop.create_task(then_previous()))

            return handler

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if callable(previous):
                installed[sig] = previous
                signal.signal(sig, make_handler(previous))

        def restore() -> None:
            for sig, previous in installed.items():
                with contextlib.suppress(ValueError):
                    signal.signal(sig, previous)

        return restore

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.hub.start()
        restore = self._chain_signal_handlers() if self.graceful_shutdown else (lambda: None)
        try:
            yield
        finally:
            restore()
            await self.shutdown()
            await self.hub.stop()

    # -- serving -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "websocket"
            and not self.user_middleware
            and not scope.get("root_path")
            and scope["path"] == self.path
        ):
            # No middleware of the user's to run: skip Starlette's own error and exception layers,
            # which would otherwise wrap every frame sent to this socket in one more coroutine.
            scope["app"] = self
            await self._serve(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)

    def _origin_allowed(self, websocket: WebSocket) -> bool:
        origin = websocket.headers.get("origin")
        if origin is None:
            return True  # not a browser: origin checks protect browsers' users only
        allowed = self.limits.allowed_origins
        if allowed is not None:
            return "*" in allowed or origin.rstrip("/") in allowed
        host = websocket.headers.get("host", "")
        return urlsplit(origin).netloc.lower() == host.lower()

    def _choose_subprotocol(self, websocket: WebSocket) -> str | None:
        offered = websocket.scope.get("subprotocols") or []
        return next((p for p in self.limits.subprotocols if p in offered), None)

    async def _handshake(self, websocket: WebSocket) -> dict[str, Any] | None:
        """The socket's assigns, or ``None`` if it must be refused (HTTP 403)."""
        if self._shutting_down:
            return None
        if not self._origin_allowed(websocket):
            logger.info("Refused a socket from origin %r", websocket.headers.get("origin"))
            return None
        if self.on_connect is None:
            return {}
        try:
            assigns = await self.on_connect(websocket)
        except ConnectRefused as exc:
            logger.info("on_connect refused a socket: %s", exc.reason)
            return None
        except Exception:
            logger.exception("on_connect raised; refusing the socket")
            return None
        return dict(assigns or {})

    async def _serve(self, websocket: WebSocket) -> None:
        assigns = await self._handshake(websocket)
        if assigns is None:
            await websocket.close(WS_1008_POLICY_VIOLATION)  # before accept: the server answers 403
            return
        await websocket.accept(subprotocol=self._choose_subprotocol(websocket))
        socket = Socket(websocket, self.limits)
        socket.assigns.update(assigns)
        supervisor = Supervisor(socket, self.endpoints, self.hub, self.wire, self.limits, self._encode_broadcast)
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
        self.supervisors.add(supervisor)
        socket.start()
        max_size = self.limits.max_frame_size
        receive = websocket._receive  # the raw ASGI receive: Starlette's wrapper re-checks state per frame
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    raw: str | bytes = text if text is not None else message.get("bytes") or b""
                    if len(raw) > max_size // 4 and len(raw if isinstance(raw, bytes) else raw.encode()) > max_size:
                        logger.info(
                            "Socket %s: frame of %d chars over the %d-byte limit", socket.id, len(raw), max_size
                        )
                        socket.close(WS_1009_MESSAGE_TOO_BIG, "Frame too large", cause="too_big")
                        continue
                    supervisor.handle(raw)
                elif message["type"] == "websocket.disconnect":
                    break
        finally:
            try:
                await supervisor.close(socket.close_cause or "closed")
                await socket.stop()
            finally:
                self.supervisors.discard(supervisor)  # counted until its teardown is over
            if task is not None:
                self._serving.discard(task)
