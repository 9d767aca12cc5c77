"""The ASGI application: a Starlette app whose WebSocket paths are served by the socketapi transport.

The app is what a user declares and runs: registration, the lifespan, broadcasting and
shutdown. Each WebSocket path is handed whole to an :class:`~socketapi.transport.ASGITransport`
with the wire format spoken there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route, WebSocketRoute

from . import _heap, relay
from .actions import Action
from .channels import Channel, ChannelFunction
from .connection import WS_1001_GOING_AWAY
from .exceptions import RelayError
from .history import HistoryStore, history_for
from .presence import Presence
from .pubsub import Broadcast, Hub, InMemoryBackend, PubSubBackend, backend_from_url
from .router import Router
from .schema.page import SchemaEndpoints
from .settings import Limits, OverflowPolicy
from .static import client_routes
from .supervisor import Supervisor
from .transport import ASGITransport, ConnectHook, Endpoint
from .types import JSON, Receive, Scope, Send
from .wire import JSONWire, PhoenixWire, WireFormat

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

SHUTDOWN_MARGIN = 1.0  # seconds past the shutdown deadline for the cancelled leave hooks to unwind

logger = logging.getLogger("socketapi")


class SocketAPI(Starlette):
    """A WebSocket API: actions and channels multiplexed over one socket at ``path``.

    Args:
        host, port: where the server listens, as in 0.2.0: a script that imports the app and
            broadcasts without serving reaches the server there (see docs/scaling.md);
            ``socketapi run`` serves there by default.
        broadcast_allowed_hosts: source addresses allowed to hand broadcasts in from outside
            (``None`` or ``"*"`` for any); a signature is required as well, whatever the address.
        broadcast_secret: the key that signs broadcasts from outside, for workers on other
            machines (or ``SOCKETAPI_BROADCAST_SECRET``); by default the server creates one at
            startup in a file only its user can read.
        pubsub: the backend that carries broadcasts between processes: an instance, or a
            URL (``"memory://"``, ``"redis://host:6379"``); defaults to
            :class:`InMemoryBackend` (one process, no service needed).
        path: where the WebSocket is served (socketapi's own protocol, docs/protocol.md).
        phoenix_path: where the same actions' channels are served in the Phoenix Channels
            format (V2 JSON), for the official ``phoenix`` client: ``new Socket("ws://HOST/socket")``
            connects to ``/socket/websocket``; ``None`` turns it off (docs/phoenix.md).
        on_connect: ``async def hook(websocket) -> assigns | None`` run at the handshake, before
            the socket is accepted; raise :class:`ConnectRefused` (or anything) to refuse it with 403.
        graceful_shutdown: on SIGTERM/SIGINT, close every socket with 1001 and run ``leave``
            hooks with ``"shutdown"`` before the server goes on with its own shutdown.
        routes: extra Starlette routes (HTTP endpoints beside the socket).
        serve_client: serve the JavaScript client at ``/socketapi.js`` and its types at
            ``/socketapi.d.ts`` (HTTP GET); ``False`` turns both off. A route of ``routes`` with
            the same path wins.
        asyncapi: serve the API's description at ``/asyncapi`` (a page) and ``/asyncapi.json``
            (its AsyncAPI 3.0 document), with ``title`` and ``version`` (docs/asyncapi.md).

    Every other keyword is a limit of :class:`~socketapi.settings.Limits`, with its default there.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 8000,
        broadcast_allowed_hosts: Sequence[str] | None = ("127.0.0.1", "::1", "localhost"),
        *,
        broadcast_secret: str | bytes | None = None,
        pubsub: PubSubBackend | str | None = None,
        path: str = "/",
        phoenix_path: str | None = "/socket/websocket",
        on_connect: ConnectHook | None = None,
        graceful_shutdown: bool = True,
        routes: Sequence[BaseRoute] | None = None,
        serve_client: bool = True,
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
        max_inflight: int = Limits.max_inflight,
        max_inflight_bytes: int = Limits.max_inflight_bytes,
        close_timeout: float = Limits.close_timeout,
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
            max_inflight=max_inflight,
            max_inflight_bytes=max_inflight_bytes,
            close_timeout=close_timeout,
            hide_error_details=hide_error_details,
            shutdown_timeout=shutdown_timeout,
            subprotocols=tuple(subprotocols),
        )
        self.path = path
        self.server_host = host  # 0.2.0's names (Starlette's own `host` is a method)
        self.server_port = port
        self.broadcast_allowed_hosts = tuple(broadcast_allowed_hosts) if broadcast_allowed_hosts is not None else None
        self.endpoints = Router(broadcaster=self)
        if isinstance(pubsub, str):
            pubsub = backend_from_url(pubsub)
        self._broadcast_secret = broadcast_secret
        self.hub = Hub(
            pubsub if pubsub is not None else InMemoryBackend(),
            outside=relay.OutsideRelay(host, port, broadcast_secret),
        )
        self._relay_verifier = relay.Verifier(self.broadcast_allowed_hosts)
        self.presence = Presence(self.hub)  # app.presence.list(topic); timings: app.presence.configure(...)
        self.history: HistoryStore | None = history_for(self.hub.backend)
        self.graceful_shutdown = graceful_shutdown
        self._endpoint = Endpoint(
            self.endpoints, self.hub, self.limits, on_connect, presence=self.presence, history=self.history
        )
        self._sockets: dict[str, ASGITransport] = {}  # WebSocket path -> the transport serving it
        self._shutting_down = False
        self._shutdown_deadline: float | None = None  # loop time: set by the first shutdown, shared by every later one
        self._shutdown_waits: set[asyncio.Timeout] = set()  # the shutdowns waiting: a second signal ends them now
        relay_route = Route(relay.PATH, relay.endpoint(self._relay_verifier, self._publish_relayed), methods=["POST"])
        client = client_routes() if serve_client else []  # after the user's routes: one of theirs wins
        self.schema = SchemaEndpoints(self.endpoints, title=title, version=version, path=path)
        schema_routes = self.schema.routes() if asyncapi else []
        all_routes = [relay_route, *(routes or []), *client, *schema_routes]
        super().__init__(debug=debug, routes=all_routes, lifespan=self._lifespan)
        self.add_socket(path, JSONWire())
        if phoenix_path is not None:
            self.add_socket(phoenix_path, PhoenixWire())

    def add_socket(self, path: str, wire: WireFormat) -> None:
        """Serve the same actions and channels at another WebSocket ``path``, speaking ``wire``.

        Every path shares the app's handlers, hub and limits; a broadcast is encoded once per
        wire format, whatever the number of subscribers speaking it.
        """
        if path in self._sockets:
            raise ValueError(f"A socket is already served at {path!r}")
        transport = self._sockets[path] = ASGITransport(self._endpoint, wire)
        self.router.routes.insert(len(self._sockets) - 1, WebSocketRoute(path, transport))

    @property
    def sockets(self) -> Mapping[str, ASGITransport]:
        """The WebSocket paths served, each with its transport (endpoint, wire format, shared encoder)."""
        return MappingProxyType(self._sockets)

    async def serve(
        self, host: str | None = None, port: int | None = None, *, transport: str = "direct", **options: Any
    ) -> None:
        """Serve this app until SIGTERM/SIGINT: ``await app.serve("0.0.0.0", 8000)``.

        ``transport="direct"`` (the default) serves the WebSocket paths on picows without an ASGI
        server (``pip install 'socketapi[fast]'``); ``"asgi"`` runs uvicorn. See docs/transports.md.
        """
        from .serving import serve_async

        await serve_async(self, host, port, transport=transport, **options)

    @property
    def on_connect(self) -> ConnectHook | None:
        """The handshake hook (see the class docstring)."""
        return self._endpoint.on_connect

    @on_connect.setter
    def on_connect(self, hook: ConnectHook | None) -> None:
        self._endpoint.on_connect = hook

    @property
    def supervisors(self) -> set[Supervisor]:
        """The supervisors of the sockets connected to this process, until their teardown is over."""
        return self._endpoint.supervisors

    # -- declaring (sugar over the router) -------------------------------------------------

    def action(self, name: str) -> Callable[[F], F]:
        """Declare an action: ``@app.action("add_numbers")``."""
        return self.endpoints.action(name)

    def channel(
        self, name: str, default_response: bool = False, *, history: int | None = None, history_ttl: float | None = None
    ) -> Callable[[Callable[P, Awaitable[R]]], ChannelFunction[P, R]]:
        """Declare a channel: ``@app.channel("chat")``; calling the function broadcasts its result.

        ``history=N`` keeps the topic's last N broadcasts for recovery (``history_ttl`` seconds).
        """
        return self.endpoints.channel(name, default_response, history=history, history_ttl=history_ttl)

    def register(self, *classes: type[Channel] | type[Action]) -> None:
        """Register ``Channel`` and ``Action`` subclasses."""
        self.endpoints.register(*classes)

    def include_router(self, router: Router) -> None:
        """Mount a :class:`Router`'s actions and channels; its channel functions broadcast through this app."""
        self.endpoints.include_router(router)

    # -- broadcasting ----------------------------------------------------------------------

    async def broadcast(self, topic: str, data: JSON = None, *, event: str | None = None) -> None:
        """Send ``data`` to every subscriber of ``topic`` (every node, through the pub/sub backend)."""
        policy = self.endpoints.history_of(topic)
        hub = self.hub
        outside = not hub.serving and hub.outside is not None and not hub.backend.reaches_other_processes
        if policy is not None and self.history is not None and not outside:
            await self.history.publish(hub, Broadcast.encode(topic, data, event), policy)
            return
        await hub.publish(Broadcast.encode(topic, data, event))  # from outside, the server records it

    async def _publish_relayed(self, message: Broadcast) -> None:
        """A broadcast a script handed to this server: recorded here if its topic keeps history."""
        policy = self.endpoints.history_of(message.topic)
        if policy is not None and self.history is not None:
            message.offset = None
            await self.history.publish(self.hub, message, policy)
            return
        await self.hub.publish(message)

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

        One deadline, ``shutdown_timeout`` seconds after the first call (every later call shares
        it): the ``leave`` hooks still running then are cancelled, and this returns at most
        :data:`SHUTDOWN_MARGIN` seconds later, whatever the clients and the hooks do.
        """
        loop = asyncio.get_running_loop()
        self._shutting_down = True
        self._endpoint.accepting = False
        if self._shutdown_deadline is None:
            self._shutdown_deadline = loop.time() + self.limits.shutdown_timeout
        supervisors = list(self.supervisors)
        if supervisors:
            logger.info("Shutting down %d socket(s)", len(supervisors))
        for supervisor in supervisors:
            supervisor.socket.close(WS_1001_GOING_AWAY, "Server shutting down", cause="shutdown")
        waiting = asyncio.timeout_at(self._shutdown_deadline)
        with contextlib.suppress(TimeoutError):
            async with waiting:
                self._shutdown_waits.add(waiting)
                try:
                    await asyncio.gather(*(s.close("shutdown") for s in supervisors), return_exceptions=True)
                    if self._endpoint.serving:
                        await asyncio.wait(set(self._endpoint.serving))
                finally:
                    self._shutdown_waits.discard(waiting)
        if waiting.expired():
            logger.warning("Shutdown deadline: cancelling the leave hooks still running")
            for supervisor in supervisors:
                supervisor.cut_short()
        if self._endpoint.serving:  # the cancelled hooks unwind, the connections end
            await asyncio.wait(set(self._endpoint.serving), timeout=SHUTDOWN_MARGIN)

    def _cut_shutdown_short(self) -> None:
        """A second signal: the shutdown's deadline is now (the hooks still running are cancelled)."""
        now = asyncio.get_running_loop().time()
        self._shutting_down = True
        self._shutdown_deadline = min(now, self._shutdown_deadline or now)
        for waiting in list(self._shutdown_waits):
            waiting.reschedule(now)

    def _chain_signal_handlers(self) -> Callable[[], None]:
        """Run :meth:`shutdown` before the ASGI server's own SIGTERM/SIGINT handling, and chain to it."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        installed: dict[int, Any] = {}

        def make_handler(previous: Callable[[int, Any], Any]) -> Callable[[int, Any], None]:
            def handler(signum: int, frame: Any) -> None:
                if self._shutting_down:  # a second signal: no more waiting
                    loop.call_soon_threadsafe(self._cut_shutdown_short)
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
        _heap.settle_mmap_threshold()  # (socket reads served from the heap: see socketapi/_heap.py)
        self.hub.serving = True  # also when an outer app runs this lifespan for a mounted socket
        # Served again after a shutdown (a test client entered twice): sockets are welcome again.
        self._shutting_down, self._shutdown_deadline, self._endpoint.accepting = False, None, True
        await self.hub.start()
        key_file = self._open_relay()
        if self.endpoints.has_presence:
            await self.presence.start()
        restore = self._chain_signal_handlers() if self.graceful_shutdown else (lambda: None)
        try:
            yield
        finally:
            restore()
            await self.shutdown()
            await self.presence.stop()
            await self.hub.stop()
            if key_file is not None:
                key_file.remove()
            if self.history is not None:
                await self.history.close()

    def _open_relay(self) -> relay.KeyFile | None:
        """Set the key broadcasts from outside are signed with; the key file written, if any."""
        secret = relay.explicit_secret(self._broadcast_secret)
        if secret is not None:
            self._relay_verifier.key = secret
            return None
        if self.hub.backend.reaches_other_processes:
            return None  # scripts broadcast through the broker
        try:
            key_file = relay.KeyFile(self.server_host, self.server_port)
        except (OSError, RelayError) as exc:
            logger.warning("Broadcasts from scripts will not reach this server: no key file (%s)", exc)
            return None
        self._relay_verifier.key = key_file.key
        return key_file

    # -- serving -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.hub.serving = True  # this process serves the app: its broadcasts are delivered here
        if scope["type"] == "websocket" and not self.user_middleware and not scope.get("root_path"):
            transport = self._sockets.get(scope["path"])
            if transport is not None:
                # No middleware of the user's to run: skip Starlette's own error and exception layers,
                # which would otherwise wrap every frame sent to this socket in one more coroutine.
                scope["app"] = self
                await transport(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
