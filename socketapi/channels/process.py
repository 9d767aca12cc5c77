"""One subscriber at runtime: a Channel instance, its ordered mailbox, and its place in the hub.

A process sees the rest of the engine only through :class:`ProcessContext` (in practice its
socket's supervisor): where to send frames, how to report an error, how to be forgotten, and
the hub. It never learns which transport or wire format the socket uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .. import _eager
from ..exceptions import NotSubscribed
from ..pubsub import Broadcast

if TYPE_CHECKING:
    from ..connection import Socket
    from ..history import HistoryStore, Recovery
    from ..presence import Presence
    from ..pubsub import Hub
    from ..settings import Limits, OverflowPolicy
    from ..types import JSON, LeaveReason, Ref, StreamPosition
    from ..wire import WireFormat
    from .route import ChannelRoute

logger = logging.getLogger("socketapi")

State = Literal["joining", "joined", "closed"]  # only "joined" is ever tested for: it lets broadcasts and events in
Job = tuple[Callable[..., Awaitable[None]], tuple[Any, ...], int]  # (job, its arguments, its frame's size)


class ProcessContext(Protocol):
    """What a channel process needs of its socket's supervisor."""

    @property
    def socket(self) -> Socket: ...

    @property
    def wire(self) -> WireFormat:
        """Encodes the frames the process sends (never decodes: frames arrive decoded)."""

    @property
    def hub(self) -> Hub: ...

    @property
    def encode_broadcast(self) -> Callable[[Broadcast], str]:
        """The one encoder all subscribers of this wire format share, so a broadcast is encoded once."""

    def send(self, frame: str, overflow: OverflowPolicy | None = None) -> None:
        """The socket's ``send_frame``: deliveries call it on the socket itself, without this hop."""

    @property
    def limits(self) -> Limits: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The socket's event loop (looked up once: each lookup is a system call)."""

    def report(self, exc: BaseException, ref: Ref | None, channel: str | None, join_ref: Ref | None = None) -> None:
        """Turn an exception into an error frame to the client."""

    def forget(self, process: ChannelProcess) -> None:
        """The process is done (its join failed, or its unsubscribe finished): drop it."""

    @property
    def presence(self) -> Presence | None: ...

    def presence_of(self, process: ChannelProcess) -> Presence:
        """The app's presence, for a process of a channel with ``presence = True`` (else an error)."""

    def history_store(self) -> HistoryStore:
        """The store keeping history for the app's backend (an error if the backend keeps none)."""

    def settle(self, size: int) -> None:
        """The work of a client frame of ``size`` bytes is finished (the inbound bounds count it no more)."""


