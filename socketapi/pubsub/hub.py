"""Local fan-out and the bridge to the backend (phoenix_pubsub's design).

A broadcast is delivered to this node's subscribers in-process first, then handed to the
backend for the other nodes, tagged with this node's id; messages coming back from the
backend with our own id are dropped, so no subscriber ever gets a broadcast twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from ..exceptions import BackendError
from .message import Broadcast

if TYPE_CHECKING:
    from ..types import Subscriber
    from .base import PubSubBackend

logger = logging.getLogger("socketapi.pubsub")


class Hub:
    """Topic → local subscribers, with the backend subscribed to exactly the topics that have any."""

    def __init__(self, backend: PubSubBackend) -> None:
        self.backend = backend
        self.node_id = uuid.uuid4().hex
        self._topics: dict[str, set[Subscriber]] = {}
        self._listener: asyncio.Task[None] | None = None

    @property
    def topics(self) -> dict[str, int]:
        """Local subscriber count per topic, for introspection and metrics."""
        return {topic: len(subs) for topic, subs in self._topics.items()}

    async def start(self) -> None:
        if self._listener is not None:
            return
        await self.backend.connect()
        self._listener = asyncio.create_task(self._listen(), name="socketapi-hub-listener")

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await self.backend.disconnect()

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = set()
            try:
                await self.backend.subscribe(topic)
            except BaseException:
                if not subscribers:
                    self._topics.pop(topic, None)
                raise
        subscribers.add(subscriber)

    async def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None or subscriber not in subscribers:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._topics[topic]
            await self.backend.unsubscribe(topic)

    async def publish(self, message: Broadcast, *, exclude: Subscriber | None = None) -> None:
        self.deliver_local(message, exclude)
        await self.backend.publish(message.topic, message.to_envelope(self.node_id))
        # Let the sockets' writers run: a handler broadcasting in a tight loop must not fill
        # every subscriber's queue (and trip its overflow policy) before any of them could write.
        await asyncio.sleep(0)

    def deliver_local(self, message: Broadcast, exclude: Subscriber | None = None) -> None:
        subscribers = self._topics.get(message.topic)
        if not subscribers:
            return
        # A snapshot: a subscriber may leave (even from another thread) while we iterate.
        for subscriber in tuple(subscribers):
            if subscriber is not exclude:
                subscriber.deliver(message)

    async def _listen(self) -> None:
        async for _topic, raw in self.backend.listen():
            try:
                origin, message = Broadcast.from_envelope(raw)
            except BackendError:
                logger.warning("Dropped a malformed message from the backend", exc_info=True)
                continue
            if origin != self.node_id:
                self.deliver_local(message)
