"""What a socket's requests share: the current connection, answers waited for by ``ref``, the channels.

The :class:`Socket` drives it (sets the connection, fails what was in flight when it drops); the
socket and its channels send requests through it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .errors import SocketError

if TYPE_CHECKING:
    from .channel import Channel

logger = logging.getLogger("socketapi.client")


class Link:
    def __init__(
        self,
        *,
        timeout: float,
        while_disconnected: Literal["wait", "reject"],
        report: Callable[[SocketError], None],
    ) -> None:
        self.timeout = timeout
        self.while_disconnected = while_disconnected
        self.report = report  # errors that answer no request
        self.ws: ClientConnection | None = None
        self.closing = True  # set until connect(), and after disconnect(): nothing to wait for
        self.opened = asyncio.Event()
        self.channels: dict[str, Channel] = {}
        self._refs = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @property
    def connected(self) -> bool:
        return self.ws is not None

    def next_ref(self) -> int:
        return next(self._refs)

    def check_can_wait(self) -> None:
        """Raise unless a request may be sent now or wait for the connection."""
        if self.connected:
            return
        if self.closing:
            raise SocketError("The socket is not connected.", "closed")
        if self.while_disconnected == "reject":
            raise SocketError("The connection is down.", "disconnected")

    def send_request(self, frame: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Send ``frame`` with a fresh ref on the open connection; the future gets the answering frame."""
        ref = self.next_ref()
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = answer
        answer.add_done_callback(lambda _: self._pending.pop(ref, None))
        self.send_nowait({**frame, "ref": ref})
        return answer

    def send_nowait(self, frame: dict[str, Any]) -> None:
        ws = self.ws
        if ws is not None:
            # websockets writes in call order; a send to a connection that just dropped is moot.
            task = asyncio.ensure_future(ws.send(json.dumps(frame)))
            task.add_done_callback(_ignore_closed)

    async def request(self, frame: dict[str, Any], timeout: float | None, *, queue: bool = True) -> dict[str, Any]:
        """Send ``frame`` and return the answer; wait for the connection first if allowed (``queue``)."""
        seconds = self.timeout if timeout is None else timeout
        ref = self.next_ref()
        try:
            async with asyncio.timeout(seconds):
                if self.ws is None:
                    if not queue:
                        raise SocketError("The connection is down.", "disconnected")
                    self.check_can_wait()
                    await self.opened.wait()
                ws = self.ws
                assert ws is not None
                answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending[ref] = answer
                try:
                    await ws.send(json.dumps({**frame, "ref": ref}))
                except ConnectionClosed:
                    raise SocketError("The connection was lost.", "disconnected") from None
                return await answer
        except TimeoutError:
            what = frame.get("channel") or frame["type"]
            raise SocketError(f"No answer to '{what}' within {seconds} s.", "timeout") from None
        finally:
            self._pending.pop(ref, None)

    def answer(self, frame: dict[str, Any]) -> bool:
        """Settle the request ``frame`` answers; False if it answers none (a push, a late answer)."""
        ref = frame.get("ref")
        answer = self._pending.pop(ref, None) if isinstance(ref, int) else None
        if answer is None:
            return False
        if not answer.done():
            if frame.get("type") == "error":
                answer.set_exception(SocketError.from_frame(frame))
            else:
                answer.set_result(frame)
        return True

    def fail_all(self, error: SocketError) -> None:
        """The connection is gone: every request in flight gets ``error`` (it may or may not have run)."""
        for answer in list(self._pending.values()):
            if not answer.done():
                answer.set_exception(error)
        self._pending.clear()

    def forget(self, channel: Channel) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]


def _ignore_closed(task: asyncio.Future[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, ConnectionClosed):
        logger.debug("A send failed: %r", error)
