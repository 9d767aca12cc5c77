"""The embedded default: one process, no broker, nothing to relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .base import PubSubBackend


class InMemoryBackend(PubSubBackend):
    """A single node: the hub already delivers every broadcast locally, so there is no one to relay to."""

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, topic: str) -> None:
        pass

    async def unsubscribe(self, topic: str) -> None:
        pass

    async def publish(self, topic: str, message: bytes) -> None:
        pass

    async def listen(self) -> AsyncIterator[tuple[str, bytes]]:
        await asyncio.Event().wait()  # no other node will ever send anything
        yield ("", b"")  # pragma: no cover - unreachable, makes this an async generator