class ChannelProcess:
    """One subscriber: a Channel instance, its ordered mailbox, and its place in the hub."""

    __slots__ = (
        "_context",
        "_draining",
        "_encode",
        "_mailbox",
        "_outgoing",
        "_outgoing_bytes",
        "_runner",
        "_socket",
        "channel",
        "join_ref",
        "muted",
        "route",
        "state",
        "topic",
    )

    def __init__(
        self,
        context: ProcessContext,
        route: ChannelRoute,
        topic: str,
        params: dict[str, str],
        join_ref: Ref | None = None,
    ) -> None:
        self._context = context
        # Held here, not read through the context: a delivery touches one object fewer.
        self._socket = context.socket
        self._encode = context.encode_broadcast
        self.route = route
        self.topic = topic
        self.join_ref = join_ref  # the wire format's number for this join, echoed in what it sends
        self.state: State = "joining"
        self.muted = False  # set on unsubscribe: no broadcast reaches a leaving subscriber
        self._mailbox: list[Job] = []  # short-lived and small: a list costs far less than a deque
        self._runner: asyncio.Task[None] | None = None
        self._draining = False
        self._outgoing = 0  # broadcasts in the mailbox for handle_out, and their payloads' bytes
        self._outgoing_bytes = 0
        channel = self.channel = route.cls()
        channel.socket = self._socket
        channel.topic_name = topic
        channel.params = dict(params)
        channel._context = self

    # -- mailbox ---------------------------------------------------------------------------

    def submit(self, job: Callable[..., Awaitable[None]], *args: Any, size: int = 0) -> None:
        """Queue ``job(*args)``; ``size`` is the bytes of the client frame it answers (0: not a client frame)."""
        self._mailbox.append((job, args, size))
        if not self._draining:
            self._draining = True  # set first: a submit made while the drain starts eagerly joins it
            runner = _eager.spawn(self._drain(), loop=self._context.loop)
            if not runner.done():
                self._runner = runner

    async def _drain(self) -> None:
        try:
            while self._mailbox:
                job, args, size = self._mailbox.pop(0)
                await job(*args)
                if size:
                    self._context.settle(size)
        finally:
            self._draining = False
            self._runner = None

    # -- Subscriber (called by the hub, possibly from another thread) ----------------------

    def deliver(self, message: Broadcast) -> None:
        # The hot path of every broadcast, once per subscriber: keep it to a few attribute reads.
        if self.muted or self.state != "joined":
            return
        route = self.route
        if route.intercept and message.event in route.intercept:
            self._socket.call_soon(lambda: self._intercepted(message))
        else:
            latest, encode = message.latest, self._encode
            # message.frame(encode), without the call when another subscriber just encoded it
            frame = latest[1] if latest is not None and latest[0] is encode else message.frame(encode)
            self._socket.send_frame(frame, route.overflow)

    def _intercepted(self, message: Broadcast) -> None:
        """Queue a broadcast for ``handle_out``, bounded as the socket's send queue is.

        A slow ``handle_out`` would otherwise let broadcasts pile up in the mailbox without
        limit: at ``max_queue`` of them, or ``max_queue_bytes`` of their payloads, the channel's
        overflow policy applies (``"close"``: the socket is closed with 1013; ``"drop_oldest"``:
        the oldest waiting broadcast is dropped, or this one if none is waiting).
        """
        limits = self._context.limits
        size = len(message.payload)
        while self._outgoing >= limits.max_queue or self._outgoing_bytes + size > limits.max_queue_bytes:
            if (self.route.overflow or limits.overflow) != "drop_oldest":
                logger.warning(
                    "Socket %s: %d broadcasts wait for %s's handle_out; closing it",
                    self._socket.id,
                    self._outgoing,
                    self.topic,
                )
                self._socket.overflow()
                return
            if not self._drop_oldest_out():
                return
        self._outgoing += 1
        self._outgoing_bytes += size
        self.submit(self._handle_out, message)

    def _drop_oldest_out(self) -> bool:
        for i, (job, args, _) in enumerate(self._mailbox):
            if job == self._handle_out:
                del self._mailbox[i]
                self._outgoing -= 1
                self._outgoing_bytes -= len(args[0].payload)
                return True
        return False

    # -- ChannelContext (called by the Channel instance) -----------------------------------

    async def push(self, event: str | None, data: JSON) -> None:
        self._context.send(self._context.wire.push(self.topic, event, data, self.join_ref), self.route.overflow)

    async def broadcast(self, event: str | None, data: JSON, *, include_self: bool) -> None:
        message = Broadcast.encode(self.topic, data, event)
        if self.route.history is not None:
            context = self._context
            await context.history_store().publish(
                context.hub, message, self.route.history, None if include_self else self
            )
            return
        await self._context.hub.publish(message, exclude=None if include_self else self)

    # -- presence (ChannelContext) -------------------------------------------------------------

    async def track(self, key: str, meta: dict[str, Any]) -> str:
        return await self._context.presence_of(self).track(self, self.topic, key, meta)

    async def update(self, meta: dict[str, Any]) -> str:
        return await self._context.presence_of(self).update(self, meta)

    async def untrack(self) -> None:
        await self._context.presence_of(self).untrack(self)

    def _release(self) -> None:
        """This subscriber is gone: its presence entry leaves with it (at once: teardown may be cut short)."""
        presence = self._context.presence
        if presence is not None and presence.tracks(self):
            try:
                presence.release(self)
            except Exception:
                logger.exception("Socket %s: untracking the presence on %r failed", self._socket.id, self.topic)

    # -- jobs --------------------------------------------------------------------------------

    async def join(self, data: dict[str, Any], ref: Ref | None, since: StreamPosition | None = None) -> None:
        context, route, channel = self._context, self.route, self.channel
        if self.state == "joined":  # a repeated subscribe: one subscription, acknowledged again
            position = None
            if route.history is not None:
                try:
                    position = (await context.history_store().read(self.topic, route.history)).position
                except Exception as exc:
                    context.report(exc, ref, self.topic, self.join_ref)
                    return
            context.send(context.wire.subscribed(self.topic, None, ref, self.join_ref, position=position))
            return
        try:
            kwargs: dict[str, Any] = {}
            if route.join_plan is not None:
                raw = {**data, **channel.params}  # the topic's own parameters cannot be overridden
                plan = route.join_plan
                kwargs = (
                    plan.validate(raw, "action", self.topic)
                    if plan.simple
                    else await plan.resolve(raw, "action", self.topic, self._socket)
                )
                for name in route.pattern.params:
                    if name in kwargs:
                        channel.params[name] = kwargs[name]
            reply = await channel.join(**kwargs)
            frame = context.wire.subscribed(self.topic, reply, ref, self.join_ref)
        except Exception as exc:
            context.forget(self)
            context.report(exc, ref, self.topic, self.join_ref)
            return
        recovery: Recovery | None = None
        try:
            if route.presence:
                await context.presence_of(self).start()  # replicating: presence_state covers every node
            await context.hub.subscribe(self.topic, self)
            if route.history is not None:
                # Registered for live delivery first (buffered meanwhile), then the history read:
                # every broadcast is in one or the other, and offsets tell the overlap.
                recovery = await context.history_store().read(self.topic, route.history, since)
                recovered = None if since is None else recovery.missed is not None
                frame = context.wire.subscribed(
                    self.topic, reply, ref, self.join_ref, position=recovery.position, recovered=recovered
                )
            elif since is not None:
                frame = context.wire.subscribed(
                    self.topic, reply, ref, self.join_ref, recovered=False
                )  # nothing to recover from
        except Exception as exc:
            context.forget(self)
            context.report(exc, ref, self.topic, self.join_ref)
            self._release()
            await self._unsubscribe()
            await self._call_leave("error")
            return
        self.state = "joined"
        context.send(frame)
        if route.presence:
            context.send(
                context.wire.push(
                    self.topic, "presence_state", context.presence_of(self).snapshot(self.topic), self.join_ref
                )
            )
        if recovery is not None:
            self.catch_up(recovery)
        try:
            await channel.after_join()
        except Exception as exc:
            context.report(exc, None, self.topic, self.join_ref)

    async def handle_in(self, event: str, data: dict[str, Any], ref: Ref | None) -> None:
        context = self._context
        try:
            if self.state != "joined":
                raise NotSubscribed(self.topic)
            handler = self.route.events.get(event)
            if handler is not None:
                plan = handler.plan
                kwargs = (
                    plan.validate(data, "event", event)
                    if plan.simple
                    else await plan.resolve(data, "event", event, self._socket)
                )
                result = await handler.method(self.channel, **kwargs)
            else:
                result = await self.channel.handle_in(event, data)
            if result is not None:
                context.send(context.wire.reply(self.topic, event, result, ref, self.join_ref))
        except Exception as exc:
            context.report(exc, ref, self.topic, self.join_ref)

    async def _handle_out(self, message: Broadcast) -> None:
        self._outgoing -= 1
        self._outgoing_bytes -= len(message.payload)
        if self.muted or self.state != "joined":
            return
        try:
            await self.channel.handle_out(message.event or "", message.data)
        except Exception as exc:
            self._context.report(exc, None, self.topic, self.join_ref)

    async def leave(self, ref: Ref | None, answer: bool = True) -> None:
        """End the subscription with ``leave("left")``: the client asked (``answer`` it) or joined the topic anew."""
        context = self._context
        try:
            if self.state == "joined":
                await self._shutdown("left")
            if answer:
                context.send(context.wire.unsubscribed(self.topic, ref, self.join_ref))
            closed = context.wire.closed(self.topic, self.join_ref)
            if closed is not None:
                context.send(closed)
        finally:
            context.forget(self)

    async def finish(self) -> None:
        """Let an unsubscribe in progress complete (its ``leave`` runs once, with ``"left"``)."""
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    # -- teardown ----------------------------------------------------------------------------

    async def terminate(self, reason: LeaveReason) -> None:
        """The socket is going away: stop now, then run ``leave`` if the join had succeeded."""
        self.muted = True
        self._mailbox.clear()
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self.state == "joined":
            await self._shutdown(reason)
        else:
            self._release()
            await self._unsubscribe()

    async def _shutdown(self, reason: LeaveReason) -> None:
        self.state = "closed"
        self._release()
        await self._unsubscribe()
        await self._call_leave(reason)

    def catch_up(self, recovery: Recovery) -> None:
        """Only processes of channels with history catch up (see :class:`RecordingProcess`)."""

    async def _unsubscribe(self) -> None:
        try:
            await self._context.hub.unsubscribe(self.topic, self)
        except Exception:
            logger.exception("Socket %s: unsubscribing %r from the backend failed", self._socket.id, self.topic)

    async def _call_leave(self, reason: LeaveReason) -> None:
        try:
            await self.channel.leave(reason)
        except Exception as exc:
            if reason == "left":
                self._context.report(exc, None, self.topic, self.join_ref)
            else:
                logger.exception("Socket %s: leave(%r) of %r raised", self._socket.id, reason, self.topic)


