"""Server transports: each owns its connections whole (handshake, read loop, writer, teardown)."""

from .asgi import ASGITransport
from .base import ConnectHook, Endpoint, Session

__all__ = ["ASGITransport", "ConnectHook", "Endpoint", "Session"]
