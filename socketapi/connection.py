"""One client connection as the engine sees it: its identity, its assigns, and the bounded outbox its writer drains.

The writer knows nothing of the server: a transport hands it a :class:`Link` (write a text
frame, write the close), and the transport's read loop enforces the input limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import _eager
from .settings import Limits, OverflowPolicy

if TYPE_CHECKING:
    from .pubsub.hub import WriteBacklog
    from .types import LeaveReason, Scope

logger = logging.getLogger("socketapi")

WS_1000_NORMAL_CLOSURE = 1000
WS_1001_GOING_AWAY = 1001
WS_1008_POLICY_VIOLATION = 1008
WS_1009_MESSAGE_TOO_BIG = 1009
WS_1013_TRY_AGAIN_LATER = 1013


class Link(Protocol):
    """What the writer needs of a transport."""

    eager: bool
    """Whether ``send_text``'s coroutine may be started by hand in the caller (see :mod:`socketapi._eager`);
    only for servers whose send path is known to need no task of its own. ``send_text`` must
    then return a coroutine."""

    def send_text(self, text: str) -> Awaitable[None]: ...

    def send_close(self, code: int, reason: str) -> Awaitable[None]: ...


class WriterLink(Link, Protocol):
    """A link whose text write is a plain function of a per-connection value: ``send_text(text)``
    is ``write(target, text)`` for ``text_writer == (write, target)``.

    The socket then calls ``write`` itself, once per subscriber of every broadcast, without the
    link or a bound method in between: two objects fewer to touch per delivery.
    """

    @property
    def text_writer(self) -> tuple[Callable[[Any, str], Awaitable[None]], Any]: ...


class SyncLink(Link, Protocol):
    """A link that can also write a frame synchronously when nothing makes it wait (the direct transport)."""

    def try_send_text(self, text: str) -> bool:
        """Write ``text`` now and return True, or return False (writing nothing) if the write would have to wait."""
        ...


class Socket:
    """The only writer of its WebSocket.

    Frames are written in the order they were queued. A write starts at once, in the caller,
    when nothing is queued ahead of it; only a write that has to wait for the client (its TCP
    buffer is full) becomes a task, and frames queue behind it in a bounded queue until it is
    done. So a broadcast never waits for a slow client, and a fast one costs no task switch.
    ``send_frame`` may be called from any thread (a broadcast from another event loop is handed
    over with ``call_soon_threadsafe``).

    Annotate a handler or dependency parameter with ``Socket`` to receive the current socket.
    """

    __socketapi_inject__ = "socket"
    # CPython lays slots out in name order: the fields send_frame reads for every delivery share
    # the ``_out_`` prefix, so that they sit side by side, on one cache line more often than not.
    __slots__ = (
        "_abort_timer",
        "_backlog",
        "_close_code",
        "_close_reason",
        "_closer",
        "_flusher",
        "_limits",
        "_link",
        "_loop",
        "_out_inline",
        "_out_ready",
        "_out_target",
        "_out_thread",
        "_out_write",
        "_queue",
        "_queued_chars",
        "_start",
        "_try_send",
        "aborted",
        "assigns",
        "close_cause",
        "closed",
        "id",
        "on_abort",
        "on_closing",
        "scope",
    )

    def __init__(self, scope: Scope, link: Link, limits: Limits, backlog: WriteBacklog) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.scope = scope
        self.assigns: dict[str, Any] = {}
        self.close_cause: LeaveReason | None = None  # why the server closed it: "overflow", "idle", "shutdown", ...
        self._link = link
        # The text write as (function, its first argument): see WriterLink.
        writer: tuple[Callable[[Any, str], Awaitable[None]], Any] | None = getattr(link, "text_writer", None)
        if writer is None:
            writer = (type(link).send_text, link)
        self._out_write: Callable[[Any, str], Awaitable[None]] = writer[0]
        self._out_target: Any = writer[1]
        self._start = _eager.start if link.eager else _eager.start_task
        # A write with no coroutine at all where the transport offers one (see SyncLink).
        self._try_send: Callable[[str], bool] | None = getattr(link, "try_send_text", None)
        self._out_inline = link.eager and self._try_send is None  # send_frame starts the server's send itself
        self._backlog = backlog  # the hub's count of sockets whose write waits: it yields to them
        self._limits = limits
        # (frame, may be dropped on overflow). A list, not a deque: it is short and bounded, and an
        # empty list costs a tenth of an empty deque, which every idle socket would carry.
        self._queue: list[tuple[str, bool]] = []
        self._queued_chars = 0
        self._loop = asyncio.get_running_loop()
        self._out_thread = threading.get_ident()
        self._flusher: asyncio.Future[Any] | None = None  # finishes a write that had to wait, then the queue
        self._closer: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._abort_timer: asyncio.TimerHandle | None = None
        self.closed = False  # nothing more can be written: the close was written, or the connection is gone
        self._out_ready = True  # nothing queued, not closing, not closed: a frame may be written at once
        self.aborted = False  # the close could not be written within close_timeout: the connection was abandoned
        self.on_closing: Callable[[], None] | None = None  # the transport's: the server decided to close
        self.on_abort: Callable[[], None] | None = None  # the transport's: drop the connection now

    @property
    def closing(self) -> bool:
        """Whether the server decided to close this socket (or it is gone): its frames are no longer handled."""
        return self._close_code is not None or self.closed

    # -- writing ---------------------------------------------------------------------------

    def send_frame(self, frame: str, overflow: OverflowPolicy | None = None) -> None:
        """Send ``frame``; ``overflow`` overrides the app's policy for this frame (a channel's own)."""
        if threading.get_ident() != self._out_thread:
            self._loop.call_soon_threadsafe(self._enqueue, frame, overflow)
        elif self._out_ready:
            if not self._out_inline:
                self._write_now(frame)
                return
            # _write_now with _eager.start, inlined for a link whose send runs in the caller: this
            # runs once per subscriber of every broadcast, and two calls fewer are a tenth of it.
            coro = self._out_write(self._out_target, frame)
            try:
                for awaiting in coro.__await__():  # noqa: B007 (the first step: see _eager.start)
                    break
                else:
                    return
            except Exception:
                self._write_failed()
                return
            self._wait_for(_eager.resume(coro, awaiting))  # type: ignore[arg-type]
        else:
            self._enqueue(frame, overflow)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on this socket's event loop: now if we are on it, else as soon as it can."""
        if threading.get_ident() == self._out_thread:
            callback()
        else:
            self._loop.call_soon_threadsafe(callback)

    def _enqueue(self, frame: str, overflow: OverflowPolicy | None) -> None:
        if self._close_code is not None or self.closed:
            return
        if self._flusher is None:  # nothing ahead of this frame: write it now
            self._write_now(frame)
            return
        droppable = (overflow or self._limits.overflow) == "drop_oldest"
        queue = self._queue
        full = len(queue) >= self._limits.max_queue or self._queued_chars + len(frame) > self._limits.max_queue_bytes
        # When full, older frames that may be dropped make room first, whatever this frame's policy.
        if full and not self._drop_oldest_droppable(len(frame)):
            if droppable:
                return  # nothing older may go: this frame is the one dropped
            logger.warning(
                "Socket %s: send queue full (%d frames, %d chars); closing it",
                self.id,
                len(queue),
                self._queued_chars,
            )
            self.overflow()
            return
        queue.append((frame, droppable))
        self._queued_chars += len(frame)

    def _write_now(self, frame: str) -> None:
        try:
            try_send = self._try_send
            if try_send is not None and try_send(frame):
                return
            flusher = self._start(self._out_write(self._out_target, frame))
        except Exception:
            self._write_failed()
            return
        if flusher is not None:
            self._wait_for(flusher)

    def _wait_for(self, flusher: asyncio.Future[Any]) -> None:
        """A write has to wait for the client: frames queue behind it until ``flusher`` is done."""
        self._set_flusher(flusher)
        flusher.add_done_callback(self._write_done)

    def _set_flusher(self, flusher: asyncio.Future[Any] | None) -> None:
        if (self._flusher is None) != (flusher is None):
            self._backlog.waiting += 1 if flusher is not None else -1
        self._flusher = flusher
        self._out_ready = flusher is None and self._close_code is None and not self.closed

    def _set_closed(self) -> None:
        self.closed = True
        self._out_ready = False

    def _write_done(self, task: asyncio.Future[Any]) -> None:
        if self._flusher is task:
            self._set_flusher(None)
        if task.cancelled():
            return
        if task.exception() is not None:
            self._write_failed()
        elif self._queue:  # before a close too: a close that flushes writes what was queued first
            flusher = self._loop.create_task(self._flush())
            flusher.add_done_callback(self._write_done)
            self._set_flusher(flusher)
        elif self._close_code is not None:
            self._start_close()

    async def _flush(self) -> None:
        queue = self._queue
        while queue:
            frame, _ = queue.pop(0)
            self._queued_chars -= len(frame)
            await self._out_write(self._out_target, frame)

    def _write_failed(self) -> None:
        logger.debug("Socket %s: write failed; the client is gone", self.id, exc_info=True)
        self._set_closed()  # the reader will see the disconnect
        self._queue.clear()
        self._queued_chars = 0

    def _drop_oldest_droppable(self, room: int) -> bool:
        """Drop the oldest droppable frames until ``room`` more chars (and one more frame) fit."""
        limits, queue = self._limits, self._queue
        kept: list[tuple[str, bool]] = []
        while queue and (
            len(queue) + len(kept) >= limits.max_queue or self._queued_chars + room > limits.max_queue_bytes
        ):
            frame, droppable = queue.pop(0)
            if droppable:
                self._queued_chars -= len(frame)
            else:
                kept.append((frame, droppable))
        queue[:0] = kept
        return len(queue) < limits.max_queue and self._queued_chars + room <= limits.max_queue_bytes

    def overflow(self) -> None:
        """Close for a full queue (1013): frames, or broadcasts waiting for a channel's ``handle_out``."""
        self.close(WS_1013_TRY_AGAIN_LATER, "Send queue overflow", cause="overflow", flush=False)

    def close(
        self,
        code: int = WS_1000_NORMAL_CLOSURE,
        reason: str = "",
        *,
        cause: LeaveReason | None = None,
        flush: bool = True,
    ) -> None:
        """Close the socket with ``code``, even if the client stopped reading.

        With ``flush`` the frames already queued go first (the answers a client should see before
        the close); without it they are dropped and a write in progress is abandoned. Either way,
        if the close frame is not written within ``close_timeout`` seconds (the client does not
        read), the connection is abandoned (:attr:`aborted`).
        """
        if self._close_code is not None or self.closed:
            return
        self._close_code = code
        self._out_ready = False
        self._close_reason = reason
        self.close_cause = cause
        self._abort_timer = self._loop.call_later(self._limits.close_timeout, self._abort)
        if self._flusher is None:
            self._start_close()
        elif not flush:
            self._abandon_writes()
        # else: _write_done starts the close once the queue is written
        if self.on_closing is not None:
            self.on_closing()

    def _abandon_writes(self) -> None:
        self._queue.clear()
        self._queued_chars = 0
        flusher = self._flusher
        self._set_flusher(None)
        if flusher is not None and not flusher.done():
            flusher.cancel()
        self._start_close()

    def _abort(self) -> None:
        """The client took neither its frames nor the close in time: stop writing and drop the connection."""
        self._abort_timer = None
        if self.closed:
            return
        logger.info(
            "Socket %s: the close frame was not taken in %gs; abandoning the connection",
            self.id,
            self._limits.close_timeout,
        )
        self.aborted = True
        self._set_closed()
        self._queue.clear()
        self._queued_chars = 0
        for task in (self._flusher, self._closer):
            if task is not None and not task.done():
                task.cancel()
        self._set_flusher(None)
        if self.on_abort is not None:
            self.on_abort()

    def _start_close(self) -> None:
        if self._closer is None:
            self._closer = self._loop.create_task(self._send_close())

    async def _send_close(self) -> None:
        self._queue.clear()
        self._queued_chars = 0
        try:
            await self._link.send_close(self._close_code or WS_1000_NORMAL_CLOSURE, self._close_reason)
        except Exception:
            logger.debug("Socket %s: close failed", self.id, exc_info=True)
        finally:
            self._set_closed()
            if self._abort_timer is not None:
                self._abort_timer.cancel()
                self._abort_timer = None

    async def stop(self) -> None:
        """The connection is gone: drop whatever is queued and stop writing."""
        self._set_closed()
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        self._queue.clear()
        flusher = self._flusher
        self._set_flusher(None)
        for task in (flusher, self._closer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._closer = None
