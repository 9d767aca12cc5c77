"""Local fan-out and the bridge to the backend (phoenix_pubsub's design).

A broadcast is delivered to this node's subscribers in-process first, then handed to the
backend for the other nodes, tagged with this node's id; messages coming back from the
backend with our own id are dropped, so no subscriber ever gets a broadcast twice.

The hub lives on one event loop: the one it was started on, by the app's lifespan, by
``async with hub:``, or lazily by the first subscribe or publish (a worker or a script that
never serves). A lazily started hub disconnects its backend when that loop shuts down.
Calls made from another thread while that loop runs are handed over to it.

Where a broadcast made without a server goes: a backend that reaches other processes (Redis)
carries it as any other; with one that does not (the in-memory default), the hub hands it to
``outside`` (the app's :class:`~socketapi.relay.OutsideRelay`, which posts it to the server at
``host:port``) and its errors reach the caller: a broadcast that reaches nobody is never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..exceptions import BackendError
from .message import Broadcast

if TYPE_CHECKING:
    from types import TracebackType

    from ..types import Subscriber
    from .base import PubSubBackend

logger = logging.getLogger("socketapi.pubsub")

T = TypeVar("T")
Publish = Callable[[Broadcast], Awaitable[None]]


class WriteBacklog:
    """How many of the hub's subscribers' sockets have a write waiting for their client.

    Each socket's writer counts itself in while a write waits; :meth:`Hub.publish` reads it to
    decide whether to give the loop a turn. Approximate across threads, which is all it needs.
    """

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        self.waiting = 0


class _Topic:
    """One topic's local subscribers, and whether the backend relays it to us."""

    __slots__ = ("joining", "lock", "relayed", "subscribers")

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.joining = 0  # subscribe calls in progress, waiting for the backend or the lock
        self.relayed = False  # the backend confirmed our subscription (for this run of the hub)
        self.lock = asyncio.Lock()  # serializes the backend's subscribe/unsubscribe of this topic


