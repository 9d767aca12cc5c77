"""The client socket: one WebSocket at a time, reconnected with backoff, requests matched by ``ref``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .backoff import Backoff
from .channel import Channel
from .errors import SocketError
from .link import Link

logger = logging.getLogger("socketapi.client")

SocketState = Literal["closed", "connecting", "open"]


@dataclass(frozen=True, slots=True)
class CloseInfo:
    """Told to ``on_close`` callbacks: the close code and reason, and whether a reconnect follows."""

    code: int
    reason: str
    will_reconnect: bool


class Socket:
    """A connection to a socketapi server that reconnects by itself; see :func:`connect`.

    Times are in seconds. ``while_disconnected``: ``"wait"`` (requests made while the connection
    is down wait for it, within their timeout) or ``"reject"`` (they raise ``disconnected`` at once).
    Requests made before :meth:`connect` or after :meth:`disconnect` raise ``closed``.
    ``connect_options`` go to ``websockets.asyncio.client.connect`` (``additional_headers``, ``proxy``, ...).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 10.0,
        heartbeat_interval: float | None = 15.0,
        heartbeat_timeout: float = 10.0,
        reconnect: bool = True,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen, shared safely
        while_disconnected: Literal["wait", "reject"] = "wait",
        params: dict[str, str] | None = None,
        **connect_options: Any,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.reconnect = reconnect
        self.backoff = backoff
        self.while_disconnected = while_disconnected
        self.params = params
        self.connect_options = connect_options
        self.state: SocketState = "closed"
        self._link = Link(timeout=timeout, while_disconnected=while_disconnected, report=self._report)
        self._runner: asyncio.Task[None] | None = None
        self._first_open: asyncio.Future[None] | None = None
        self._alive = asyncio.Event()  # set by every frame received: the heartbeat's proof of life
        self._drop_reason = ""
        self._callbacks: dict[str, list[Callable[[Any], object]]] = {"open": [], "close": [], "error": []}

    # -- public --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state == "open"

    async def connect(self) -> None:
        """Open the connection; return once it is open.

        Raises ``connect_failed`` when the first attempt fails; with ``reconnect`` on, the socket
        keeps trying in the background until :meth:`disconnect`.
        """
        if self.connected:
            return
        if self._runner is None or self._runner.done():
            self._link.closing = False
            self._first_open = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run(), name=f"socketapi client {self.url}")
            await asyncio.shield(self._first_open)
        else:  # reconnecting already: wait for it
            await self._link.opened.wait()

    async def disconnect(self) -> None:
        """Close for good (code 1000): no reconnect; requests still waiting raise ``closed``."""
        self._link.closing = True
        runner, self._runner = self._runner, None
        ws = self._link.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await ws.close()
        if runner is not None:
            if ws is not None:  # let it report the close to on_close and end by itself
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2):
                        await asyncio.shield(runner)
            runner.cancel()  # or stop it waiting for its next attempt
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def call(self, action: str, data: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Call an action; return its result (``None`` when the handler returned nothing)."""
        frame = await self._link.request({"type": "action", "channel": action, "data": data or {}}, timeout)
        return frame.get("data")

    def channel(self, topic: str, params: dict[str, Any] | None = None) -> Channel:
        """The channel of ``topic`` on this socket, created on first use (a channel not yet left is reused)."""
        channel = self._link.channels.get(topic)
        if channel is None:
            channel = Channel(self, self._link, topic, params or {})
            self._link.channels[topic] = channel
        return channel

    def on_open(self, callback: Callable[[], object]) -> Callable[[], None]:
        return self._listen("open", lambda _: callback())

    def on_close(self, callback: Callable[[CloseInfo], object]) -> Callable[[], None]:
        return self._listen("close", callback)

    def on_error(self, callback: Callable[[SocketError], object]) -> Callable[[], None]:
        """Error frames that answer no request, and channels that could not be rejoined."""
        return self._listen("error", callback)

    async def __aenter__(self) -> Socket:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    # -- the connection loop -------------------------------------------------------------------

    def _endpoint(self) -> str:
        if not self.params:
            return self.url
        parts = urlsplit(self.url)
        query = "&".join(q for q in (parts.query, urlencode(self.params)) if q)
        return urlunsplit(parts._replace(query=query))

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self._link.closing:
                self.state = "connecting"
                try:
                    ws = await ws_connect(
                        self._endpoint(),
                        open_timeout=self.connect_timeout,
                        ping_interval=None,  # the protocol's own ping (below) works for browsers too
                        **self.connect_options,
                    )
                except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                    self._closed(1006, f"{type(exc).__name__}: {exc}", was_open=False)
                else:
                    attempt = 0
                    code, reason = await self._serve(ws)
                    self._closed(code, reason, was_open=True)
                if self._link.closing or not self.reconnect:
                    break
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
        finally:
            self.state = "closed"
            self._link.closing = True
            self._link.fail_all(SocketError("The socket was disconnected.", "closed"))
            for channel in list(self._link.channels.values()):
                channel.connection_lost(for_good=True)
            if self._first_open is not None and not self._first_open.done():
                self._first_open.set_exception(SocketError("The socket was disconnected.", "closed"))
                self._first_open.exception()

    async def _serve(self, ws: ClientConnection) -> tuple[int, str]:
        """Run one open connection until it ends; return its close code and reason."""
        link = self._link
        link.ws = ws
        self._drop_reason = ""
        self.state = "open"
        # Channels first: requests waiting for the connection must reach the server after their subscribe.
        for channel in list(link.channels.values()):
            channel.rejoin()
        link.opened.set()
        if self._first_open is not None and not self._first_open.done():
            self._first_open.set_result(None)
        self._emit("open", None)
        heartbeat = asyncio.create_task(self._heartbeat(ws)) if self.heartbeat_interval else None
        try:
            async for text in ws:
                self._received(text)
        except ConnectionClosed:
            pass
        finally:
            link.opened.clear()
            link.ws = None
            if heartbeat is not None:
                heartbeat.cancel()
        return (ws.close_code or 1006), (self._drop_reason or ws.close_reason or "")

    async def _heartbeat(self, ws: ClientConnection) -> None:
        assert self.heartbeat_interval is not None
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self._alive.clear()
            await ws.send(json.dumps({"type": "ping", "ref": self._link.next_ref()}))
            try:
                async with asyncio.timeout(self.heartbeat_timeout):
                    await self._alive.wait()
            except TimeoutError:
                # The server stopped answering: drop the TCP connection now, a close handshake would hang too.
                self._drop_reason = "heartbeat timeout"
                if ws.transport is not None:
                    ws.transport.abort()
                return

    def _closed(self, code: int, reason: str, *, was_open: bool) -> None:
        self.state = "closed"
        closing = self._link.closing
        will_reconnect = not closing and self.reconnect
        # Requests in flight may or may not have run: tell their callers rather than guess and resend.
        self._link.fail_all(
            SocketError("The socket was disconnected.", "closed")
            if closing
            else SocketError("The connection was lost.", "disconnected")
        )
        for channel in list(self._link.channels.values()):
            channel.connection_lost(for_good=not will_reconnect)
        if not was_open and self._first_open is not None and not self._first_open.done():
            self._first_open.set_exception(SocketError(f"Could not connect to {self.url}: {reason}", "connect_failed"))
            self._first_open.exception()
        self._emit("close", CloseInfo(code, reason, will_reconnect))

    def _received(self, text: str | bytes) -> None:
        self._alive.set()  # any frame proves the connection alive
        try:
            frame = json.loads(text)
        except ValueError:
            self._report(SocketError("The server sent a frame that is not JSON.", "invalid_frame"))
            return
        if not isinstance(frame, dict) or self._link.answer(frame):
            return
        kind = frame.get("type")
        if kind == "data":
            channel = self._link.channels.get(frame.get("channel", ""))
            if channel is not None:
                channel.deliver(frame)
        elif kind == "error":
            self._report(SocketError.from_frame(frame))
        # A pong, or the late answer to a request that timed out: nothing waits for it.

    # -- callbacks -----------------------------------------------------------------------------

    def _listen(self, kind: str, callback: Callable[[Any], object]) -> Callable[[], None]:
        self._callbacks[kind].append(callback)
        return lambda: self._callbacks[kind].remove(callback)

    def _emit(self, kind: str, value: Any) -> None:
        for callback in list(self._callbacks[kind]):
            try:
                callback(value)
            except Exception:
                logger.exception("A socket callback raised")

    def _report(self, error: SocketError) -> None:
        self._emit("error", error)


class connect:
    """``async with connect(url) as socket:`` or ``socket = await connect(url)``; options as :class:`Socket`.

    A class named like a function, as ``websockets``' own ``connect``: it is awaitable and an async context.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self.socket = Socket(url, **options)

    def __await__(self) -> Generator[Any, None, Socket]:
        return self._connected().__await__()

    async def _connected(self) -> Socket:
        await self.socket.connect()
        return self.socket

    async def __aenter__(self) -> Socket:
        return await self._connected()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.socket.disconnect()
