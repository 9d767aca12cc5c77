"""The direct transport: the app's WebSocket paths served on picows, with no ASGI server in between.

picows (a Cython WebSocket library) parses frames in C and hands each one to a plain callback,
so a frame costs no task switch and no ASGI message dict; broadcasts are written straight to each
subscriber's transport. Everything that is not I/O is shared with the ASGI transport through
:mod:`.base`: the handshake rules (origin, ``on_connect``, subprotocol), the :class:`Session`
(input limits, decoding, the supervisor, teardown) and the writer (:class:`~socketapi.connection.Socket`
with its bounded queue and overflow policy).

The handshake is read here, before picows sees the connection, because ``on_connect`` is a
coroutine and picows decides on an upgrade synchronously: the request head is parsed, the hook
runs, and only an accepted connection is handed to a picows protocol, which answers 101 and
reads frames from then on. A refused one gets HTTP 403, as on the ASGI transport. Plain HTTP
requests go to the app as ASGI requests when ``http=True`` (one request per connection, a body
of up to 8 MiB with a ``Content-Length``, the response written whole), so the JS client file,
the relay of broadcasts from outside and the user's routes keep working (see docs/transports.md).

Compression: picows has no permessage-deflate, so a frame's size on the wire is its size in
memory, and ``max_frame_size`` is checked by picows on the frame header, before the payload is read
(picows sends 1009 and drops the connection 10 ms later).

Liveness (pings) is a timer per connection here, not picows's task per connection; the inbound
bounds pause reading the TCP socket itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # the protocol class ws_create_server builds; we build it after our handshake

from ..connection import WS_1009_MESSAGE_TOO_BIG
from .base import Endpoint, Session, choose_subprotocol, handshake_view, run_connect_hook

if TYPE_CHECKING:
    from starlette.types import Message

    from ..app import SocketAPI
    from ..pubsub import Broadcast
    from ..types import Scope
    from ..wire import WireFormat

logger = logging.getLogger("socketapi")

MAX_REQUEST_HEAD = 16 * 1024  # bytes of request line and headers; more is refused with 431
HANDSHAKE_TIMEOUT = 10.0  # seconds a client has to send its request head and the hook to decide
MAX_HTTP_BODY = 8 * 1024 * 1024  # bytes of an HTTP request body the direct transport reads for the app
READ_BUFFER = 4096  # picows's first read buffer per connection; it grows with the frames it must hold
WS_1002_PROTOCOL_ERROR = 1002
WS_1007_INVALID_PAYLOAD = 1007


class _PicowsLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """picows's logger. An adapter keeps picows from creating a child logger per connection (it does
    for a plain Logger). A client's protocol error (a frame over the size limit, a bad header) is the
    client's fault: picows logs it as an error, we as info, as bad frames are on the ASGI transport.
    Exceptions (a bug of ours in a callback) keep their level and traceback."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and not kwargs.get("exc_info"):
            level = logging.INFO
        super().log(level, msg, *args, **kwargs)


_PICOWS_LOG = _PicowsLog(logging.getLogger("picows.server"), {})

TEXT, BINARY, CONTINUATION = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
CLOSE, PING, PONG = WSMsgType.CLOSE, WSMsgType.PING, WSMsgType.PONG


@dataclass(frozen=True)
class Liveness:
    """WebSocket pings: one after ``interval`` seconds without a frame from the client; no pong within
    ``timeout`` seconds drops the connection (a close 1001 is sent first). ``interval=None`` sends none."""

    interval: float | None = 20.0
    timeout: float = 20.0


@dataclass(frozen=True, eq=False)
class Route:
    """One WebSocket path: the app's endpoint and the wire format spoken there, with its shared encoder."""

    endpoint: Endpoint
    wire: WireFormat
    encode_broadcast: Callable[[Broadcast], str]


# --------------------------------------------------------------------------- the writer's link


