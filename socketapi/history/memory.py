"""History kept in the process: the store of the in-memory backend.

Nodes sharing one :class:`~socketapi.pubsub.MemoryBroker` share one store, as nodes sharing a
Redis share theirs; a plain ``SocketAPI()`` has a store of its own. A restarted process starts
every topic in a new epoch.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections import deque
from typing import TYPE_CHECKING

from ..types import StreamPosition
from .base import META_TTL, HistoryPolicy, HistoryStore, Recovery, recoverable

if TYPE_CHECKING:
    from ..pubsub import Broadcast, Hub, MemoryBroker
    from ..types import Subscriber


class _Stream:
    __slots__ = ("entries", "epoch", "last", "offset")

    def __init__(self) -> None:
        self.epoch = uuid.uuid4().hex[:16]
        self.offset = 0
        self.entries: deque[Broadcast] = deque()
        self.last = time.monotonic()


class MemoryHistory(HistoryStore):
    """The last broadcasts of each topic, in a dict; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}

    async def publish(
        self, hub: Hub, message: Broadcast, policy: HistoryPolicy, exclude: Subscriber | None = None
    ) -> None:
        now = time.monotonic()
        with self._lock:  # one offset sequence, and local delivery in that order, whatever the thread
            stream = self._stream(message.topic, policy, now)
            stream.offset += 1
            stream.last = now
            message.offset = stream.offset
            entries = stream.entries
            entries.append(message)
            while len(entries) > policy.size:
                entries.popleft()
            hub.deliver_local(message, exclude)
        await hub.publish(message, local=False)  # to the other nodes of a shared broker, offset included

    async def read(self, topic: str, policy: HistoryPolicy, since: StreamPosition | None = None) -> Recovery:
        with self._lock:
            stream = self._stream(topic, policy, time.monotonic())
            position = StreamPosition(stream.offset, stream.epoch)
            if since is None:
                return Recovery(position, None)
            first_held = stream.entries[0].offset if stream.entries else position.offset + 1
            assert first_held is not None
            if not recoverable(position, since, first_held):
                return Recovery(position, None)
            return Recovery(position, [m for m in stream.entries if m.offset is not None and m.offset > since.offset])

    def _stream(self, topic: str, policy: HistoryPolicy, now: float) -> _Stream:
        stream = self._streams.get(topic)
        if stream is None or now - stream.last > META_TTL:
            stream = self._streams[topic] = _Stream()
        elif policy.ttl is not None and stream.entries and now - stream.last > policy.ttl:
            stream.entries.clear()  # expired: the offsets go on, the broadcasts are gone
        return stream


_by_broker: weakref.WeakKeyDictionary[MemoryBroker, MemoryHistory] = weakref.WeakKeyDictionary()
_by_broker_lock = threading.Lock()


def memory_history(broker: MemoryBroker) -> MemoryHistory:
    """The store shared by every in-memory node of ``broker``."""
    with _by_broker_lock:
        store = _by_broker.get(broker)
        if store is None:
            store = _by_broker[broker] = MemoryHistory()
        return store