class RecordingProcess(ChannelProcess):
    """A subscriber of a channel with history: its broadcasts carry offsets, delivered once and in order.

    From its registration with the hub until the history was read and sent, live broadcasts
    are buffered; afterwards, any broadcast at or below the last offset sent is one the client
    already has (it may come late from the broker, after the history read) and is skipped.
    Channels without history use the plain :class:`ChannelProcess`, whose hot path this leaves alone.
    """

    __slots__ = ("_buffer", "_last")

    def __init__(
        self,
        context: ProcessContext,
        route: ChannelRoute,
        topic: str,
        params: dict[str, str],
        join_ref: Ref | None = None,
    ) -> None:
        super().__init__(context, route, topic, params, join_ref)
        self._buffer: list[Broadcast] | None = []
        self._last = -1

    def deliver(self, message: Broadcast) -> None:
        # ChannelProcess.deliver's body, inlined (a call per subscriber per broadcast is the cost here).
        if self.muted or self.state != "joined":
            buffer = self._buffer
            if buffer is not None:  # (muted while joining: catch_up drops what was buffered)
                buffer.append(message)
            return
        offset = message.offset
        if offset is not None:
            if offset <= self._last:
                return
            self._last = offset
        route = self.route
        if route.intercept and message.event in route.intercept:
            self._socket.call_soon(lambda: self._intercepted(message))
        else:
            latest, encode = message.latest, self._encode
            # message.frame(encode), without the call when another subscriber just encoded it
            frame = latest[1] if latest is not None and latest[0] is encode else message.frame(encode)
            self._socket.send_frame(frame, route.overflow)

    def catch_up(self, recovery: Recovery) -> None:
        """Send what the client missed, then what arrived while it was being read; go live."""
        buffered, self._buffer = self._buffer or [], None
        for message in recovery.missed or ():
            ChannelProcess.deliver(self, message)
        self._last = recovery.position.offset
        for message in buffered:
            self.deliver(message)
