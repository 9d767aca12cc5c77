"""Broadcasts waiting for a slow ``handle_out`` are bounded like the socket's send queue (docs/security.md).

A channel that intercepts an event runs ``handle_out`` once per subscriber per broadcast, in the
subscriber's mailbox. When ``handle_out`` is slower than the broadcasts, they wait there: at
``max_queue`` of them (or ``max_queue_bytes`` of payload) the channel's overflow policy applies.
Each test runs against a real uvicorn in this process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from socketapi import Channel, SocketAPI
from tests.live import RawSocket, live, wait_until

state: dict[str, Any] = {}


class Gate:
    """An asyncio.Event made on the server's loop when first used (the test runs in another thread)."""

    def __init__(self) -> None:
        self.event: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def wait(self) -> None:
        if self.event is None:
            self.event, self.loop = asyncio.Event(), asyncio.get_running_loop()
        await self.event.wait()

    def open(self) -> None:
        assert self.loop is not None
        assert self.event is not None
        self.loop.call_soon_threadsafe(self.event.set)


def make_app(overflow: str | None, **limits: Any) -> tuple[SocketAPI, Gate]:
    app = SocketAPI(**limits)
    gate = Gate()
    seen: list[int] = []
    leaves: list[str] = []
    entered: list[int] = []
    state.update(seen=seen, leaves=leaves, entered=entered)

    class Slow(Channel):
        topic = "slow"
        intercept = frozenset({"tick"})

        async def handle_out(self, event: str, payload: Any) -> None:
            entered.append(payload["n"])
            await gate.wait()
            seen.append(payload["n"])
            await self.push(event, payload)

        async def leave(self, reason: str) -> None:
            leaves.append(reason)

    Slow.overflow = overflow  # type: ignore[assignment]
    app.register(Slow)

    @app.action("tick")
    async def tick(count: int, pad: int = 0, first: int = 0) -> int:
        for n in range(first, first + count):
            await app.broadcast("slow", {"n": n, "pad": "x" * pad}, event="tick")
        return count

    return app, gate


def hold_one(publisher: RawSocket) -> None:
    """Broadcast n=0 and wait until handle_out holds it at the gate: from then on, broadcasts wait."""
    publisher.send({"type": "action", "channel": "tick", "data": {"count": 1}})
    assert publisher.receive()["data"] == 1
    wait_until(lambda: state["entered"] == [0], "handle_out to hold the first broadcast")


def tick(publisher: RawSocket, count: int, pad: int = 0) -> None:
    publisher.send({"type": "action", "channel": "tick", "data": {"count": count, "first": 1, "pad": pad}})
    assert publisher.receive()["data"] == count  # the publisher is not held up


def subscribe(port: int) -> RawSocket:
    client = RawSocket(port, rcvbuf=1 << 20)
    client.send({"type": "subscribe", "channel": "slow"})
    assert client.receive() == {"type": "subscribed", "channel": "slow"}
    return client


def test_over_max_queue_waiting_broadcasts_close_the_socket_with_1013() -> None:
    app, gate = make_app(None, max_queue=8)  # the app's policy: "close"
    with live(app) as server:
        slow = subscribe(server.port)
        publisher = RawSocket(server.port)
        try:
            hold_one(publisher)
            tick(publisher, 9)  # 8 wait, the 9th overflows
            _, code = slow.read_until_closed(timeout=10)
            assert code == 1013
            wait_until(lambda: state["leaves"] == ["overflow"], "leave('overflow')")
            # Other sockets carry on.
            other = subscribe(server.port)
            gate.open()
            publisher.send({"type": "action", "channel": "tick", "data": {"count": 1}})
            assert publisher.receive()["data"] == 1
            assert other.receive()["data"]["n"] == 0
            other.close()
        finally:
            slow.close()
            publisher.close()


def test_under_the_bound_every_broadcast_reaches_handle_out_in_order() -> None:
    app, gate = make_app(None, max_queue=8)
    with live(app) as server:
        slow = subscribe(server.port)
        publisher = RawSocket(server.port)
        try:
            hold_one(publisher)
            tick(publisher, 8)  # exactly max_queue wait
            gate.open()
            assert [slow.receive()["data"]["n"] for _ in range(9)] == list(range(9))
            assert state["leaves"] == []
        finally:
            slow.close()
            publisher.close()


def test_drop_oldest_keeps_the_newest_waiting_broadcasts() -> None:
    app, gate = make_app("drop_oldest", max_queue=4)
    with live(app) as server:
        slow = subscribe(server.port)
        publisher = RawSocket(server.port)
        try:
            hold_one(publisher)
            tick(publisher, 11)  # 1..11: only the newest 4 may wait
            gate.open()
            # 0 was already in handle_out; of the rest only the newest 4 waited.
            assert [slow.receive()["data"]["n"] for _ in range(5)] == [0, 8, 9, 10, 11]
            slow.send({"type": "ping", "ref": 1})
            assert slow.receive() == {"type": "pong", "ref": 1}  # still connected, nothing else arrived
            assert state["leaves"] == []
        finally:
            slow.close()
            publisher.close()


def test_the_bytes_bound_counts_the_waiting_payloads() -> None:
    app, gate = make_app(None, max_queue=1000, max_queue_bytes=64 * 1024)
    with live(app) as server:
        slow = subscribe(server.port)
        publisher = RawSocket(server.port)
        try:
            hold_one(publisher)
            tick(publisher, 20, pad=4000)  # 16 payloads of 4 KB fit in 64 KiB, the 17th overflows
            _, code = slow.read_until_closed(timeout=10)
            assert code == 1013
            gate.open()
        finally:
            slow.close()
            publisher.close()
