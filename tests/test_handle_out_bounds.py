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
from socketapi.pubsub import Broadcast
from tests.asgi_peer import Peer, until
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


# -- the bytes bound at its edges, with a client played straight against the ASGI app ------------
#
# These run in the test's process and loop (tests/asgi_peer.py), so each broadcast is queued,
# counted and handled exactly when the test says: the byte counts below are the bound itself.


def gated_app(overflow: str, max_queue_bytes: int) -> tuple[SocketAPI, dict[int, asyncio.Event], list[int]]:
    """An app whose ``handle_out`` waits for ``gates[n]`` before it pushes broadcast ``n``."""
    app = SocketAPI(max_queue=1000, max_queue_bytes=max_queue_bytes)
    gates: dict[int, asyncio.Event] = {}
    entered: list[int] = []

    class Edge(Channel):
        topic = "edge"
        intercept = frozenset({"tick"})

        async def handle_out(self, event: str, payload: Any) -> None:
            entered.append(payload["n"])
            await gates.setdefault(payload["n"], asyncio.Event()).wait()
            await self.push(event, payload)

    Edge.overflow = overflow  # type: ignore[assignment]
    app.register(Edge)
    return app, gates, entered


def sized(n: int, size: int) -> dict[str, Any]:
    """Broadcast ``n``, its payload exactly ``size`` bytes long."""
    bare = len(Broadcast.encode("edge", {"n": n, "p": ""}).payload)
    data = {"n": n, "p": "x" * (size - bare)}
    assert len(Broadcast.encode("edge", data).payload) == size
    return data


def delivered(peer: Peer) -> list[int]:
    return [f["data"]["n"] for f in peer.frames if f.get("event") == "tick"]


async def join_edge(peer: Peer) -> None:
    peer.send({"type": "subscribe", "channel": "edge", "ref": "j"})
    assert (await peer.reply("j"))["type"] == "subscribed"


async def hold(app: SocketAPI, entered: list[int], n: int) -> None:
    """Broadcast ``n`` and wait until handle_out holds it: from then on, broadcasts wait and count."""
    await app.broadcast("edge", sized(n, 20), event="tick")
    await until(lambda: n in entered, f"handle_out to hold broadcast {n}")


async def release(peer: Peer, gates: dict[int, asyncio.Event], *numbers: int) -> None:
    """Let handle_out push each of ``numbers`` in turn (one frame at a time in the send queue)."""
    for n in numbers:
        gates.setdefault(n, asyncio.Event()).set()
        await until(lambda n=n: n in delivered(peer), f"broadcast {n} to arrive")  # type: ignore[misc]


async def test_waiting_payloads_may_fill_the_bytes_bound_exactly_and_one_byte_more_closes() -> None:
    app, gates, entered = gated_app("close", max_queue_bytes=1000)
    async with Peer(app) as peer:
        await join_edge(peer)
        await hold(app, entered, 0)
        await app.broadcast("edge", sized(1, 400), event="tick")
        await app.broadcast("edge", sized(2, 600), event="tick")  # 1,000 bytes wait: exactly the bound
        await release(peer, gates, 0, 1, 2)
        assert delivered(peer) == [0, 1, 2]
        assert peer.closed_with is None
        # Handled broadcasts give their bytes back: the bound can be filled exactly once more.
        await hold(app, entered, 3)
        await app.broadcast("edge", sized(4, 400), event="tick")
        await app.broadcast("edge", sized(5, 600), event="tick")
        assert peer.closed_with is None
        await app.broadcast("edge", sized(6, 20), event="tick")  # 1,020 bytes would wait: over
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.closed_with == (1013, "Send queue overflow")
        gates[3].set()


async def test_drop_oldest_makes_exactly_the_room_a_broadcast_needs_and_drops_one_too_big_for_the_bound() -> None:
    app, gates, entered = gated_app("drop_oldest", max_queue_bytes=1000)
    async with Peer(app) as peer:
        await join_edge(peer)
        await app.broadcast("edge", sized(0, 1001), event="tick")  # bigger than the bound: dropped alone
        await hold(app, entered, 1)
        await app.broadcast("edge", sized(2, 400), event="tick")
        await app.broadcast("edge", sized(3, 600), event="tick")  # exactly the bound
        await app.broadcast("edge", sized(4, 400), event="tick")  # room for it: 2 is dropped, 3 stays
        await release(peer, gates, 1, 3, 4)
        assert delivered(peer) == [1, 3, 4]
        # Every byte given back: filling the bound exactly drops nothing, one more drops the oldest.
        await hold(app, entered, 5)
        await app.broadcast("edge", sized(6, 400), event="tick")
        await app.broadcast("edge", sized(7, 600), event="tick")
        await app.broadcast("edge", sized(8, 20), event="tick")
        await release(peer, gates, 5, 7, 8)
        assert delivered(peer) == [1, 3, 4, 5, 7, 8]
        assert peer.closed_with is None
        assert entered == [1, 3, 4, 5, 7, 8]
