"""The contract every pub/sub backend fulfils: move bytes between nodes, nothing more."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator


class PubSubBackend(ABC):
    """Relays encoded broadcasts to the other nodes sharing this backend.

    Local subscribers are served by the hub in-process; a backend only carries messages
    between nodes. It never sees Python objects: topics are strings, messages are bytes.
    """

    reaches_other_processes: bool = True
    """Whether a process that serves nothing reaches the server's subscribers through this backend."""

    @abstractmethod
    async def connect(self) -> None:
        """Open connections; called once before any other method."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Send what is still queued, close connections and end :meth:`listen`."""

    @abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Start receiving messages published on ``topic``; return once the broker confirmed."""

    @abstractmethod
    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving messages published on ``topic``."""

    @abstractmethod
    async def publish(self, topic: str, message: bytes) -> None:
        """Send ``message`` to the other nodes subscribed to ``topic``, after this node's earlier ones.

        May return once the message is queued; :meth:`disconnect` still sends what is queued.
        Raises :class:`~socketapi.exceptions.BackendError` when the broker is known to be unreachable.
        """

    @abstractmethod
    def listen(self) -> AsyncIterator[tuple[str, bytes]]:
        """Yield ``(topic, message)`` for every message received from the broker."""