class Hub:
    """Topic → local subscribers, with the backend subscribed to exactly the topics that have any.

    ``subscribe`` returns once the backend confirmed the topic, for the first subscriber of
    a topic and for every other one that joins while that confirmation is on its way: a
    broadcast published anywhere after it returned reaches the subscriber.
    """

    def __init__(self, backend: PubSubBackend, *, outside: Publish | None = None) -> None:
        self.backend = backend
        self.outside = outside
        self.serving = False  # set by the app when this process serves it (or by a local subscriber)
        self.node_id = uuid.uuid4().hex
        self._topics: dict[str, _Topic] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
        self._run = 0
        self._unrelayed = 0
        # Recorded broadcasts come back to their own node through the backend, in offset order;
        # the subscriber a ``broadcast_from`` leaves out is found here by the name it travelled with.
        self.skips: dict[str, Subscriber] = {}
        self.backlog = WriteBacklog()  # shared with the writers of the sockets this hub serves

    @property
    def topics(self) -> dict[str, int]:
        """Local subscriber count per topic, for introspection and metrics."""
        return {topic: len(entry.subscribers) for topic, entry in list(self._topics.items()) if entry.subscribers}

    @property
    def running(self) -> bool:
        """Whether the backend is connected and its messages are being relayed to local subscribers."""
        return self._listener is not None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the backend and relay its messages, on the running event loop; idempotent.

        Raises:
            BackendError: the backend could not connect (the broker is unreachable).
            RuntimeError: the hub already runs on another thread's event loop.
        """
        loop = asyncio.get_running_loop()
        while self._loop is not None:
            if self._loop is not loop:
                if _alive(self._loop):
                    raise RuntimeError(
                        "The hub already runs on another event loop (another thread); "
                        "start it once, on the loop that serves the app"
                    )
                self._abandon()
                break
            if self._listener is not None:
                return
            assert self._ready is not None
            await asyncio.shield(self._ready)  # another task is starting it on this loop
        self._loop = loop
        ready = self._ready = loop.create_future()
        connected = False
        try:
            await self.backend.connect()
            connected = True
            for topic, entry in list(self._topics.items()):  # subscribers that outlived a previous run
                async with entry.lock:
                    if entry.subscribers and not entry.relayed:
                        await self.backend.subscribe(topic)
                        entry.relayed = True
        except BaseException:
            self._loop = self._ready = None
            ready.set_result(None)
            if connected:
                with contextlib.suppress(Exception):
                    await self.backend.disconnect()
            raise
        self._run += 1
        self._listener = loop.create_task(self._listen(), name="socketapi-hub-listener")
        self._keeper = self._keep(self._run)
        await self._keeper.__anext__()
        ready.set_result(None)

    async def stop(self) -> None:
        """Stop relaying and disconnect the backend; local subscribers stay registered."""
        loop = self._loop
        if loop is None:
            return
        if loop is not asyncio.get_running_loop():
            if _alive(loop):
                await _handover(self.stop(), loop)
            else:
                self._abandon()
            return
        while self._listener is None:
            assert self._ready is not None
            await asyncio.shield(self._ready)
            if self._loop is not loop:
                return
        keeper = self._keeper
        await self._shutdown()
        if keeper is not None:
            await keeper.aclose()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _shutdown(self) -> None:
        listener = self._listener
        self._run += 1
        self._listener = self._keeper = self._ready = self._loop = None
        for entry in self._topics.values():
            entry.relayed = False
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await self.backend.disconnect()

    async def _keep(self, run: int) -> AsyncGenerator[None, None]:
        # Parked at its yield for the whole run. When the loop shuts down (the end of
        # asyncio.run in a script, a test's loop closing), the loop closes every async
        # generator it knows of: that is our cue to disconnect a hub nobody stopped.
        try:
            yield
        finally:
            if self._run == run and self._loop is not None:
                try:
                    await self._shutdown()
                except Exception:
                    logger.exception("Disconnecting the pub/sub backend at event loop shutdown failed")

    def _abandon(self) -> None:
        """Forget a run whose event loop is gone (closed without the hub being stopped)."""
        self._run += 1
        self._listener = self._keeper = self._ready = self._loop = None
        for entry in self._topics.values():
            entry.relayed = False
            entry.lock = asyncio.Lock()

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The hub's loop when it runs on another thread than the caller; ``None`` otherwise."""
        loop = self._loop
        if loop is None or loop is asyncio.get_running_loop():
            return None
        if _alive(loop):
            return loop
        self._abandon()
        return None

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        """Add a local subscriber; returns once the backend relays ``topic`` to this node."""
        loop = self._elsewhere()
        if loop is not None:
            return await _handover(self.subscribe(topic, subscriber), loop)
        self.serving = True
        if self._listener is None:
            await self.start()
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = _Topic()
        elif subscriber in entry.subscribers:
            return
        elif entry.relayed and not entry.lock.locked():
            entry.subscribers.add(subscriber)  # the backend already relays it, and nobody is changing that
            return
        entry.joining += 1
        try:
            async with entry.lock:
                if not entry.relayed:
                    await self.backend.subscribe(topic)
                    entry.relayed = True
                entry.subscribers.add(subscriber)
        finally:
            entry.joining -= 1
            self._forget_if_idle(topic, entry)

    async def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        """Remove a local subscriber; the last one to leave unsubscribes the backend."""
        loop = self._elsewhere()
        if loop is not None:
            return await _handover(self.unsubscribe(topic, subscriber), loop)
        entry = self._topics.get(topic)
        if entry is None or subscriber not in entry.subscribers:
            return
        entry.subscribers.discard(subscriber)
        if entry.subscribers or entry.joining:
            return
        try:
            async with entry.lock:
                # Someone may have started joining while we waited: then the topic stays.
                if entry.relayed and not entry.subscribers and not entry.joining:
                    entry.relayed = False
                    if self._listener is not None:
                        await self.backend.unsubscribe(topic)
        finally:
            self._forget_if_idle(topic, entry)

    def _forget_if_idle(self, topic: str, entry: _Topic) -> None:
        if entry.subscribers or entry.joining or entry.relayed or entry.lock.locked():
            return
        if self._topics.get(topic) is entry:
            del self._topics[topic]

    # -- broadcasting ----------------------------------------------------------------------

    async def publish(self, message: Broadcast, *, exclude: Subscriber | None = None, local: bool = True) -> None:
        """Deliver ``message`` to this node's subscribers now (unless ``local`` is false), then relay it.

        A backend failure is logged, never raised: the local subscribers already have the
        message, and the other nodes lose it (pub/sub is at-most-once).

        Raises:
            RelayError: this process serves nothing, the backend reaches no other process, and
                the server at the app's ``host:port`` could not be reached or refused the broadcast.
        """
        if not self.serving and self.outside is not None and not self.backend.reaches_other_processes:
            await self.outside(message)
            return
        if local:
            self.deliver_local(message, exclude)
        envelope = message.to_envelope(self.node_id)  # encoded once, whatever the number of nodes
        try:
            loop = self._elsewhere()
            if loop is not None:
                await _handover(self._relay(message.topic, envelope), loop)
            else:
                await self._relay(message.topic, envelope)
        except Exception as exc:
            self._unrelayed += 1
            if self._unrelayed == 1:
                logger.warning(
                    "Broadcasts on this node no longer reach other nodes (%s: %s); "
                    "this node's own subscribers still get them",
                    type(exc).__name__,
                    exc,
                )
            else:
                logger.debug("Broadcast on %r not relayed to other nodes: %s", message.topic, exc)
        if self.backlog.waiting:
            # Some socket's write had to wait: let the loop flush it, or a handler broadcasting in
            # a tight loop fills that subscriber's queue (and trips its overflow policy) before
            # the client had any chance to take a frame.
            await asyncio.sleep(0)

    async def _relay(self, topic: str, envelope: bytes) -> None:
        if self._listener is None:
            await self.start()
        await self.backend.publish(topic, envelope)
        if self._unrelayed:
            logger.warning(
                "Broadcasts reach other nodes again; %d published meanwhile reached this node's subscribers only",
                self._unrelayed,
            )
            self._unrelayed = 0

    def deliver_local(self, message: Broadcast, exclude: Subscriber | None = None) -> None:
        entry = self._topics.get(message.topic)
        if entry is None:
            return
        # A snapshot: a subscriber may leave (even from another thread) while we iterate.
        if exclude is None:
            for subscriber in tuple(entry.subscribers):
                subscriber.deliver(message)
        else:
            for subscriber in tuple(entry.subscribers):
                if subscriber is not exclude:
                    subscriber.deliver(message)

    async def _listen(self) -> None:
        try:
            async for _topic, raw in self.backend.listen():
                try:
                    origin, message = Broadcast.from_envelope(raw)
                except BackendError:
                    logger.warning("Dropped a malformed message from the backend", exc_info=True)
                    continue
                if origin != self.node_id:
                    skip = message.skip
                    self.deliver_local(message, None if skip is None else self.skips.pop(skip, None))
        except Exception:
            logger.exception("The pub/sub listener stopped: broadcasts from other nodes no longer arrive")


def _alive(loop: asyncio.AbstractEventLoop) -> bool:
    return loop.is_running() and not loop.is_closed()


async def _handover(coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> T:
    """Run ``coro`` on ``loop`` (another thread's) and wait for its result here."""
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # that loop closed meanwhile
        coro.close()
        raise BackendError("The event loop the pub/sub hub runs on has closed") from None
    return await asyncio.wrap_future(future)
