"""The per-socket supervisor: routes decoded frames, and owns every channel process of its socket.

The transport reads the socket, decodes each frame with the connection's wire format and hands
it here; :meth:`Supervisor.handle` never awaits a handler: actions run as tasks of their own,
and each joined channel instance has a mailbox drained by a task that exists only while there
is work. Frames for one instance are therefore handled in order, while instances, actions and
pings of one socket never wait for each other. The supervisor knows no server and no frame
shape: it encodes what it sends through the :class:`~socketapi.wire.WireFormat` it was handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from . import _eager
from .channels.process import ChannelProcess, RecordingProcess
from .exceptions import (
    FrameError,
    HandlerError,
    ImproperlyConfigured,
    LimitExceeded,
    NotSubscribed,
    UnknownAction,
    UnknownChannel,
    as_frame_error,
    clip,
)
from .settings import Limits

if TYPE_CHECKING:
    from .actions import ActionRoute
    from .connection import Socket
    from .history import HistoryStore
    from .presence import Presence
    from .pubsub import Broadcast, Hub
    from .router import Router
    from .types import LeaveReason, Ref
    from .wire import Inbound, WireFormat

logger = logging.getLogger("socketapi")

_ACTION_TIMEOUT = "socketapi: action timeout"
_NO_DEADLINE = float("inf")  # the cancel message that tells a timeout from a disconnect


class Supervisor:
    """Routes one socket's frames to actions and channel instances."""

    __slots__ = (
        "_closing",
        "_deadline_timer",
        "_history",
        "_tasks",
        "adopted",
        "adopts",
        "encode_broadcast",
        "hub",
        "inflight",
        "inflight_bytes",
        "joined",
        "leaving",
        "limits",
        "loop",
        "on_settled",
        "presence",
        "router",
        "send",
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
        self.send = socket.send_frame
        self.limits = limits or Limits()
        self.router = router
        self.hub = hub
        self.wire = wire
        # The key of each broadcast's frame cache: pass one object for all sockets of an app.
        self.encode_broadcast = encode_broadcast or wire.broadcast
        self.joined: dict[str, ChannelProcess] = {}
        self.leaving: dict[ChannelProcess, None] = {}  # dicts as sets: an empty dict is a third of an empty set
        # Running actions, by the id of their frame (alive as long as the action runs, and known to
        # the action itself, which needs no current_task() to find its entry): task, deadline.
        self._tasks: dict[int, tuple[asyncio.Task[Any], float]] = {}
        self.loop = asyncio.get_running_loop()
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None
        # Client frames whose work is not finished, and their bytes: the transport's inbound bounds.
        self.inflight = 0
        self.inflight_bytes = 0
        self.on_settled: Callable[[], None] | None = None  # the transport's: some work finished
        # Whether an action runs in the task that read its frame until it first waits, instead of
        # a task of its own: the transport then reads on in a new task and leaves this one to the
        # action (it picks up ``adopted``), so the action sees one task from its first line to
        # its last, and an action that never waits costs no task and no turn of the event loop.
        # Set by the ASGI transport where asyncio has no eager tasks (Python < 3.12).
        self.adopts = False
        self.adopted: tuple[Coroutine[Any, Any, None], Any] | None = None

    def handle(self, frame: Inbound, size: int = 1) -> None:
        """Dispatch one decoded frame of ``size`` bytes. Never awaits: the reader goes straight back to the socket."""
        try:
            kind = frame.type
            if kind == "action":
                self._action(frame, size)
            elif kind == "subscribe":
                self._subscribe(frame, size)
            elif kind == "event":
                process = self.joined.get(frame.channel)
                if process is None:
                    self.report(NotSubscribed(frame.channel), frame.ref, frame.channel)
                elif not self._stale(frame, process):
                    self._take(size)
                    process.submit(process.handle_in, frame.event, frame.data, frame.ref, size=size)
            elif kind == "unsubscribe":
                self._unsubscribe(frame, size)
            else:  # ping
                self.send(self.wire.pong(frame.ref))
        except Exception as exc:  # a bug of ours must cost one frame, never the socket
            self.report(exc, frame.ref, frame.channel or None)

    def _take(self, size: int) -> None:
        self.inflight += 1
        self.inflight_bytes += size

    def settle(self, size: int) -> None:
        """The work of a client frame of ``size`` bytes is finished."""
        self.inflight -= 1
        self.inflight_bytes -= size
        if self.on_settled is not None:
            self.on_settled()

    def _action(self, frame: Inbound, size: int) -> None:
        route = self.router.get_action(frame.channel)
        if route is None:
            self.report(UnknownAction(frame.channel), frame.ref, frame.channel)
            return
        task: asyncio.Task[Any] | None
        if self.adopts:
            coro = self._run_action(route, frame, size)
            for awaiting in coro.__await__():  # noqa: B007 (its first step: see _eager.start)
                break
            else:
                return  # it never waited: no task at all
            # It waits. The task that read its frame becomes its task from here on, and the
            # transport reads on in a new one (see adopts).
            task = asyncio.current_task()
            assert task is not None
            self.adopted = (coro, awaiting)
        else:
            task = _eager.spawn(self._run_action(route, frame, size), loop=self.loop)
            if task.done():  # (Python 3.12+: it ran eagerly and never waited)
                return
        self._take(size)
        timeout = self.limits.action_timeout
        if timeout is not None:
            loop = self.loop
            deadline = loop.time() + timeout
            self._tasks[id(frame)] = (task, deadline)
            if self._deadline_timer is None:
                self._deadline_timer = loop.call_at(deadline, self._expire_actions)
        else:
            self._tasks[id(frame)] = (task, _NO_DEADLINE)

    def _expire_actions(self) -> None:
        """Cancel the actions past their deadline: one timer per socket, not one per action."""
        self._deadline_timer = None
        now = self.loop.time()
        for task, deadline in list(self._tasks.values()):  # in start order, so in deadline order
            if deadline > now:
                self._deadline_timer = self.loop.call_at(deadline, self._expire_actions)
                return
            task.cancel(_ACTION_TIMEOUT)

    async def _run_action(self, route: ActionRoute, frame: Inbound, size: int) -> None:
        try:
            plan = route.plan
            kwargs = (
                plan.validate(frame.data, "action", frame.channel)
                if plan.simple
                else await plan.resolve(frame.data, "action", frame.channel, self.socket)
            )
            if route.function is not None:
                result = await route.function(**kwargs)
            else:
                action = route.cls()
                action.socket = self.socket
                result = await action.handle(**kwargs)
            self.send(self.wire.action_result(frame.channel, result, frame.ref))
        except asyncio.CancelledError as exc:
            if exc.args != (_ACTION_TIMEOUT,):
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            limit = f"Action '{clip(frame.channel)}' timed out after {self.limits.action_timeout:g}s."
            self.report(LimitExceeded(limit, "timeout"), frame.ref, frame.channel)
        except Exception as exc:
            self.report(exc, frame.ref, frame.channel)
        finally:
            # Counted here rather than in a done callback: one turn of the event loop less per
            # call. (A call that never waited was never counted: nothing to pop.)
            if self._tasks.pop(id(frame), None) is not None:
                self.settle(size)

    def _stale(self, frame: Inbound, process: ChannelProcess) -> bool:
        """A frame sent for an earlier join of a topic that was joined again since: ignored (as Phoenix does)."""
        if frame.join_ref is None or frame.join_ref == process.join_ref:
            return False
        logger.debug(
            "Socket %s: ignored a %s frame of an earlier join of %r", self.socket.id, frame.type, frame.channel
        )
        return True

    def _subscribe(self, frame: Inbound, size: int) -> None:
        process = self.joined.get(frame.channel)
        previous = None
        if process is not None and frame.join_ref != process.join_ref:
            # A new join of a joined topic (a client that numbers its joins rejoins so after an
            # error or a timeout): the old subscription ends first, as Phoenix closes the old channel.
            previous, process = process, None
            del self.joined[frame.channel]
            previous.muted = True
            self.leaving[previous] = None
            previous.submit(previous.leave, None, False)
        if process is None:
            match = self.router.match_channel(frame.channel)
            if match is None:
                self.report(UnknownChannel(frame.channel), frame.ref, frame.channel)
                return
            if len(self.joined) >= self.limits.max_channels:
                limit = f"Too many channels joined; the limit is {self.limits.max_channels}."
                self.report(LimitExceeded(limit, "too_many_channels"), frame.ref, frame.channel, frame.join_ref)
                return
            route, params = match
            kind = ChannelProcess if route.history is None else RecordingProcess
            process = kind(self, route, frame.channel, params, frame.join_ref)
            self.joined[frame.channel] = process
            if previous is not None:
                process.submit(previous.finish)  # the old leave hook runs before the new join
        self._take(size)
        process.submit(process.join, frame.data, frame.ref, frame.since, size=size)

    def _unsubscribe(self, frame: Inbound, size: int) -> None:
        process = self.joined.get(frame.channel)
        if process is None:
            self.send(self.wire.unsubscribed(frame.channel, frame.ref, frame.join_ref))
            return
        if self._stale(frame, process):
            return
        del self.joined[frame.channel]
        process.muted = True
        self.leaving[process] = None
        self._take(size)
        process.submit(process.leave, frame.ref, size=size)

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

    def forget(self, process: ChannelProcess) -> None:
        """Drop a process whose join failed or whose unsubscribe finished (unless a newer one took its topic)."""
        if self.joined.get(process.topic) is process:
            del self.joined[process.topic]
        self.leaving.pop(process, None)

    def report(self, exc: BaseException, ref: Ref | None, channel: str | None, join_ref: Ref | None = None) -> None:
        """The one place where an exception becomes an error frame (and a log line)."""
        error = as_frame_error(exc)
        if isinstance(exc, FrameError):
            logger.debug("Socket %s: %s", self.socket.id, error.message)
        else:
            logger.error("Socket %s: handler for %r raised", self.socket.id, channel, exc_info=exc)
            if self.limits.hide_error_details:
                error = HandlerError("Internal server error.")
        try:
            frame = self.wire.error(error, ref=ref, channel=channel, join_ref=join_ref)
        except Exception:  # the error's own data does not serialize
            logger.exception("Socket %s: cannot encode an error frame", self.socket.id)
            fallback = as_frame_error(RuntimeError(error.message))
            frame = self.wire.error(fallback, ref=ref, channel=channel, join_ref=join_ref)
        self.send(frame)

    async def close(self, reason: LeaveReason) -> None:
        """Tear down: cancel running actions, then ``leave`` every joined channel once, with ``reason``.

        Idempotent: every caller waits for the one teardown, which runs with the first reason given.
        A caller cancelled leaves it running; a teardown cut short (:meth:`cut_short`) is no error.
        """
        closing = self._closing
        if closing is None:
            closing = self._closing = asyncio.get_running_loop().create_task(self._close(reason))
        await asyncio.wait((closing,))  # a shield that does not pass on the teardown's own cancellation
        if not closing.cancelled():
            closing.result()

    def cut_short(self) -> None:
        """The shutdown deadline passed: cancel the teardown if it still runs (its ``leave`` hook)."""
        if self._closing is not None:
            self._closing.cancel()  # a no-op once it is done

    async def _close(self, reason: LeaveReason) -> None:
        self.on_settled = None
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        tasks = [task for task, _ in self._tasks.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()  # (a task cancelled before it ever ran has no finally to remove itself)
        processes = list(self.joined.values())
        self.joined.clear()
        for process in processes:
            await process.terminate(reason)
        for process in list(self.leaving):
            await process.finish()
