"""The embedded default: a broker inside the process, no service to run.

``InMemoryBackend()`` gets a broker of its own, so a plain ``SocketAPI()`` is one node and
the hub's local delivery is all there is. Backends given the same :class:`MemoryBroker`
behave like nodes of one cluster (each app its own node), which is how the backend contract
and multi-node behaviour are tested without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator

from ..exceptions import BackendError
from .base import PubSubBackend


class MemoryBroker:
    """What the in-memory nodes of one process share: who subscribed to which topic.

    ::

        broker = MemoryBroker()
        node_a = SocketAPI(pubsub=InMemoryBackend(broker))
        node_b = SocketAPI(pubsub=InMemoryBackend(broker))

    Like phoenix_pubsub's adapters, it carries a message to the *other* nodes only; the
    publishing node's hub has already delivered it locally. Safe to use from several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, set[InMemoryBackend]] = {}

    @property
    def topics(self) -> dict[str, int]:
        """Number of subscribed nodes per topic (Redis's ``PUBSUB NUMSUB``)."""
        with self._lock:
            return {topic: len(nodes) for topic, nodes in self._nodes.items()}

    def subscribe(self, topic: str, node: InMemoryBackend) -> None:
        with self._lock:
            self._nodes.setdefault(topic, set()).add(node)

    def unsubscribe(self, topic: str, node: InMemoryBackend) -> None:
        with self._lock:
            nodes = self._nodes.get(topic)
            if nodes is not None:
                nodes.discard(node)
                if not nodes:
                    del self._nodes[topic]

    def leave(self, node: InMemoryBackend) -> None:
        with self._lock:
            for topic, nodes in list(self._nodes.items()):
                nodes.discard(node)
                if not nodes:
                    del self._nodes[topic]

    def publish(self, topic: str, message: bytes, sender: InMemoryBackend) -> None:
        with self._lock:
            nodes = tuple(self._nodes.get(topic, ()))
        for node in nodes:
            if node is not sender:
                node.receive(topic, message)


class InMemoryBackend(PubSubBackend):
    """One node on a :class:`MemoryBroker`: its own, unless several backends are given the same one."""

    reaches_other_processes = False  # a script's broadcast goes to the server over HTTP instead (relay.py)

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker if broker is not None else MemoryBroker()
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None

    @property
    def connected(self) -> bool:
        return self._loop is not None

    async def connect(self) -> None:
        self._inbox.clear()
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    async def disconnect(self) -> None:
        self.broker.leave(self)
        wakeup, self._loop, self._thread = self._wakeup, None, None
        self._inbox.clear()
        if wakeup is not None:
            wakeup.set()  # ends listen()

    async def subscribe(self, topic: str) -> None:
        self._check_connected()
        self.broker.subscribe(topic, self)

    async def unsubscribe(self, topic: str) -> None:
        self.broker.unsubscribe(topic, self)

    async def publish(self, topic: str, message: bytes) -> None:
        self._check_connected()
        self.broker.publish(topic, message, self)

    def listen(self) -> AsyncIterator[tuple[str, bytes]]:
        self._check_connected()
        assert self._wakeup is not None
        return self._messages(self._wakeup)

    async def _messages(self, wakeup: asyncio.Event) -> AsyncIterator[tuple[str, bytes]]:
        while self._wakeup is wakeup and self._loop is not None:
            while self._inbox:
                yield self._inbox.popleft()
            await wakeup.wait()
            wakeup.clear()

    def receive(self, topic: str, message: bytes) -> None:
        """Called by the broker, from the publisher's thread: queue the message for :meth:`listen`."""
        loop = self._loop
        if loop is None:
            return  # not connected: a node that is not listening receives nothing
        if threading.get_ident() == self._thread:
            self._put(topic, message)
        else:
            with contextlib.suppress(RuntimeError):  # that node's loop has closed
                loop.call_soon_threadsafe(self._put, topic, message)

    def _put(self, topic: str, message: bytes) -> None:
        if self._loop is not None and self._wakeup is not None:
            self._inbox.append((topic, message))
            self._wakeup.set()

    def _check_connected(self) -> None:
        if self._loop is None:
            raise BackendError("InMemoryBackend is not connected; call connect() (the app's lifespan does) first")