class DirectLink:
    """The writer's side of a picows connection: frames go into the transport's buffer at once.

    A write returns without waiting unless the transport's buffer is above its high-water mark
    (the client reads slower than we write): then it waits until the buffer drains, and the
    socket's bounded queue takes the frames that follow, as with any server.
    """

    __slots__ = ("_close_timeout", "_drained", "_loop", "_transport", "eager")

    def __init__(self, transport: WSTransport, loop: asyncio.AbstractEventLoop, close_timeout: float) -> None:
        self._transport = transport
        self._loop = loop
        self._close_timeout = close_timeout
        self._drained: asyncio.Future[None] | None = None
        self.eager = True  # send_text never needs a task of its own: it awaits at most a plain future

    def try_send_text(self, text: str) -> bool:
        """The writer's fast path (:class:`~socketapi.connection.SyncLink`): no coroutine per frame."""
        if self._drained is not None:
            return False
        self._transport.send(TEXT, text)
        return True

    async def send_text(self, text: str) -> None:
        self._transport.send(TEXT, text)
        if self._drained is not None:
            # Shielded: a waiting write that is cancelled (the socket closing) must not cancel the
            # future other waits (the close frame's) share.
            await asyncio.shield(self._drained)

    async def send_close(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport.is_disconnected:
            return
        transport.send_close(WSCloseCode(code), reason.encode())
        if self._drained is not None:  # written once the client takes it: the socket's close_timeout applies
            await asyncio.shield(self._drained)
        # The client answers with its own close frame, and then the connection is dropped
        # (DirectConnection._client_closed); one that does not answer is dropped all the same.
        self._loop.call_later(self._close_timeout, self.drop)

    def drop(self) -> None:
        if not self._transport.is_disconnected:
            self._transport.disconnect(False)

    def pause(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def gone(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_exception(ConnectionResetError("the client is gone"))
            drained.exception()  # retrieved: the waiting write may already have been cancelled


# --------------------------------------------------------------------------- one connection


class DirectConnection(WSListener):
    """One accepted connection: picows's callbacks turned into :class:`Session` calls."""

    __slots__ = (
        "_binary",
        "_held",
        "_liveness",
        "_parts",
        "_ping_timer",
        "_pinged_at",
        "_pong_at",
        "_size",
        "assigns",
        "done",
        "link",
        "route",
        "scope",
        "session",
    )

    def __init__(self, route: Route, scope: Scope, assigns: dict[str, Any], liveness: Liveness) -> None:
        self.route = route
        self._liveness = liveness
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pinged_at: float | None = None  # when the ping that is not answered yet was sent
        self._pong_at = 0.0
        self.scope = scope
        self.assigns: dict[str, Any] | None = assigns
        self.session: Session | None = None
        self.link: DirectLink | None = None
        self.done: asyncio.Future[None] | None = None
        self._parts: list[bytes] | None = None  # a fragmented message being put together
        self._size = 0
        self._binary = False
        self._held: list[str | bytes] | None = None  # while reading is paused for an inbound bound: frames read

    def on_ws_connected(self, transport: WSTransport) -> None:
        route = self.route
        loop = asyncio.get_running_loop()
        limits = route.endpoint.limits
        self.link = link = DirectLink(transport, loop, limits.close_timeout)
        self.session = Session(
            route.endpoint, route.wire, route.encode_broadcast, self.scope, link, self.assigns or {}, link.drop
        )
        self.assigns = None
        self.done = loop.create_future()
        route.endpoint.serving.add(self.done)
        self.session.start()
        if self._liveness.interval is not None:
            self._ping_timer = loop.call_later(self._liveness.interval, self._check_alive, transport)

    def _check_alive(self, transport: WSTransport) -> None:
        """Liveness: a ping once the client has sent nothing for ``interval`` seconds; no pong in time drops it."""
        session, live = self.session, self._liveness
        assert session is not None
        assert live.interval is not None
        self._ping_timer = None
        if transport.is_disconnected:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._pinged_at is not None:  # the last ping had timeout seconds to be answered
            logger.info("Socket %s: no pong within %gs; dropping the connection", session.socket.id, live.timeout)
            transport.send_close(WSCloseCode.GOING_AWAY, b"No pong")
            transport.disconnect(False)
            return
        quiet_since = max(session.last_seen, self._pong_at)
        if now - quiet_since >= live.interval:
            transport.send_ping()
            self._pinged_at = now
            self._ping_timer = loop.call_later(live.timeout, self._check_alive, transport)
        else:
            self._ping_timer = loop.call_later(quiet_since + live.interval - now, self._check_alive, transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == TEXT and frame.fin and self._parts is None:  # the common case: one whole text frame
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._refuse(WS_1007_INVALID_PAYLOAD, "Invalid UTF-8 in a text frame")
                return
            if self._held is None:
                session = self.session
                assert session is not None  # set in on_ws_connected
                session.receive(text)
                if session.paused:
                    self._hold(transport, session)
            else:
                self._held.append(text)
        elif kind == CLOSE:
            self._client_closed(transport)
        elif kind == PONG:
            self._pong()
        elif kind != PING:  # picows answers pings itself
            self._fragment(transport, kind, frame)

    def _fragment(self, transport: WSTransport, kind: WSMsgType, frame: WSFrame) -> None:
        """A binary frame, or part of a fragmented message: put it together, within max_frame_size."""
        session = self.session
        assert session is not None
        if kind == CONTINUATION:
            if self._parts is None:
                self._refuse(WS_1002_PROTOCOL_ERROR, "Continuation frame without a message")
                return
        elif self._parts is not None:
            self._refuse(WS_1002_PROTOCOL_ERROR, "New message before the previous one ended")
            return
        else:
            self._parts, self._size, self._binary = [], 0, kind == BINARY
        self._size += frame.payload_size
        if self._size > session.endpoint.limits.max_frame_size:
            self._parts = None
            logger.info("Socket %s: fragmented message over the frame size limit", session.socket.id)
            session.socket.close(WS_1009_MESSAGE_TOO_BIG, "Frame too large", cause="too_big")
            return
        self._parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return
        payload, self._parts = b"".join(self._parts), None
        message: str | bytes = payload
        if not self._binary:
            try:
                message = payload.decode()
            except UnicodeDecodeError:
                self._refuse(WS_1007_INVALID_PAYLOAD, "Invalid UTF-8 in a text frame")
                return
        if self._held is not None:
            self._held.append(message)
            return
        session.receive(message)
        if session.paused:
            self._hold(transport, session)

    def _hold(self, transport: WSTransport, session: Session) -> None:
        """An inbound bound is reached: stop reading until the work is done, so TCP pushes back on the client.

        Frames picows has already read (the rest of one read buffer) wait here, undecoded, and are
        handed over in order once the session may read again.
        """
        if transport.is_disconnected:
            return
        held: list[str | bytes] = []
        self._held = held
        underlying = transport.underlying_transport
        underlying.pause_reading()

        async def resume() -> None:
            while True:
                await session.wait_readable()
                while held and not session.paused:
                    session.receive(held.pop(0))
                if not session.paused:
                    break
            self._held = None
            if not transport.is_disconnected:
                underlying.resume_reading()

        asyncio.get_running_loop().create_task(resume())

    def _pong(self) -> None:
        """The answer to our ping (the pending timer then waits for the next quiet interval)."""
        self._pong_at = asyncio.get_running_loop().time()
        self._pinged_at = None

    def _refuse(self, code: int, reason: str) -> None:
        session = self.session
        assert session is not None
        logger.info("Socket %s: %s; closing it", session.socket.id, reason)
        session.socket.close(code, reason, cause="closed", flush=False)

    def _client_closed(self, transport: WSTransport) -> None:
        """The client's close frame: answer it (unless it answers ours) and end the connection."""
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode.OK)
        transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        session, link = self.session, self.link
        if session is None or link is None:
            return
        link.gone()
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        sent = transport.close_handshake.sent if transport.close_handshake is not None else None
        if sent is not None and sent.code == WSCloseCode.MESSAGE_TOO_BIG and session.socket.close_cause is None:
            session.socket.close_cause = "too_big"  # picows refused the frame on its header, before reading it
        asyncio.get_running_loop().create_task(self._end(session))

    async def _end(self, session: Session) -> None:
        try:
            await session.end()
        finally:
            if self.done is not None:
                session.endpoint.serving.discard(self.done)
                self.done.set_result(None)

    def pause_writing(self) -> None:
        if self.link is not None:
            self.link.pause()

    def resume_writing(self) -> None:
        if self.link is not None:
            self.link.resume()


# --------------------------------------------------------------------------- the handshake


class Request:
    """A parsed HTTP/1.1 request head."""

    __slots__ = ("headers", "method", "path", "query", "raw_path", "version")

    def __init__(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].split(b" ")
        except ValueError:
            raise ValueError("bad request line") from None
        if not version.startswith(b"HTTP/1."):
            raise ValueError("not HTTP/1.x")
        self.method = method.decode("ascii")
        self.version = version[5:].decode("ascii")
        self.raw_path, _, self.query = target.partition(b"?")
        self.path = self.raw_path.decode("latin-1")
        if "%" in self.path:
            from urllib.parse import unquote

            self.path = unquote(self.path)
        self.headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise ValueError("bad header line")
            self.headers.append((name.lower(), value.strip()))

    def header(self, name: bytes) -> str:
        """Every value of header ``name`` (lower case), joined with commas, as the HTTP spec allows."""
        return ",".join(v.decode("latin-1") for n, v in self.headers if n == name)

    def is_upgrade(self) -> bool:
        return self.method == "GET" and "websocket" in self.header(b"upgrade").lower()


class Handshake(asyncio.Protocol):
    """A new TCP connection until its request head is read and answered; an accepted WebSocket is then
    handed over to a picows protocol on the same transport."""

    def __init__(self, server: DirectServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Future[None] | None = None
        self.body_end = 0  # while an HTTP request's body is awaited: where it ends in the buffer
        self.body: asyncio.Future[bool] | None = None  # True once it is all in, False if the client left

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's is no subclass)
        self.timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._timed_out)

    def data_received(self, data: bytes) -> None:
        if self.task is not None:  # the head is in: what follows is a request body, or waits for picows
            self.buffer += data
            self._check_body()
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end > MAX_REQUEST_HEAD or (end < 0 and len(self.buffer) > MAX_REQUEST_HEAD):
            self.task = asyncio.get_running_loop().create_future()  # nothing more is read
            self.reply(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return
        if end < 0:
            return
        assert self.transport is not None
        self.transport.pause_reading()
        self.task = asyncio.get_running_loop().create_task(self.server.open(self, end))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.stop_timer()
        if self.body is not None and not self.body.done():
            self.body.set_result(False)

    def read_body(self, start: int, length: int) -> asyncio.Future[bool]:
        """Read an HTTP request's body (``length`` bytes after ``start`` in the buffer), within the timeout."""
        loop = asyncio.get_running_loop()
        self.body_end = start + length
        self.body = loop.create_future()
        self.stop_timer()
        self.timer = loop.call_later(HANDSHAKE_TIMEOUT, self._timed_out)
        self._check_body()
        if not self.body.done() and self.transport is not None:
            self.transport.resume_reading()
        return self.body

    def _check_body(self) -> None:
        if self.body is not None and not self.body.done() and len(self.buffer) >= self.body_end:
            self.stop_timer()
            if self.transport is not None:
                self.transport.pause_reading()
            self.body.set_result(True)

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        self.timer = None
        if self.transport is not None and not self.lost:
            self.transport.abort()
        if self.body is not None and not self.body.done():
            self.body.set_result(False)

    def reply(self, status: HTTPStatus, body: bytes | None = None) -> None:
        """Answer with a plain HTTP response and close the connection."""
        self.stop_timer()
        if self.transport is None or self.lost:
            return
        text = body if body is not None else f"{status.value} {status.phrase}\n".encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status.value, status.phrase.encode(), len(text), text)
        )
        self.transport.close()

    def upgrade(self, listener: DirectConnection, subprotocol: str | None) -> None:
        """Hand the connection to a picows protocol that answers 101 and reads frames from now on."""
        self.stop_timer()
        transport = self.transport
        assert transport is not None
        headers = {"Sec-WebSocket-Protocol": subprotocol} if subprotocol else None
        response = WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(headers), listener)

        def accept(_: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
            return response

        protocol = WSProtocol(
            None,  # host:port and path: used by clients only
            None,
            False,  # the server side
            accept,
            _PICOWS_LOG,
            True,  # an exception in a callback closes the connection (1011) and is logged
            None,  # no handshake timeout of picows's own: ours ran
            False,  # pings are ours (DirectConnection._check_alive): a timer per connection, not a task
            20.0,
            20.0,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # answer pings
            self.server.max_frame_size,
            None,
            READ_BUFFER,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        data = memoryview(bytes(self.buffer))  # the request head again (picows checks the upgrade), and what followed
        self.buffer = bytearray()
        while data and not transport.is_closing():
            room = protocol.get_buffer(-1)
            size = min(len(room), len(data))
            room[:size] = data[:size]
            protocol.buffer_updated(size)
            data = data[size:]
        transport.resume_reading()


# --------------------------------------------------------------------------- the server


class DirectServer:
    """Serves an app's WebSocket paths (and, optionally, its plain HTTP requests) on one listening socket."""

    def __init__(self, app: SocketAPI, *, liveness: Liveness = Liveness(), http: bool = True) -> None:
        self.app = app
        self.routes = {path: Route(t.endpoint, t.wire, t.encode_broadcast) for path, t in app.sockets.items()}
        self.liveness = liveness
        self.http = http
        self.max_frame_size = app.limits.max_frame_size
        self.opening: set[asyncio.Task[None]] = set()

    def protocol(self) -> Handshake:
        return Handshake(self)

    async def open(self, conn: Handshake, end: int) -> None:
        """Answer a request head: upgrade, refuse (403), or serve it as HTTP."""
        task = asyncio.current_task()
        if task is not None:
            self.opening.add(task)
        try:
            await self._open(conn, end)
        except Exception:
            logger.exception("The handshake failed")
            conn.reply(HTTPStatus.INTERNAL_SERVER_ERROR)
        finally:
            if task is not None:
                self.opening.discard(task)

    async def _open(self, conn: Handshake, end: int) -> None:
        try:
            request = Request(bytes(conn.buffer[:end]))
        except (ValueError, UnicodeDecodeError):
            conn.reply(HTTPStatus.BAD_REQUEST)
            return
        route = self.routes.get(request.path)
        if not request.is_upgrade():
            await self.serve_http(conn, request, end)
            return
        if route is None:  # as the ASGI app closes a WebSocket it has no route for: before the accept
            conn.reply(HTTPStatus.FORBIDDEN)
            return
        scope = self.scope(conn, request, "websocket")
        scope["subprotocols"] = [p.strip() for p in request.header(b"sec-websocket-protocol").split(",") if p.strip()]
        refused = route.wire.refuse(scope)  # the wire format's own conditions (Phoenix's vsn)
        if refused is not None:
            logger.info("Refused a socket at %s: %s", scope["path"], refused)
            conn.reply(HTTPStatus.FORBIDDEN)
            return
        assigns = await run_connect_hook(route.endpoint, handshake_view(scope))
        if conn.lost:
            return
        if assigns is None:
            conn.reply(HTTPStatus.FORBIDDEN)  # what the ASGI transport's close before accept becomes
            return
        subprotocol = choose_subprotocol(scope["subprotocols"], route.endpoint.limits, route.wire)
        if subprotocol is not None:
            scope["subprotocol"] = subprotocol
        conn.upgrade(DirectConnection(route, scope, assigns, self.liveness), subprotocol)

    def scope(self, conn: Handshake, request: Request, kind: str) -> dict[str, Any]:
        transport = conn.transport
        assert transport is not None
        client = transport.get_extra_info("peername")
        server = transport.get_extra_info("sockname")
        return {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": request.version,
            "scheme": "ws" if kind == "websocket" else "http",
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query_string": request.query,
            "root_path": "",
            "headers": request.headers,
            "client": tuple(client[:2]) if client else None,
            "server": tuple(server[:2]) if server else None,
            "state": {},
            "app": self.app,
        }

    async def serve_http(self, conn: Handshake, request: Request, end: int) -> None:
        """A plain HTTP request, answered by the app as an ASGI request (one per connection).

        The body (``Content-Length``, up to :data:`MAX_HTTP_BODY`) is read only when the app asks
        for it, so an app that refuses a request on its headers never reads it; a chunked body is
        answered 501. The response is written whole once the app is done.
        """
        if not self.http:
            conn.reply(HTTPStatus.NOT_FOUND)
            return
        if request.header(b"transfer-encoding"):
            conn.reply(
                HTTPStatus.NOT_IMPLEMENTED,
                b"The direct transport does not read chunked request bodies; send a Content-Length.\n",
            )
            return
        try:
            length = int(request.header(b"content-length") or "0")
        except ValueError:
            length = -1
        if length < 0:
            conn.reply(HTTPStatus.BAD_REQUEST)
            return
        if length > MAX_HTTP_BODY:
            conn.reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        start = end + 4
        scope = self.scope(conn, request, "http")
        scope["method"] = request.method
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        body = bytearray()
        requested = False

        async def receive() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                if length == 0 or await conn.read_body(start, length):
                    return {"type": "http.request", "body": bytes(conn.buffer[start : start + length])}
            elif not conn.lost:
                await asyncio.Future()  # nothing more to read; the response is written whole at the end
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, send)
        if conn.lost or conn.transport is None:
            return
        conn.stop_timer()
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        head = bytearray(b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode()))
        for name, value in headers:
            if name.lower() not in (b"content-length", b"connection", b"transfer-encoding"):
                head += name + b": " + value + b"\r\n"
        head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        conn.transport.write(bytes(head) + (bytes(body) if request.method != "HEAD" else b""))
        conn.transport.close()


# --------------------------------------------------------------------------- serving


async def serve(
    app: SocketAPI,
    host: str | list[str] | None = "127.0.0.1",
    port: int = 8000,
    *,
    liveness: Liveness = Liveness(),
    http: bool = True,
    started: Callable[[asyncio.Server], Awaitable[None] | None] | None = None,
    backlog: int = 2048,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT (or until cancelled).

    Runs the app's lifespan around the server (its backend, and its graceful shutdown: on a
    signal every socket is closed with 1001 and its ``leave`` hooks run with ``"shutdown"``
    before the server stops). ``started`` is called with the listening server. ``sock``, a listening
    socket, is served instead of binding ``host:port``.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():  # a second signal: the shutdown under way waits for nothing more
            app._cut_shutdown_short()
        stop.set()

    restore = _on_signals(loop, on_signal)
    server = DirectServer(app, liveness=liveness, http=http)
    try:
        async with app.router.lifespan_context(app):
            if sock is not None:  # a listening socket handed over (e.g. socketapi.transport.tcp.listening_socket)
                listening = await loop.create_server(server.protocol, sock=sock, backlog=backlog)
            else:
                listening = await loop.create_server(server.protocol, host, port, backlog=backlog, reuse_address=True)
            logger.info("Serving %s on the direct transport at %s:%s", ", ".join(server.routes), host, port)
            try:
                if started is not None:
                    result = started(listening)
                    if result is not None:
                        await result
                await stop.wait()
            finally:
                listening.close()  # no new connections; the lifespan's end closes the open ones (1001)
                for task in list(server.opening):
                    task.cancel()
    finally:
        restore()


def _on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Callable[[], None]:
    """Call ``stop`` on SIGTERM/SIGINT. Installed with ``signal.signal`` so that the app's graceful
    shutdown, started by the lifespan, chains in front of it as it does in front of uvicorn's."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(stop)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, old)

    return restore


__all__ = ["DirectServer", "Liveness", "serve"]
