"""History and recovery (SPEC 7.3): offsets, epochs and the last broadcasts of a topic, in memory or Redis."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .base import META_TTL, HistoryPolicy, HistoryStore, Recovery
from .memory import MemoryHistory, memory_history

if TYPE_CHECKING:
    from ..pubsub import PubSubBackend

__all__ = ["META_TTL", "HistoryPolicy", "HistoryStore", "MemoryHistory", "Recovery", "history_for"]


def history_for(backend: PubSubBackend) -> HistoryStore | None:
    """The store that goes with ``backend``: shared by the same nodes the backend joins; ``None`` if unknown."""
    from ..pubsub import InMemoryBackend

    if isinstance(backend, InMemoryBackend):
        return memory_history(backend.broker)
    redis_backend = sys.modules.get("socketapi.pubsub.redis")  # loaded whenever a RedisBackend exists
    if redis_backend is not None and isinstance(backend, redis_backend.RedisBackend):
        from .redis import RedisHistory

        return RedisHistory(backend)
    return None
