"""The per-socket supervisor: reads frames, routes them, and owns every channel instance of its socket.

One task reads the socket and never awaits a handler: actions run as tasks of their own,
and each joined channel instance has a mailbox drained by a task that exists only while
there is work. Frames for one instance are therefore handled in order, while instances,
actions and pings of one socket never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from . import _eager
from .exceptions import (
    FrameError,
    HandlerError,
    ImproperlyConfigured,
    InvalidFrame,
    LimitExceeded,
    NotSubscribed,
    UnknownAction,
    UnknownChannel,
    as_frame_error,
)
from .protocol import DecodeError, Inbound, WireFormat
from .pubsub import Broadcast, Hub
from .settings import Limits

if TYPE_CHECKING:
    from .actions import ActionRoute
    from .channels import ChannelRoute
    from .connection import Socket
    from .history import HistoryStore, Recovery
    from .presence import Presence
    from .router import Router
    from .types import JSON, Ref, StreamPosition

logger = logging.getLogger("socketapi")

State = Literal["joining", "joined", "failed", "closed"]
_ACTION_TIMEOUT = "socketapi: action timeout"  # the cancel message that tells a timeout from a disconnect
Job = tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]


class ChannelProcess:
    """One subscriber: a Channel instance, its ordered mailbox, and its place in the hub."""

    __slots__ = ("_draining", "_mailbox", "_runner", "_sup", "channel", "muted", "route", "state", "topic")

    def __init__(self, supervisor: Supervisor, route: ChannelRoute, topic: str, params: dict[str, str]) -> None:
        self._sup = supervisor
        self.route = route
        self.topic = topic
        self.state: State = "joining"
        self.muted = False  # set on unsubscribe: no broadcast reaches a leaving subscriber
        self._mailbox: list[Job] = []  # short-lived and small: a list costs far less than a deque
        self._runner: asyncio.Task[None] | None = None
        self._draining = False
        channel = self.channel = route.cls()
        channel.socket = supervisor.socket
        channel.topic_name = topic
        channel.params = dict(params)
        channel._context = self

    # -- mailbox ---------------------------------------------------------------------------

    def submit(self, job: Callable[..., Awaitable[None]], *args: Any) -> None:
        self._mailbox.append((job, args))
        if not self._draining:
            self._draining = True  # set first: a submit made while the drain starts eagerly joins it
            runner = _eager.spawn(self._drain())
            if not runner.done():
                self._runner = runner

    async def _drain(self) -> None:
        try:
            while self._mailbox:
                job, args = self._mailbox.pop(0)
                await job(*args)
        finally:
            self._draining = False
            self._runner = None

    # -- Subscriber (called by the hub, possibly from another thread) ----------------------

    def deliver(self, message: Broadcast) -> None:
        # The hot path of every broadcast, once per subscriber: keep it to a few attribute reads.
        if self.muted or self.state != "joined":
            return
        route, sup = self.route, self._sup
        if route.intercept and message.event in route.intercept:
            sup.socket.call_soon(lambda: self.submit(self._handle_out, message))
        else:
            sup.socket.send_frame(message.frame(sup.encode_broadcast), route.overflow)

    # -- ChannelContext (called by the Channel instance) -----------------------------------

    async def push(self, event: str | None, data: JSON) -> None:
        self._sup.socket.send_frame(self._sup.wire.push(self.topic, event, data), self.route.overflow)

    async def broadcast(self, event: str | None, data: JSON, *, include_self: bool) -> None:
        message = Broadcast.encode(self.topic, data, event)
        if self.route.history is not None:
            await self._sup.history_store().publish(
                self._sup.hub, message, self.route.history, None if include_self else self
            )
            return
        await self._sup.hub.publish(message, exclude=None if include_self else self)

    # -- presence (ChannelContext) -------------------------------------------------------------

    async def track(self, key: str, meta: dict[str, Any]) -> str:
        return await self._sup.presence_of(self).track(self, self.topic, key, meta)

    async def update(self, meta: dict[str, Any]) -> str:
        return await self._sup.presence_of(self).update(self, meta)

    async def untrack(self) -> None:
        await self._sup.presence_of(self).untrack(self)

    async def _release(self) -> None:
        """This subscriber is gone: its presence entry leaves with it."""
        presence = self._sup.presence
        if presence is not None and presence.tracks(self):
            try:
                await presence.untrack(self)
            except Exception:
                logger.exception("Socket %s: untracking the presence on %r failed", self._sup.socket.id, self.topic)

    # -- jobs --------------------------------------------------------------------------------

    async def join(self, data: dict[str, Any], ref: Ref | None, since: StreamPosition | None = None) -> None:
        sup, route, channel = self._sup, self.route, self.channel
        if self.state == "joined":  # a repeated subscribe: one subscription, acknowledged again
            position = None
            if route.history is not None:
                try:
                    position = (await sup.history_store().read(self.topic, route.history)).position
                except Exception as exc:
                    sup.report(exc, ref, self.topic)
                    return
            sup.socket.send_frame(sup.wire.subscribed(self.topic, None, ref, position=position))
            return
        self.state = "joining"
        try:
            kwargs: dict[str, Any] = {}
            if route.join_plan is not None:
                raw = {**data, **channel.params}  # the topic's own parameters cannot be overridden
                error = f"Invalid parameters for action '{self.topic}'"
                plan = route.join_plan
                kwargs = plan.validate(raw, error) if plan.simple else await plan.resolve(raw, error, sup.socket)
                for name in route.pattern.params:
                    if name in kwargs:
                        channel.params[name] = kwargs[name]
            reply = await channel.join(**kwargs)
            frame = sup.wire.subscribed(self.topic, reply, ref)
        except Exception as exc:
            self.state = "failed"
            sup.forget(self)
            sup.report(exc, ref, self.topic)
            return
        recovery: Recovery | None = None
        try:
            if route.presence:
                await sup.presence_of(self).start()  # replicating: presence_state covers every node
            await sup.hub.subscribe(self.topic, self)
            if route.history is not None:
                # Registered for live delivery first (buffered meanwhile), then the history read:
                # every broadcast is in one or the other, and offsets tell the overlap.
                recovery = await sup.history_store().read(self.topic, route.history, since)
                frame = sup.wire.subscribed(
                    self.topic,
                    reply,
                    ref,
                    position=recovery.position,
                    recovered=None if since is None else recovery.missed is not None,
                )
            elif since is not None:
                frame = sup.wire.subscribed(self.topic, reply, ref, recovered=False)  # nothing to recover from
        except Exception as exc:
            self.state = "failed"
            sup.forget(self)
            sup.report(exc, ref, self.topic)
            await self._unsubscribe()
            await self._release()
            await self._call_leave("error")
            return
        self.state = "joined"
        sup.socket.send_frame(frame)
        if route.presence:
            sup.socket.send_frame(
                sup.wire.push(self.topic, "presence_state", sup.presence_of(self).snapshot(self.topic))
            )
        if recovery is not None:
            self.catch_up(recovery)
        try:
            await channel.after_join()
        except Exception as exc:
            sup.report(exc, None, self.topic)

    async def handle_in(self, event: str, data: dict[str, Any], ref: Ref | None) -> None:
        sup = self._sup
        try:
            if self.state != "joined":
                raise NotSubscribed(self.topic)
            handler = self.route.events.get(event)
            if handler is not None:
                plan, error = handler.plan, f"Invalid parameters for event '{event}'"
                kwargs = plan.validate(data, error) if plan.simple else await plan.resolve(data, error, sup.socket)
                result = await handler.method(self.channel, **kwargs)
            else:
                result = await self.channel.handle_in(event, data)
            if result is not None:
                sup.socket.send_frame(sup.wire.reply(self.topic, event, result, ref))
        except Exception as exc:
            sup.report(exc, ref, self.topic)

    async def _handle_out(self, message: Broadcast) -> None:
        if self.muted or self.state != "joined":
            return
        try:
            await self.channel.handle_out(message.event or "", message.data)
        except Exception as exc:
            self._sup.report(exc, None, self.topic)

    async def leave(self, ref: Ref | None) -> None:
        try:
            if self.state == "joined":
                await self._shutdown("left")
            self._sup.socket.send_frame(self._sup.wire.unsubscribed(self.topic, ref))
        finally:
            self._sup.leaving.pop(self, None)

    async def finish(self) -> None:
        """Let an unsubscribe in progress complete (its ``leave`` runs once, with ``"left"``)."""
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    # -- teardown ----------------------------------------------------------------------------

    async def terminate(self, reason: str) -> None:
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
            await self._unsubscribe()
            await self._release()
            self.state = "closed"

    async def _shutdown(self, reason: str) -> None:
        self.state = "closed"
        await self._unsubscribe()
        await self._release()
        await self._call_leave(reason)

    def catch_up(self, recovery: Recovery) -> None:
        """Only processes of channels with history catch up (see :class:`RecordingProcess`)."""

    async def _unsubscribe(self) -> None:
        try:
            await self._sup.hub.unsubscribe(self.topic, self)
        except Exception:
            logger.exception("Socket %s: unsubscribing %r from the backend failed", self._sup.socket.id, self.topic)

    async def _call_leave(self, reason: str) -> None:
        try:
            await self.channel.leave(reason)
        except Exception as exc:
            if reason == "left":
                self._sup.report(exc, None, self.topic)
            else:
                logger.exception("Socket %s: leave(%r) of %r raised", self._sup.socket.id, reason, self.topic)


class RecordingProcess(ChannelProcess):
    """A subscriber of a channel with history: its broadcasts carry offsets, delivered once and in order.

    From its registration with the hub until the history was read and sent, live broadcasts
    are buffered; afterwards, any broadcast at or below the last offset sent is one the client
    already has (it may come late from the broker, after the history read) and is skipped.
    """

    __slots__ = ("_buffer", "_last")

    def __init__(self, supervisor: Supervisor, route: ChannelRoute, topic: str, params: dict[str, str]) -> None:
        super().__init__(supervisor, route, topic, params)
        self._buffer: list[Broadcast] | None = []
        self._last = -1

    def deliver(self, message: Broadcast) -> None:
        if self.state != "joined":
            buffer = self._buffer
            if buffer is not None and not self.muted:
                buffer.append(message)
            return
        offset = message.offset
        if offset is not None:
            if offset <= self._last:
                return
            self._last = offset
        super().deliver(message)

    def catch_up(self, recovery: Recovery) -> None:
        """Send what the client missed, then what arrived while it was being read; go live."""
        buffered, self._buffer = self._buffer or [], None
        for message in recovery.missed or ():
            ChannelProcess.deliver(self, message)
        self._last = recovery.position.offset
        for message in buffered:
            self.deliver(message)

    async def join(self, data: dict[str, Any], ref: Ref | None, since: StreamPosition | None = None) -> None:
        if self.state != "joined":
            self._buffer = []
        await super().join(data, ref, since)
        if self.state != "joined":
            self._buffer = None


class Supervisor:
    """Routes one socket's frames to actions and channel instances."""

    __slots__ = (
        "_deadline_timer",
        "_history",
        "_tasks",
        "encode_broadcast",
        "hub",
        "joined",
        "leaving",
        "limits",
        "presence",
        "router",
        "socket",
        "wire",
    )

    def __init__(
        self,
        socket: Socket,
        router: Router,
        hub: Hub,
        wire: WireFormat,
        limits: Limits | None = None,
        encode_broadcast: Callable[[Broadcast], str] | None = None,
        *,
        presence: Presence | None = None,
        history: HistoryStore | None = None,
    ) -> None:
        self.presence = presence
        self._history = history
        self.socket = socket
        self.limits = limits or Limits()
        self.router = router
        self.hub = hub
        self.wire = wire
        # The key of each broadcast's frame cache: pass one object for all sockets of an app.
        self.encode_broadcast = encode_broadcast or wire.broadcast
        self.joined: dict[str, ChannelProcess] = {}
        self.leaving: dict[ChannelProcess, None] = {}  # dicts as sets: an empty dict is a third of an empty set
        self._tasks: dict[asyncio.Task[None], float] = {}  # running actions and their deadlines
        self._deadline_timer: asyncio.TimerHandle | None = None

    def handle(self, raw: str | bytes) -> None:
        """Dispatch one frame. Never awaits: the reader goes straight back to the socket."""
        if not self.socket.admit():
            self.report(LimitExceeded("Rate limit exceeded; frame dropped.", "rate_limited"), None, None)
            return
        try:
            frame = self.wire.decode(raw)
        except DecodeError as exc:
            logger.debug("Socket %s: bad frame: %s", self.socket.id, exc.error.message)
            self.socket.send_frame(self.wire.error(exc.error, ref=exc.ref, channel=exc.channel))
            return
        except Exception as exc:
            logger.exception("Socket %s: the wire format failed to decode a frame", self.socket.id)
            self.socket.send_frame(self.wire.error(InvalidFrame(f"Undecodable frame: {exc}")))
            return
        try:
            self._dispatch(frame)
        except Exception as exc:  # a bug of ours must cost one frame, never the socket
            self.report(exc, frame.ref, frame.channel or None)

    def _dispatch(self, frame: Inbound) -> None:
        kind = frame.type
        if kind == "action":
            self._action(frame)
        elif kind == "subscribe":
            self._subscribe(frame)
        elif kind == "event":
            process = self.joined.get(frame.channel)
            if process is None:
                self.report(NotSubscribed(frame.channel), frame.ref, frame.channel)
            else:
                process.submit(process.handle_in, frame.event, frame.data, frame.ref)
        elif kind == "unsubscribe":
            self._unsubscribe(frame)
        else:  # ping
            self.socket.send_frame(self.wire.pong(frame.ref))

    def _action(self, frame: Inbound) -> None:
        route = self.router.get_action(frame.channel)
        if route is None:
            self.report(UnknownAction(frame.channel), frame.ref, frame.channel)
            return
        task = _eager.spawn(self._run_action(route, frame))
        if task.done():
            return
        task.add_done_callback(self._forget_task)
        timeout = self.limits.action_timeout
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._tasks[task] = loop.time() + timeout
            if self._deadline_timer is None:
                self._deadline_timer = loop.call_at(self._tasks[task], self._expire_actions)
        else:
            self._tasks[task] = float("inf")

    def _expire_actions(self) -> None:
        """Cancel the actions past their deadline: one timer per socket, not one per action."""
        self._deadline_timer = None
        now = asyncio.get_running_loop().time()
        for task, deadline in list(self._tasks.items()):  # in start order, so in deadline order
            if deadline > now:
                self._deadline_timer = asyncio.get_running_loop().call_at(deadline, self._expire_actions)
                return
            task.cancel(_ACTION_TIMEOUT)

    async def _run_action(self, route: ActionRoute, frame: Inbound) -> None:
        try:
            error = f"Invalid parameters for action '{frame.channel}'"
            plan = route.plan
            kwargs = (
                plan.validate(frame.data, error) if plan.simple else await plan.resolve(frame.data, error, self.socket)
            )
            if route.function is not None:
                result = await route.function(**kwargs)
            else:
                action = route.cls()
                action.socket = self.socket
                result = await action.handle(**kwargs)
            self.socket.send_frame(self.wire.action_result(frame.channel, result, frame.ref))
        except asyncio.CancelledError as exc:
            if exc.args != (_ACTION_TIMEOUT,):
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            limit = f"Action '{frame.channel}' timed out after {self.limits.action_timeout:g}s."
            self.report(LimitExceeded(limit, "timeout"), frame.ref, frame.channel)
        except Exception as exc:
            self.report(exc, frame.ref, frame.channel)

    def _subscribe(self, frame: Inbound) -> None:
        process = self.joined.get(frame.channel)
        if process is None:
            match = self.router.match_channel(frame.channel)
            if match is None:
                self.report(UnknownChannel(frame.channel), frame.ref, frame.channel)
                return
            if len(self.joined) >= self.limits.max_channels:
                limit = f"Too many channels joined; the limit is {self.limits.max_channels}."
                self.report(LimitExceeded(limit, "too_many_channels"), frame.ref, frame.channel)
                return
            route, params = match
            kind = ChannelProcess if route.history is None else RecordingProcess
            process = self.joined[frame.channel] = kind(self, route, frame.channel, params)
        process.submit(process.join, frame.data, frame.ref, frame.since)

    def _unsubscribe(self, frame: Inbound) -> None:
        process = self.joined.pop(frame.channel, None)
        if process is None:
            self.socket.send_frame(self.wire.unsubscribed(frame.channel, frame.ref))
            return
        process.muted = True
        self.leaving[process] = None
        process.submit(process.leave, frame.ref)

    def presence_of(self, process: ChannelProcess) -> Presence:
        if self.presence is None or not process.route.presence:
            raise ImproperlyConfigured(
                f"{process.route.cls.__qualname__} has no presence; set `presence = True` on the class to track"
            )
        return self.presence

    def history_store(self) -> HistoryStore:
        if self._history is None:
            raise ImproperlyConfigured(
                f"The pub/sub backend {type(self.hub.backend).__name__} keeps no history; "
                "channels with history need InMemoryBackend or RedisBackend"
            )
        return self._history

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    def forget(self, process: ChannelProcess) -> None:
        """Drop a process whose join failed (unless a newer one took its topic)."""
        if self.joined.get(process.topic) is process:
            del self.joined[process.topic]

    def report(self, exc: BaseException, ref: Ref | None, channel: str | None) -> None:
        """The one place where an exception becomes an error frame (and a log line)."""
        error = as_frame_error(exc)
        if isinstance(exc, FrameError):
            logger.debug("Socket %s: %s", self.socket.id, error.message)
        else:
            logger.error("Socket %s: handler for %r raised", self.socket.id, channel, exc_info=exc)
            if self.limits.hide_error_details:
                error = HandlerError("Internal server error.")
        try:
            frame = self.wire.error(error, ref=ref, channel=channel)
        except Exception:  # the error's own data does not serialize
            logger.exception("Socket %s: cannot encode an error frame", self.socket.id)
            frame = self.wire.error(as_frame_error(RuntimeError(error.message)), ref=ref, channel=channel)
        self.socket.send_frame(frame)

    async def close(self, reason: str) -> None:
        """Tear down: cancel running actions, then ``leave`` every joined channel once (idempotent)."""
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        processes = list(self.joined.values())
        self.joined.clear()
        for process in processes:
            await process.terminate(reason)
        for process in list(self.leaving):
            await process.finish()
