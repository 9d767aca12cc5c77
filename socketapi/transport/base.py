"""What every server transport shares: the app's side of a connection, the handshake rules, the input limits.

A transport owns the connection whole (handshake, read loop, writer, teardown) and does the
server-specific part itself: how frames are read and written. Everything else it needs is
here, so a second transport (one that speaks to the server without ASGI) adds I/O only:

- :class:`Endpoint`: what all connections of one app share (router, hub, limits, the
  ``on_connect`` hook, the live supervisors that shutdown and stats see);
- :func:`origin_refusal` and :func:`choose_subprotocol`: the handshake's rules (origins.py holds the policy),
  and :func:`handshake_view`: what the ``on_connect`` hook sees of the handshake, the same on every transport;
- :class:`Session`: one accepted connection, from its first frame to its teardown: the input
  limits (size, rate, idle), decoding with the connection's wire format, and the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from .. import origins
from ..connection import (
    WS_1001_GOING_AWAY,
    WS_1008_POLICY_VIOLATION,
    WS_1009_MESSAGE_TOO_BIG,
    Link,
    Socket,
)
from ..exceptions import ConnectRefused, InvalidFrame, LimitExceeded
from ..supervisor import Supervisor
from ..wire import DecodeError

if TYPE_CHECKING:
    from ..history import HistoryStore
    from ..presence import Presence
    from ..pubsub import Broadcast, Hub
    from ..router import Router
    from ..settings import Limits
    from ..types import Scope
    from ..wire import WireFormat

logger = logging.getLogger("socketapi")

ConnectHook = Callable[["WebSocket"], Awaitable[dict[str, Any] | None]]


@dataclass(eq=False)
class Endpoint:
    """What every connection of one app shares, whatever its transport or wire format."""

    router: Router
    hub: Hub
    limits: Limits
    on_connect: ConnectHook | None = None
    accepting: bool = True  # False once a shutdown began: new sockets are refused
    supervisors: set[Supervisor] = field(default_factory=set)  # live connections, until their teardown is over
    serving: set[asyncio.Future[Any]] = field(default_factory=set)  # done when each is torn down (shutdown waits)
    presence: Presence | None = None  # the app's presence (SPEC 7.2)
    history: HistoryStore | None = None  # the store of the backend's history (SPEC 7.3)


async def _not_yet(*_: Any) -> Any:
    raise RuntimeError(
        "on_connect runs before the socket is accepted: read the handshake (headers, query_params, cookies,"
        " scope) and return the assigns or raise ConnectRefused; frames are sent once it is accepted"
    )


def handshake_view(scope: Scope) -> WebSocket:
    """What ``on_connect`` receives: the handshake as a Starlette ``WebSocket`` over the connection's scope.

    Every transport builds an ASGI-shaped scope for its connections, so the hook reads ``headers``,
    ``query_params``, ``cookies``, ``url``, ``client`` and ``scope["subprotocols"]`` the same way
    whatever the server. It cannot receive or send: the socket is not accepted yet.
    """
    return WebSocket(scope, _not_yet, _not_yet)


def origin_refusal(headers: Mapping[str, str], server: Any, limits: Limits) -> str | None:
    """Why the handshake's ``Origin`` is refused (cross-site WebSocket hijacking), or ``None``.

    ``server`` is the ASGI scope's ``server``: the address the connection reached.
    """
    return origins.refusal(
        headers.get("origin"),
        headers.get("host", ""),
        (server[0], server[1]) if server else None,
        limits.allowed_origins,
    )


def choose_subprotocol(offered: list[str], limits: Limits, wire: WireFormat | None = None) -> str | None:
    """The first of the app's subprotocols, then of the wire format's, that the client offered."""
    preferred = (*limits.subprotocols, *(wire.subprotocols if wire is not None else ()))
    return next((p for p in preferred if p in offered), None)


async def run_connect_hook(endpoint: Endpoint, websocket: WebSocket) -> dict[str, Any] | None:
    """The socket's assigns, or ``None`` if it must be refused (shutting down, origin, ``on_connect``)."""
    if not endpoint.accepting:
        return None
    refused = origin_refusal(websocket.headers, websocket.scope.get("server"), endpoint.limits)
    if refused is not None:
        logger.warning("Refused a socket from origin %r: %s", websocket.headers.get("origin"), refused)
        return None
    if endpoint.on_connect is None:
        return {}
    try:
        assigns = await endpoint.on_connect(websocket)
    except ConnectRefused as exc:
        logger.info("on_connect refused a socket: %s", exc.reason)
        return None
    except Exception:
        logger.exception("on_connect raised; refusing the socket")
        return None
    return dict(assigns or {})


