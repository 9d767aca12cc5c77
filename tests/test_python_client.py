"""socketapi.client against a real uvicorn (tests/apps/clients.py): the scenarios of tests/js/socket.test.mjs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from socketapi.client import Backoff, CloseInfo, Message, Rejoin, Socket, SocketError, connect
from tests.support import Server, free_port, serve

APP = "tests.apps.clients:app"
FAST: dict[str, Any] = {"backoff": Backoff(initial=0.05, max=0.4), "timeout": 3.0, "connect_timeout": 2.0}


class Restartable:
    """A uvicorn that a test can stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._stack: contextlib.ExitStack | None = None
        self.server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        def start() -> None:
            stack = contextlib.ExitStack()
            self.server = stack.enter_context(serve(APP, port=self.port))
            self._stack = stack

        await asyncio.to_thread(start)

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await asyncio.to_thread(stack.close)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the server by its PID (its TCP connections stay open, nothing answers), SIGCONT after."""
        assert self.server is not None
        os.kill(self.server.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.server.pid, signal.SIGCONT)


@pytest.fixture
async def server() -> AsyncIterator[Restartable]:
    server = Restartable()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def until(condition: Callable[[], bool], what: str, within: float = 10) -> None:
    """Poll ``condition()``; fail naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


def collect(channel: Any, event: str) -> list[Any]:
    got: list[Any] = []
    channel.on(event, lambda message: got.append(message.data))
    return got


