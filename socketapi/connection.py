"""One client connection: its identity, its assigns, and the bounded outbox its writer drains."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from starlette.websockets import WebSocket

from .types import Scope

logger = logging.getLogger("socketapi")

OverflowPolicy = Literal["close", "drop_oldest"]

WS_1013_TRY_AGAIN_LATER = 1013


class Socket:
    """The only writer of its WebSocket.

    Every outgoing frame is appended to a bounded queue and written by one task, so a
    broadcast never waits for a slow client and frames leave in the order they were queued.
    ``send_frame`` may be called from any thread (a broadcast from another event loop is
    handed over with ``call_soon_threadsafe``).
    """

    def __init__(self, websocket: WebSocket, *, max_queue: int = 256, overflow: OverflowPolicy = "close") -> None:
        self.id = uuid.uuid4().hex[:12]
        self.assigns: dict[str, Any] = {}
        self._websocket = websocket
        self._max_queue = max_queue
        self._overflow = overflow
        self._queue: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._writer: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self.closed = False

    @property
    def scope(self) -> Scope:
        return self._websocket.scope

    # -- writing ---------------------------------------------------------------------------

    def send_frame(self, frame: str) -> None:
        if threading.get_ident() == self._thread:
            self._enqueue(frame)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, frame)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on this socket's event loop: now if we are on it, else as soon as it can."""
        if threading.get_ident() == self._thread:
            callback()
        else:
            self._loop.call_soon_threadsafe(callback)

    def _enqueue(self, frame: str) -> None:
        if self.closed or self._close_code is not None:
            return
        if len(self._queue) >= self._max_queue:
            if self._overflow == "drop_oldest":
                self._queue.popleft()
            else:
                logger.warning("Socket %s: send queue overflow (%d frames); closing", self.id, self._max_queue)
                self.close(WS_1013_TRY_AGAIN_LATER, "Send queue overflow")
                return
        self._queue.append(frame)
        self._wakeup.set()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Drop what is queued and close the socket with ``code`` as soon as the writer can."""
        if self._close_code is None:
            self._close_code = code
            self._close_reason = reason
            self._queue.clear()
            self._wakeup.set()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"socketapi-writer-{self.id}")

    async def stop(self) -> None:
        """Stop the writer (the connection is gone); whatever is queued is dropped."""
        self.closed = True
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
                    await send(queue.popleft())
                if self._close_code is not None:
                    await self._websocket.close(self._close_code, self._close_reason)
                    return
        except Exception:  # the client is gone; the reader will see the disconnect
            logger.debug("Socket %s: write failed", self.id, exc_info=True)
        finally:
            self.closed = True