class Session:
    """One accepted connection, independent of the server: the input limits, decoding, the supervisor, teardown.

    The transport calls :meth:`start` once accepted, then, in its read loop, waits for
    :meth:`wait_readable` whenever :attr:`paused` is set and passes each data frame to
    :meth:`receive`; it calls :meth:`end` once the connection is gone. ``abort`` is the transport's
    way to drop the connection when the server's close could not be written in time.

    - **Inbound bounds.** Frames whose work is not finished are counted by the supervisor; at
      ``max_inflight`` frames or ``max_inflight_bytes`` bytes the session is :attr:`paused`: the
      transport stops reading, so the client's frames wait in TCP buffers, not in our memory.
    - **Closing.** Once the server decided to close the socket (overflow, idle, rate limit, a
      frame too big, shutdown), no further frame of its client is handled, and the teardown
      (actions cancelled, subscriptions removed, ``leave`` hooks with the close's reason) starts
      at once, whether or not the client ever reads the close.
    """

    __slots__ = (
        "_idle_timer",
        "_loop",
        "_max_bytes",
        "_max_chars",
        "_max_frames",
        "_max_size",
        "_rate_limit",
        "_readable",
        "_strikes",
        "_teardown",
        "_tokens",
        "endpoint",
        "last_seen",
        "paused",
        "socket",
        "supervisor",
        "wire",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        wire: WireFormat,
        encode_broadcast: Callable[[Broadcast], str],
        scope: Scope,
        link: Link,
        assigns: dict[str, Any],
        abort: Callable[[], None],
    ) -> None:
        limits = endpoint.limits
        self.endpoint = endpoint
        self.wire = wire
        self.socket = socket = Socket(scope, link, limits, endpoint.hub.backlog)
        socket.assigns.update(assigns)
        socket.on_closing = self._closing
        socket.on_abort = abort
        self.supervisor = Supervisor(
            socket,
            endpoint.router,
            endpoint.hub,
            wire,
            limits,
            encode_broadcast,
            presence=endpoint.presence,
            history=endpoint.history,
        )
        self._loop = asyncio.get_running_loop()
        self._max_size = limits.max_frame_size
        self._max_chars = limits.max_frame_size // 4
        self._max_frames = limits.max_inflight
        self._max_bytes = limits.max_inflight_bytes
        self.last_seen = self._loop.time()
        self._rate_limit = limits.rate_limit
        self._tokens = float(limits.rate_limit[1]) if limits.rate_limit else 0.0
        self._strikes = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._teardown: asyncio.Task[None] | None = None
        self.paused = False  # over an inbound bound: the transport must not read until wait_readable returns
        self._readable: asyncio.Future[None] | None = None

    def start(self) -> None:
        self.endpoint.supervisors.add(self.supervisor)
        timeout = self.endpoint.limits.idle_timeout
        if timeout is not None:
            self._idle_timer = self._loop.call_later(timeout, self._check_idle)

    # -- reading ---------------------------------------------------------------------------

    def receive(self, raw: str | bytes) -> None:
        """One data frame from the client: check it against the limits, decode it, dispatch it."""
        socket = self.socket
        if socket.closing:
            return  # the server decided to close this socket: nothing it sends is handled any more
        size = len(raw)
        if size > self._max_chars:  # a character is at most 4 bytes: only a long frame needs encoding
            size = len(raw if isinstance(raw, bytes) else raw.encode())
            max_size = self._max_size
            if size > max_size:
                logger.info("Socket %s: frame of %d bytes over the %d-byte limit", socket.id, size, max_size)
                socket.close(WS_1009_MESSAGE_TOO_BIG, "Frame too large", cause="too_big")
                return
        rate_limit = self._rate_limit
        if rate_limit is not None:
            if not self._admit(rate_limit):
                self.supervisor.report(LimitExceeded("Rate limit exceeded; frame dropped.", "rate_limited"), None, None)
                return
        else:
            self.last_seen = self._loop.time()
        wire = self.wire
        try:
            frame = wire.decode(raw)
        except DecodeError as exc:
            logger.debug("Socket %s: bad frame: %s", socket.id, exc.error.message)
            socket.send_frame(wire.error(exc.error, ref=exc.ref, channel=exc.channel))
            return
        except Exception as exc:
            logger.exception("Socket %s: the wire format failed to decode a frame", socket.id)
            socket.send_frame(wire.error(InvalidFrame(f"Undecodable frame: {exc}")))
            return
        supervisor = self.supervisor
        supervisor.handle(frame, size)
        if supervisor.inflight >= self._max_frames or supervisor.inflight_bytes >= self._max_bytes:
            self._pause()

    def _pause(self) -> None:
        if not self.paused:
            logger.debug("Socket %s: inbound bound reached; not reading until work finishes", self.socket.id)
            self.paused = True
            self.supervisor.on_settled = self._settled

    def _settled(self) -> None:
        supervisor = self.supervisor
        if supervisor.inflight < self._max_frames and supervisor.inflight_bytes < self._max_bytes:
            self._resume()

    def _resume(self) -> None:
        self.paused = False
        self.supervisor.on_settled = None
        readable = self._readable
        if readable is not None and not readable.done():
            readable.set_result(None)

    async def wait_readable(self) -> None:
        """Return once the transport may read again: work finished below the bounds, or the socket is closing."""
        if not self.paused:
            return
        self._readable = self._loop.create_future()
        try:
            await self._readable
        finally:
            self._readable = None

    def _admit(self, rate_limit: tuple[float, int]) -> bool:
        """Record a client frame of a rate-limited app: refresh the idle clock and take a token."""
        now = self._loop.time()
        rate, burst = rate_limit
        self._tokens = min(float(burst), self._tokens + (now - self.last_seen) * rate)
        self.last_seen = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self._strikes += 1
        if self._strikes >= self.endpoint.limits.rate_limit_strikes:
            logger.warning("Socket %s: rate limit exceeded %d times; closing it", self.socket.id, self._strikes)
            self.socket.close(WS_1008_POLICY_VIOLATION, "Rate limit exceeded", cause="rate_limit")
        return False

    def _check_idle(self) -> None:
        timeout = self.endpoint.limits.idle_timeout
        if timeout is None or self.socket.closing:
            return
        # A listener (subscribed to a channel) is never idle: the server's pings tell whether it is alive.
        idle = 0.0 if self.supervisor.joined else self._loop.time() - self.last_seen
        if idle >= timeout:
            logger.info("Socket %s: no frame for %.0fs; closing it", self.socket.id, idle)
            self.socket.close(WS_1001_GOING_AWAY, "Idle timeout", cause="idle")
        else:
            self._idle_timer = self._loop.call_later(timeout - idle, self._check_idle)

    # -- closing and teardown ------------------------------------------------------------------

    def _closing(self) -> None:
        """The server decided to close the socket: stop handling its frames and tear down now."""
        if self._teardown is None:
            self._teardown = self._loop.create_task(self.supervisor.close(self.socket.close_cause or "closed"))
        self._resume()  # a paused reader goes back to the socket, to see the client's close

    async def end(self) -> None:
        """The connection is gone: cancel actions, run ``leave`` hooks, stop the writer (idempotent)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            await self.supervisor.close(self.socket.close_cause or "closed")
            await self.socket.stop()
        finally:
            self.endpoint.supervisors.discard(self.supervisor)  # counted until its teardown is over