async def test_calls_resolve_by_ref_and_errors_carry_message_and_code(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        assert await asyncio.gather(socket.call("sleep", {"seconds": 0.2}), socket.call("add", {"a": 2, "b": 3})) == [
            "slept",
            5,
        ]
        assert await socket.call("nothing") is None
        with pytest.raises(SocketError) as caught:
            await socket.call("nope")
        assert (caught.value.message, caught.value.code, caught.value.channel) == (
            "Action 'nope' not found.",
            "unknown_action",
            "nope",
        )
        with pytest.raises(SocketError, match="Invalid parameters for action 'add'") as caught:
            await socket.call("add", {"a": "x", "b": 1})
        assert caught.value.code == "invalid_params"
        with pytest.raises(SocketError, match="on purpose") as caught:
            await socket.call("fail", {"why": "on purpose"})
        assert caught.value.code == "handler_error"
        assert await socket.call("add", {"a": 1, "b": 1}) == 2


async def test_a_call_times_out_and_the_late_answer_is_ignored(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        with pytest.raises(SocketError) as caught:
            await socket.call("sleep", {"seconds": 1}, timeout=0.1)
        assert caught.value.code == "timeout"
        await asyncio.sleep(1)  # the late answer arrives and must not disturb anything
        assert await socket.call("add", {"a": 4, "b": 4}) == 8


async def test_requests_before_connect_or_with_reject_mode(server: Restartable) -> None:
    socket = Socket(server.url, **FAST)
    with pytest.raises(SocketError) as caught:
        await socket.call("add", {"a": 1, "b": 1})
    assert caught.value.code == "closed"
    rejecting = await connect(server.url, **FAST, while_disconnected="reject")
    await server.stop()
    await until(lambda: not rejecting.connected, "the socket to notice the server is gone")
    with pytest.raises(SocketError) as caught:
        await rejecting.call("add", {"a": 1, "b": 1})
    assert caught.value.code == "disconnected"
    await rejecting.disconnect()


async def test_join_push_on_leave_between_two_sockets(server: Restartable) -> None:
    async with connect(server.url, **FAST) as ann, connect(server.url, **FAST) as bob:
        ann_room = ann.channel("room:7", {"nick": "ann"})
        shouts = collect(ann_room, "shout")
        assert await ann_room.join() == {"room": 7, "nick": "ann"}
        assert ann_room.state == "joined"
        bob_room = bob.channel("room:7", {"nick": "bob"})
        await bob_room.join()
        assert await bob_room.push("shout", {"text": "hi"}) == {"ok": True}
        await until(lambda: len(shouts) == 1, "ann to get bob's shout")
        assert shouts == [{"from": "bob", "text": "hi"}]
        assert await ann_room.push("whoami") == {"nick": "ann"}

        await ann_room.leave()
        assert ann_room.state == "closed"
        await bob_room.push("shout", {"text": "after ann left"})
        assert await ann.call("add", {"a": 1, "b": 2}) == 3  # a round trip: what was sent to ann has arrived
        assert len(shouts) == 1
        with pytest.raises(SocketError) as caught:
            await ann_room.push("whoami")
        assert caught.value.code == "not_subscribed"


async def test_broadcasts_without_event_arrive_as_data_with_a_message(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        news = socket.channel("news")
        messages: list[Message] = []
        news.on("data", messages.append)
        await news.join()
        await socket.call("publish", {"headline": "hello"})
        await until(lambda: len(messages) == 1, "the broadcast")
        assert (messages[0].event, messages[0].data, messages[0].offset) == ("data", {"headline": "hello"}, None)


async def test_bad_joins_and_events_raise_with_codes_and_the_socket_carries_on(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        room = socket.channel("room:1", {"nick": ""})
        with pytest.raises(SocketError) as caught:
            await room.join()
        assert (caught.value.code, caught.value.message, caught.value.data) == (
            "join_refused",
            "A nickname is required.",
            {"field": "nick"},
        )
        assert room.state == "errored"
        for topic, params, code in [("nope:1", {}, "unknown_channel"), ("room:x", {"nick": "a"}, "invalid_params")]:
            with pytest.raises(SocketError) as caught:
                await socket.channel(topic, params).join()
            assert caught.value.code == code
        ok = socket.channel("room:2", {"nick": "ok"})
        assert await ok.join() == {"room": 2, "nick": "ok"}
        for event, data, code in [("dance", {}, "unknown_event"), ("shout", {"text": 5}, "invalid_params")]:
            with pytest.raises(SocketError) as caught:
                await ok.push(event, data)
            assert caught.value.code == code
        with pytest.raises(SocketError) as caught:
            await ok.push("wave", timeout=0.2)  # a handler that returns nothing sends no reply
        assert caught.value.code == "timeout"
        assert await ok.push("whoami") == {"nick": "ok"}


async def test_reconnects_after_a_restart_on_the_same_port_and_rejoins(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        room = socket.channel("room:3", {"nick": "ann"})
        news = socket.channel("news")
        headlines = collect(news, "data")
        await room.join()
        await news.join()
        rejoins: list[Rejoin] = []
        room.on_rejoin(rejoins.append)
        closes: list[CloseInfo] = []
        socket.on_close(closes.append)
        opens: list[None] = []
        socket.on_open(lambda: opens.append(None))

        await server.stop()
        await server.start()
        await until(lambda: len(opens) == 1 and len(rejoins) == 1, "the reconnect and the rejoin", 15)
        assert closes[0].will_reconnect
        assert rejoins == [Rejoin({"room": 3, "nick": "ann"}, None)]
        assert await room.push("whoami") == {"nick": "ann"}  # joined again, with its parameters
        await until(lambda: news.state == "joined", "news to be rejoined")
        async with connect(server.url, **FAST) as other:
            await other.call("publish", {"headline": "after the restart"})
        await until(lambda: len(headlines) == 1, "the broadcast after the restart")


async def test_a_call_made_while_the_server_is_down_waits_for_it(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        await server.stop()
        await until(lambda: not socket.connected, "the socket to notice")
        pending = asyncio.ensure_future(socket.call("add", {"a": 20, "b": 22}, timeout=15))
        await server.start()
        assert await pending == 42


async def test_a_call_in_flight_when_the_connection_drops_raises_disconnected(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        pending = asyncio.ensure_future(socket.call("sleep", {"seconds": 5}, timeout=15))
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.stop())
        with pytest.raises(SocketError) as caught:
            await pending
        assert caught.value.code == "disconnected"
        await stopping


async def test_no_reconnect_after_disconnect(server: Restartable) -> None:
    socket = await connect(server.url, **FAST)
    closes: list[CloseInfo] = []
    socket.on_close(closes.append)
    opens: list[None] = []
    socket.on_open(lambda: opens.append(None))
    await socket.channel("room:4", {"nick": "a"}).join()
    await socket.disconnect()
    assert socket.state == "closed"
    assert [c.will_reconnect for c in closes] == [False]
    await asyncio.sleep(0.5)  # ten backoff delays' worth
    assert opens == []
    with pytest.raises(SocketError) as caught:
        await socket.call("add", {"a": 1, "b": 1})
    assert caught.value.code == "closed"


async def test_a_refused_handshake_is_retried_with_backoff(server: Restartable) -> None:
    socket = Socket(server.url, **{**FAST, "backoff": Backoff(initial=0.1, max=5, jitter=0)}, params={"token": "bad"})
    closes: list[CloseInfo] = []
    socket.on_close(closes.append)
    with pytest.raises(SocketError) as caught:
        await socket.connect()
    assert caught.value.code == "connect_failed"
    assert "403" in caught.value.message
    await asyncio.sleep(1.6)  # with backoff: retries at 0.1, 0.3, 0.7, 1.5 s; without: hundreds
    await socket.disconnect()
    assert 3 <= len(closes) <= 6, closes


async def test_heartbeats_detect_a_stopped_server_and_the_socket_recovers(server: Restartable) -> None:
    options = {**FAST, "heartbeat_interval": 0.2, "heartbeat_timeout": 0.4, "connect_timeout": 0.5}
    async with connect(server.url, **options) as socket:
        closes: list[CloseInfo] = []
        socket.on_close(closes.append)
        with server.paused():
            await until(lambda: len(closes) >= 1, "the heartbeat to fail")
        assert (closes[0].reason, closes[0].will_reconnect) == ("heartbeat timeout", True)
        await until(lambda: socket.connected, "the reconnect", 15)
        assert await socket.call("add", {"a": 1, "b": 2}) == 3


async def test_connect_while_reconnecting_waits_for_the_connection(server: Restartable) -> None:
    async with connect(server.url, **FAST) as socket:
        await server.stop()
        await until(lambda: not socket.connected, "the socket to notice")
        again = asyncio.ensure_future(socket.connect())
        await asyncio.sleep(0.3)  # several reconnect attempts fail meanwhile
        assert not again.done()
        await server.start()
        async with asyncio.timeout(15):
            await again
        assert socket.connected
        assert await socket.call("add", {"a": 1, "b": 1}) == 2
