"""Test doubles that receive: what a backend's ``listen()`` yields, what a hub delivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from socketapi.pubsub import Broadcast, PubSubBackend

TIMEOUT = 5.0


class Listener:
    """Collects what a node's ``listen()`` yields."""

    def __init__(self, backend: PubSubBackend) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(backend.listen()))

    async def _run(self, messages: AsyncIterator[tuple[str, bytes]]) -> None:
        async for item in messages:
            self.queue.put_nowait(item)

    async def next(self) -> tuple[str, bytes]:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)


class Collector:
    """A hub subscriber that records the data of what it is delivered."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self._arrived = asyncio.Event()

    def deliver(self, message: Broadcast) -> None:
        self.received.append(message.data)
        self._arrived.set()

    async def wait_for(self, data: Any) -> list[Any]:
        """Everything received up to and including ``data``."""

        async def until() -> None:
            while data not in self.received:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(until(), TIMEOUT)
        return self.received[: self.received.index(data) + 1]
