"""A WebSocket client played straight against an app's ASGI callable, on the test's own event loop.

No server and no thread: the test decides when the app's writes complete. A client that stops
reading is, to the app, a ``send`` that does not return (TCP pushes back), so here it is a
``send`` that waits until the test lets the client read again. That reaches the send queue's
limits, the inbound bounds and the abort after ``close_timeout`` exactly, frame by frame, in
milliseconds, and the code under test runs in the test's process (a mutation run sees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp


async def until(condition: Callable[[], object], what: str, within: float = 5.0) -> None:
    """Let the loop run until ``condition()`` holds: bounded (in-loop events take milliseconds; 5 s is ample)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.002)


class Peer:
    """One client connection to ``app``: it reads (takes the app's writes) only while :attr:`reading` is set."""

    def __init__(self, app: ASGIApp, path: str = "/", *, subprotocols: tuple[str, ...] = ()) -> None:
        self.app = app
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "subprotocols": list(subprotocols),
            "state": {},
        }
        self.messages: list[dict[str, Any]] = []  # every ASGI message the app sent that the client took, in order
        self.reading = asyncio.Event()
        self.reading.set()
        self.writes_waiting = 0  # the app's sends waiting for the client to read
        self.fail_writes = False  # set: the connection broke, the app's sends raise (counted in failed_writes)
        self.failed_writes = 0
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._incoming.put_nowait({"type": "websocket.connect"})  # first, whatever the test sends before connecting
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        return await self._incoming.get()

    async def _send(self, message: dict[str, Any]) -> None:
        if self.fail_writes:
            self.failed_writes += 1
            raise OSError("the connection is gone")
        if not self.reading.is_set():
            self.writes_waiting += 1
            try:
                await self.reading.wait()
            finally:
                self.writes_waiting -= 1
        self.messages.append(message)

    async def connect(self, *, accepted: bool = True) -> Peer:
        """Open the connection; the app must accept it (or, with ``accepted=False``, refuse it)."""
        self.task = asyncio.get_running_loop().create_task(self.app(self.scope, self._receive, self._send))
        await until(lambda: self.messages, "the handshake's answer")
        assert (self.messages[0]["type"] == "websocket.accept") == accepted, self.messages[0]
        return self

    async def __aenter__(self) -> Peer:
        return await self.connect()

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        self.reading.set()
        if self.task is None or self.task.done():
            return
        if exc_type is not None:  # the test failed: do not wait on an app that may not be reading
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
            return
        self._incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 10)

    # -- the client's side ---------------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> None:
        self.send_message({"type": "websocket.receive", "text": json.dumps(frame)})

    def send_message(self, message: dict[str, Any]) -> None:
        """An ASGI message for the app's ``receive``, as the server would hand it."""
        self._incoming.put_nowait(message)

    def disconnect(self) -> None:
        self._incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    @property
    def texts(self) -> list[str]:
        """The text frames taken so far, as the app wrote them."""
        return [m["text"] for m in self.messages if m["type"] == "websocket.send"]

    @property
    def frames(self) -> list[dict[str, Any]]:
        """The text frames taken so far, decoded."""
        return [json.loads(text) for text in self.texts]

    @property
    def closed_with(self) -> tuple[int, str] | None:
        """The close the client took: (code, reason), or ``None``."""
        for m in self.messages:
            if m["type"] == "websocket.close":
                return m.get("code", 1000), m.get("reason", "")
        return None

    async def reply(self, ref: object) -> dict[str, Any]:
        """The frame carrying ``ref`` (waited for)."""
        await until(lambda: any(f.get("ref") == ref for f in self.frames), f"the frame with ref {ref!r}")
        return next(f for f in self.frames if f.get("ref") == ref)

    @property
    def unread(self) -> int:
        """The client's frames the app has not read yet (they wait in TCP buffers)."""
        return self._incoming.qsize()

    @property
    def released(self) -> bool:
        """Whether the app let go of the connection (its ASGI call returned)."""
        return self.task is not None and self.task.done()
