"""A TCP proxy on loopback in front of Redis that delays or holds what its clients send.

Some promises depend on timing a healthy local Redis never shows: that ``subscribe`` waits
for the broker's confirmation (a SUBSCRIBE that reaches Redis late), or that publishing
waits while Redis takes nothing (a stalled connection). The proxy builds those conditions
on purpose: every chunk a client sends is forwarded ``delay`` seconds later, in order, and
nothing is forwarded while it is paused. Replies from Redis pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from urllib.parse import urlsplit


class DelayingProxy:
    def __init__(self, redis_url: str, *, delay: float = 0.0) -> None:
        parts = urlsplit(redis_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = parts.path or "/0"
        self.delay = delay
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.connections = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self.db}"

    def pause(self) -> None:
        """Hold everything clients send (Redis sees nothing) until :meth:`resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def __aenter__(self) -> DelayingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        for writer in self._writers:
            writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        redis_reader, redis_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [client_writer, redis_writer]
        for coro in (self._upstream(client_reader, redis_writer), self._downstream(redis_reader, client_writer)):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _upstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - loop.time()))
                await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()

        forwarder = asyncio.create_task(forward())
        self._tasks.add(forwarder)
        forwarder.add_done_callback(self._tasks.discard)
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + self.delay, chunk))
        queue.put_nowait((loop.time() + self.delay, b""))

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        writer.close()
