"""One client connection: its identity, its assigns, and the bounded outbox its writer drains."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from .settings import Limits, OverflowPolicy
from .types import Scope

logger = logging.getLogger("socketapi")

WS_1000_NORMAL_CLOSURE = 1000
WS_1001_GOING_AWAY = 1001
WS_1008_POLICY_VIOLATION = 1008
WS_1009_MESSAGE_TOO_BIG = 1009
WS_1013_TRY_AGAIN_LATER = 1013


class Socket:
    """The only writer of its WebSocket.

    Every outgoing frame is appended to a bounded queue and written by one task, so a
    broadcast never waits for a slow client and frames leave in the order they were queued.
    ``send_frame`` may be called from any thread (a broadcast from another event loop is
    handed over with ``call_soon_threadsafe``).

    Annotate a handler or dependency parameter with ``Socket`` to receive the current socket.
    """

    __socketapi_inject__ = "socket"

    def __init__(self, websocket: WebSocket, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        self.id = uuid.uuid4().hex[:12]
        self.assigns: dict[str, Any] = {}
        self.close_cause: str | None = None  # why the server closed it: "overflow", "idle", "shutdown", ...
        self._websocket = websocket
        self._limits = limits
        self._queue: deque[tuple[str, bool]] = deque()  # (frame, may be dropped on overflow)
        self._queued_chars = 0
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._idle_timer: asyncio.TimerHandle | None = None
        self.last_seen = self._loop.time()
        self._tokens = float(limits.rate_limit[1]) if limits.rate_limit else 0.0
        self._strikes = 0
        self.closed = False

    @property
    def scope(self) -> Scope:
        return self._websocket.scope

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue)

    # -- writing ---------------------------------------------------------------------------

    def send_frame(self, frame: str, overflow: OverflowPolicy | None = None) -> None:
        """Queue ``frame``; ``overflow`` overrides the app's policy for this frame (a channel's own)."""
        if threading.get_ident() == self._thread:
            self._enqueue(frame, overflow)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, frame, overflow)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on this socket's event loop: now if we are on it, else as soon as it can."""
        if threading.get_ident() == self._thread:
            callback()
        else:
            self._loop.call_soon_threadsafe(callback)

    def _enqueue(self, frame: str, overflow: OverflowPolicy | None) -> None:
        if self._close_code is not None or self.closed:
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
            self.close(WS_1013_TRY_AGAIN_LATER, "Send queue overflow", cause="overflow", flush=False)
            return
        queue.append((frame, droppable))
        self._queued_chars += len(frame)
        self._wakeup.set()

    def _drop_oldest_droppable(self, room: int) -> bool:
        """Drop the oldest droppable frames until ``room`` more chars (and one more frame) fit."""
        limits, queue = self._limits, self._queue
        kept: deque[tuple[str, bool]] = deque()
        while queue and (
            len(queue) + len(kept) >= limits.max_queue or self._queued_chars + room > limits.max_queue_bytes
        ):
            frame, droppable = queue.popleft()
            if droppable:
                self._queued_chars -= len(frame)
            else:
                kept.append((frame, droppable))
        queue.extendleft(reversed(kept))
        return len(queue) < limits.max_queue and self._queued_chars + room <= limits.max_queue_bytes

    def close(
        self, code: int = WS_1000_NORMAL_CLOSURE, reason: str = "", *, cause: str | None = None, flush: bool = True
    ) -> None:
        """Close the socket with ``code``, even if the client stopped reading.

        With ``flush`` the frames already queued go first (the answers a client should see before
        the close); without it they are dropped.
        """
        if self._close_code is not None or self.closed:
            return
        self._close_code = code
        self._close_reason = reason
        self.close_cause = cause
        if not flush:
            self._queue.clear()
            self._queued_chars = 0
        writer = self._writer
        if self._sending and writer is not None:
            # The writer is stuck on a client that does not read: abandon that write and close from here.
            writer.cancel()
            self._loop.create_task(self._send_close())
        else:
            self._wakeup.set()

    async def _send_close(self) -> None:
        try:
            await self._websocket.close(self._close_code or WS_1000_NORMAL_CLOSURE, self._close_reason)
        except Exception:
            logger.debug("Socket %s: close failed", self.id, exc_info=True)
        finally:
            self.closed = True

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"socketapi-writer-{self.id}")
        if self._limits.idle_timeout is not None:
            self._idle_timer = self._loop.call_later(self._limits.idle_timeout, self._check_idle)

    async def stop(self) -> None:
        """Stop the writer (the connection is gone); whatever is queued is dropped."""
        self.closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self) -> None:
        queue = self._queue
        send = self._websocket.send_text
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    frame, _ = queue.popleft()
                    self._queued_chars -= len(frame)
                    self._sending = True
                    await send(frame)
                    self._sending = False
                if self._close_code is not None:
                    await self._send_close()
                    return
        except Exception:  # the client is gone; the reader will see the disconnect
            logger.debug("Socket %s: write failed", self.id, exc_info=True)
            self.closed = True

    # -- reading ---------------------------------------------------------------------------

    def admit(self) -> bool:
        """Record a client frame: refresh the idle clock and take a rate-limit token if limited."""
        now = self._loop.time()
        rate_limit = self._limits.rate_limit
        if rate_limit is not None:
            rate, burst = rate_limit
            self._tokens = min(float(burst), self._tokens + (now - self.last_seen) * rate)
        self.last_seen = now
        if rate_limit is None:
            return True
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self._strikes += 1
        if self._strikes >= self._limits.rate_limit_strikes:
            logger.warning("Socket %s: rate limit exceeded %d times; closing it", self.id, self._strikes)
            self.close(WS_1008_POLICY_VIOLATION, "Rate limit exceeded", cause="rate_limit")
        return False

    def _check_idle(self) -> None:
        timeout = self._limits.idle_timeout
        if timeout is None or self.closed:
            return
        idle = self._loop.time() - self.last_seen
        if idle >= timeout:
            logger.info("Socket %s: no frame for %.0fs; closing it", self.id, idle)
            self.close(WS_1001_GOING_AWAY, "Idle timeout", cause="idle")
        else:
            self._idle_timer = self._loop.call_later(timeout - idle, self._check_idle)
