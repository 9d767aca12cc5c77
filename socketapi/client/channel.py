"""One topic on one client socket: join, push, leave, callbacks per event, recovery bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import SocketError

if TYPE_CHECKING:
    from .link import Link
    from .socket import Socket

logger = logging.getLogger("socketapi.client")

ChannelState = Literal["closed", "joining", "joined", "leaving", "errored"]


@dataclass(frozen=True, slots=True)
class Message:
    """A push or broadcast received on a channel."""

    event: str  # "data" for a broadcast without an event name
    data: Any
    offset: int | None  # on topics with history (SPEC 7.3)
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """A position in a topic's history: what the client asks to resume from after a reconnect."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Rejoin:
    """Told after each automatic rejoin. ``recovered``: True (nothing missed), False (reload), None (no history)."""

    reply: Any
    recovered: bool | None


class Channel:
    """Created by :meth:`Socket.channel`; rejoined with its ``params`` (and ``since``) after every reconnect."""

    def __init__(self, socket: Socket, link: Link, topic: str, params: dict[str, Any]) -> None:
        self.socket = socket
        self._link = link
        self.topic = topic
        self.params = params
        self.state: ChannelState = "closed"
        self.position: StreamPosition | None = None
        self.join_ref = 0  # counts the subscribes sent: a Presence tells a rejoin's state from the last one's
        self._wanted = False  # joined by the user and not left: rejoin after every reconnect
        self._joined_once = False
        self._reply: Any = None
        self._join_waiter: asyncio.Future[Any] | None = None
        self._callbacks: dict[str, list[Callable[[Message], object]]] = {}
        self._rejoin_callbacks: list[Callable[[Rejoin], object]] = []

    def __repr__(self) -> str:
        return f"<Channel {self.topic!r} {self.state}>"

    async def join(self, *, timeout: float | None = None) -> Any:
        """Subscribe; return the join reply. Raises :class:`SocketError` (``join_refused``, with the server's data)."""
        if self.state == "joined":
            return self._reply
        link = self._link
        if self._join_waiter is None:
            link.check_can_wait()
            self._join_waiter = asyncio.get_running_loop().create_future()
            self._wanted = True
            self.state = "joining"
            link.channels[self.topic] = self
            if link.connected:
                self._subscribe()
        waiter = self._join_waiter
        seconds = link.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(seconds):
                return await asyncio.shield(waiter)
        except TimeoutError:
            error = SocketError(f"No answer to joining '{self.topic}' within {seconds} s.", "timeout")
            self._fail_join(error)
            # The subscribe may still land: undo it rather than hold a subscription nobody knows of.
            link.send_nowait({"type": "unsubscribe", "channel": self.topic})
            raise error from None

    async def push(self, event: str, data: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Send ``event`` to the channel; return its reply.

        A handler that returns ``None`` sends no reply: the push then raises ``timeout``.
        """
        if not self._wanted:
            raise SocketError(f"Not subscribed to channel '{self.topic}'.", "not_subscribed")
        frame = await self._link.request(
            {"type": "event", "channel": self.topic, "event": event, "data": data or {}}, timeout
        )
        return frame.get("data")

    def on(self, event: str, callback: Callable[[Message], object]) -> Callable[[], None]:
        """Call ``callback(message)`` for every push or broadcast named ``event``; returns a remover."""
        self._callbacks.setdefault(event, []).append(callback)
        return lambda: self.off(event, callback)

    def off(self, event: str, callback: Callable[[Message], object] | None = None) -> None:
        """Remove one callback of ``event``, or all of them."""
        if callback is None:
            self._callbacks.pop(event, None)
        elif callback in self._callbacks.get(event, []):
            self._callbacks[event].remove(callback)

    def on_rejoin(self, callback: Callable[[Rejoin], object]) -> Callable[[], None]:
        """Call ``callback(Rejoin)`` after each automatic rejoin that follows a reconnect."""
        self._rejoin_callbacks.append(callback)
        return lambda: self._rejoin_callbacks.remove(callback)

    async def leave(self, *, timeout: float | None = None) -> None:
        """Unsubscribe; the channel is not rejoined after a reconnect."""
        was_subscribed = self.state in ("joined", "joining")
        self._wanted = False
        self._joined_once = False
        self._fail_join(SocketError(f"Left channel '{self.topic}' before it was joined.", "closed"))
        self._link.forget(self)
        if not was_subscribed or not self._link.connected:
            self.state = "closed"
            return
        self.state = "leaving"
        try:
            await self._link.request({"type": "unsubscribe", "channel": self.topic}, timeout, queue=False)
        finally:
            self.state = "closed"

    # -- called by the socket ------------------------------------------------------------------

    def rejoin(self) -> None:
        """Subscribe again on a new connection (the socket calls this on every open)."""
        if self._wanted:
            self.state = "joining"
            self._subscribe()

    def connection_lost(self, for_good: bool) -> None:
        """The socket's connection dropped; ``for_good``: no reconnect follows."""
        if self.state == "joined":
            self.state = "joining" if self._wanted and not for_good else "closed"
        if for_good:
            self._fail_join(SocketError("The socket was disconnected.", "closed"))

    def deliver(self, frame: dict[str, Any]) -> None:
        """A push or broadcast for this topic (the socket calls this): to the callbacks of its event."""
        if not self._wanted:
            return
        offset = frame.get("offset")
        if isinstance(offset, int) and self.position is not None:
            if offset <= self.position.offset:
                return  # already seen: recovery never delivers twice
            self.position = StreamPosition(offset, self.position.epoch)
        event = frame.get("event") or "data"
        message = Message(event, frame.get("data"), offset if isinstance(offset, int) else None, frame)
        for callback in list(self._callbacks.get(event, ())):
            self._call(callback, message)

    # -- internals -----------------------------------------------------------------------------

    def _subscribe(self) -> None:
        frame: dict[str, Any] = {"type": "subscribe", "channel": self.topic, "data": self.params}
        # Recovery (SPEC 7.3): ask for every broadcast after the last one seen, on topics with history.
        if self.position is not None:
            frame["since"] = {"offset": self.position.offset, "epoch": self.position.epoch}
        is_rejoin = self._joined_once
        self.join_ref += 1
        answer = self._link.send_request(frame)
        answer.add_done_callback(lambda done: self._answered(done, is_rejoin))

    def _answered(self, answer: asyncio.Future[dict[str, Any]], is_rejoin: bool) -> None:
        if answer.cancelled() or not self._wanted:
            return
        error = answer.exception()
        if error is None:
            self._subscribed(answer.result(), is_rejoin)
            return
        if isinstance(error, SocketError) and error.code == "disconnected":
            return  # the next connection resubscribes
        self._wanted = False
        self.state = "errored"
        self._link.forget(self)
        if not isinstance(error, SocketError):
            error = SocketError(str(error), "error")
        if self._join_waiter is not None:
            self._fail_join(error)
        else:
            self._link.report(error)

    def _subscribed(self, frame: dict[str, Any], is_rejoin: bool) -> None:
        self.state = "joined"
        self._joined_once = True
        self._reply = frame.get("data")
        offset, epoch, recovered = frame.get("offset"), frame.get("epoch"), frame.get("recovered")
        if isinstance(offset, int):
            # Recovered: the missed broadcasts follow and move the position on. Otherwise start from now.
            position = self.position
            if not (recovered is True and position is not None and position.epoch == epoch):
                self.position = StreamPosition(offset, str(epoch))
        if self._join_waiter is not None:
            waiter, self._join_waiter = self._join_waiter, None
            if not waiter.done():
                waiter.set_result(self._reply)
        if is_rejoin:
            info = Rejoin(self._reply, recovered if isinstance(recovered, bool) else None)
            for callback in list(self._rejoin_callbacks):
                self._call(callback, info)

    def _fail_join(self, error: SocketError) -> None:
        waiter, self._join_waiter = self._join_waiter, None
        if waiter is None:
            return
        if self.state == "joining":
            self.state = "errored"
            self._wanted = False
            self._link.forget(self)
        if not waiter.done():
            waiter.set_exception(error)
            waiter.exception()  # retrieved: a join that timed out first must not log "never retrieved"

    @staticmethod
    def _call(callback: Callable[[Any], object], value: Any) -> None:
        try:
            callback(value)
        except Exception:
            logger.exception("A channel callback raised")
