"""socketapi.client with presence and history on the server (tests/apps/clients_live.py).

Presence lists that agree across sockets; no broadcast missed or repeated across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from socketapi.client import Backoff, Presence, Rejoin, connect
from tests.pubsub.redis_support import REDIS_URL, ping, unavailable
from tests.support import Server, free_port, serve

APP = "tests.apps.clients_live:app"
FAST: dict[str, Any] = {"backoff": Backoff(initial=0.05, max=0.4), "timeout": 5.0, "connect_timeout": 2.0}


class Node:
    """A uvicorn of the live app on a fixed port, to stop and start again."""

    def __init__(self, pubsub: str) -> None:
        self.port = free_port()
        self.env = {"CLIENTS_TEST_PUBSUB": pubsub}
        self._stack: contextlib.ExitStack | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        def start() -> None:
            stack = contextlib.ExitStack()
            server: Server = stack.enter_context(serve(APP, port=self.port, env=self.env))
            assert server.port == self.port
            self._stack = stack

        await asyncio.to_thread(start)

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await asyncio.to_thread(stack.close)


@contextlib.asynccontextmanager
async def nodes(pubsub: str, count: int) -> AsyncIterator[list[Node]]:
    started = [Node(pubsub) for _ in range(count)]
    try:
        for node in started:
            await node.start()
        yield started
    finally:
        for node in started:
            await node.stop()


@pytest.fixture
def redis_pubsub() -> str:
    reason = ping(REDIS_URL)
    if reason is not None:
        unavailable(f"Redis is unreachable at {REDIS_URL}: {reason}")
    return f"{REDIS_URL}?prefix=clients-{uuid.uuid4().hex[:12]}:"


async def until(condition: Any, what: str, within: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


async def test_no_broadcast_missed_or_repeated_across_a_restart(redis_pubsub: str) -> None:
    async with nodes(redis_pubsub, 2) as (node1, node2), connect(node1.url, **FAST) as reader:
        feed = reader.channel("feed")
        seen: list[int] = []
        feed.on("data", lambda message: seen.append(message.data["n"]))
        rejoins: list[Rejoin] = []
        feed.on_rejoin(rejoins.append)
        await feed.join()
        async with connect(node2.url, **FAST) as publisher:
            following = await publisher.call("publish", {"start": 1, "count": 50})
            await until(lambda: len(seen) == 50, "the first 50 broadcasts")

            publishing = True

            async def publish() -> None:  # node2 publishes all along, about 400 a second
                nonlocal following
                while publishing:
                    following = await publisher.call("publish", {"start": following, "count": 10})
                    await asyncio.sleep(0.02)

            publishes = asyncio.ensure_future(publish())
            try:
                await node1.stop()
                await until(lambda: following > 150, "broadcasts while node1 is down")
                await node1.start()
                await until(lambda: len(rejoins) == 1, "the rejoin")
                rejoined_at = following
                await until(lambda: following > rejoined_at + 100, "broadcasts after the rejoin")
            finally:
                publishing = False
                await publishes
        await until(lambda: len(seen) >= following - 1, f"all {following - 1} broadcasts")
        assert rejoins[0].recovered is True
        assert seen == list(range(1, following))
        assert feed.position is not None
        assert feed.position.offset == len(seen)


async def test_history_lost_with_an_in_memory_server_says_recovered_false() -> None:
    async with nodes("", 1) as (node,), connect(node.url, **FAST) as reader:
        feed = reader.channel("feed")
        rejoins: list[Rejoin] = []
        feed.on_rejoin(rejoins.append)
        await feed.join()
        await reader.call("publish", {"start": 1, "count": 3})
        await until(lambda: feed.position is not None and feed.position.offset == 3, "three broadcasts")
        assert feed.position is not None
        epoch = feed.position.epoch
        await node.stop()
        await node.start()
        await until(lambda: len(rejoins) == 1, "the rejoin")
        assert rejoins[0].recovered is False
        assert (feed.position.offset, feed.position.epoch != epoch) == (0, True)


async def test_presence_lists_agree_across_sockets() -> None:
    def people(presence: Presence) -> list[str]:
        return sorted(presence.list(lambda key, entry: f"{key}x{len(entry['metas'])}"))

    async with nodes("", 1) as (node,), contextlib.AsyncExitStack() as stack:

        async def lobby(nick: str, device: str = "web") -> tuple[Any, Presence]:
            socket = await stack.enter_async_context(connect(node.url, **FAST))
            channel = socket.channel("lobby:1", {"nick": nick, "device": device})
            presence = Presence(channel)
            await channel.join()
            return socket, presence

        _, ann = await lobby("ann")
        bob_socket, bob = await lobby("bob")
        await until(lambda: people(ann) == ["annx1", "bobx1"], "ann to see ann and bob")
        await until(lambda: people(bob) == ["annx1", "bobx1"], "bob to see ann and bob")
        phone_socket, _ = await lobby("bob", "phone")
        await until(lambda: people(ann) == ["annx1", "bobx2"], "bob's second device")
        await phone_socket.disconnect()
        await until(lambda: people(ann) == ["annx1", "bobx1"], "bob's phone to leave")
        await bob_socket.disconnect()
        await until(lambda: people(ann) == ["annx1"], "bob to leave")
