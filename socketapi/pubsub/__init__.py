"""Pub/sub: the hub that fans broadcasts out locally, and the backends that relay them between nodes."""

from .base import PubSubBackend
from .hub import Hub
from .memory import InMemoryBackend, MemoryBroker
from .message import Broadcast
from .url import backend_from_url

__all__ = ["Broadcast", "Hub", "InMemoryBackend", "MemoryBroker", "PubSubBackend", "backend_from_url"]
