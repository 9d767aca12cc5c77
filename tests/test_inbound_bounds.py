"""The inbound bounds and the idle clock, frame by frame, with a client played straight against the ASGI app.

At ``max_inflight`` frames (or ``max_inflight_bytes`` bytes) of unfinished work the server stops
reading the socket: the client's frames wait unread (in TCP buffers, on a real server), and
reading resumes once work finishes. ``Peer.unread`` is what the app has not read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from socketapi import Socket, SocketAPI
from tests.asgi_peer import Peer, until


def make_app(**limits: Any) -> tuple[SocketAPI, list[int], dict[int, asyncio.Event], list[Socket]]:
    """An app whose ``hold`` action runs until the test releases it: (app, started, gates, grabbed sockets)."""
    app = SocketAPI(**limits)
    started: list[int] = []
    gates: dict[int, asyncio.Event] = {}
    sockets: list[Socket] = []

    @app.action("hold")
    async def hold(n: int, pad: str = "") -> int:
        started.append(n)
        await gates.setdefault(n, asyncio.Event()).wait()
        return n

    @app.action("grab")
    async def grab(socket: Socket) -> None:
        sockets.append(socket)

    return app, started, gates, sockets


def hold(n: int, pad: int = 0) -> dict[str, Any]:
    return {"type": "action", "channel": "hold", "data": {"n": n, "pad": "x" * pad}, "ref": n}


def release(gates: dict[int, asyncio.Event], n: int) -> None:
    gates.setdefault(n, asyncio.Event()).set()


async def settle() -> None:
    """Give the app every chance to read on (what must stay unread stays so whatever the wait)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.02)


async def test_at_max_inflight_frames_the_server_stops_reading_until_work_finishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, started, gates, sockets = make_app(max_inflight=4)
    async with Peer(app) as peer, Peer(app) as bystander:
        for n in range(6):
            peer.send(hold(n))
        peer.send({"type": "ping", "ref": "p"})
        await until(lambda: len(started) == 4, "4 calls to start")
        await settle()
        assert started == [0, 1, 2, 3]
        assert peer.unread == 3  # two calls and the ping wait unread

        bystander.send({"type": "ping", "ref": "b"})
        assert await bystander.reply("b") == {"type": "pong", "ref": "b"}  # others are served meanwhile

        release(gates, 0)  # one finishes: one more frame is read, and the bound is reached again
        assert await peer.reply(0) == {
            "type": "action",
            "channel": "hold",
            "status": "completed",
            "data": 0,
            "ref": 0,
        }
        await until(lambda: len(started) == 5, "a 5th call to start")
        await settle()
        assert started == [0, 1, 2, 3, 4]
        assert peer.unread == 2

        for n in range(1, 6):
            release(gates, n)
        assert await peer.reply("p") == {"type": "pong", "ref": "p"}
        assert sorted(f["ref"] for f in peer.frames if f.get("channel") == "hold") == list(range(6))
        peer.send({"type": "action", "channel": "hold", "data": {"n": 9}, "ref": 9})
        release(gates, 9)
        await peer.reply(9)  # work finishing once reading resumed: no error anywhere
        peer.send({"type": "action", "channel": "grab", "ref": "g"})
        await peer.reply("g")
        sockets[0].close(4000, "Done")  # a close after the reader paused and resumed
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.closed_with == (4000, "Done")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_at_max_inflight_bytes_the_server_stops_reading_and_one_frame_of_the_bound_still_fits() -> None:
    small, big = json.dumps(hold(0, pad=10)), json.dumps(hold(1, pad=1000))
    app, started, gates, _ = make_app(max_inflight=100, max_inflight_bytes=len(big))
    async with Peer(app) as peer:
        peer.send(hold(0, pad=10))
        peer.send(hold(1, pad=1000))  # the total passes the bound: the server stops reading
        peer.send({"type": "ping", "ref": "p"})
        await until(lambda: len(started) == 2, "both calls to start")
        await settle()
        assert peer.unread == 1
        release(gates, 0)  # the big one alone is still at the bound: still not reading
        await peer.reply(0)
        await settle()
        assert peer.unread == 1
        release(gates, 1)
        assert await peer.reply("p") == {"type": "pong", "ref": "p"}
        assert len(small) < len(big)

    # Exactly at the bound: 4 frames of a quarter of it each.
    size = len(json.dumps(hold(0, pad=100)))
    app, started, gates, _ = make_app(max_inflight=100, max_inflight_bytes=4 * size)
    async with Peer(app) as peer:
        for n in range(6):
            peer.send(hold(n, pad=100))
        await until(lambda: len(started) == 4, "4 calls to start")
        await settle()
        assert started == [0, 1, 2, 3]
        assert peer.unread == 2
        for n in range(6):
            release(gates, n)
        await peer.reply(5)


async def test_a_socket_closed_while_its_reader_waits_is_let_go_when_its_client_goes() -> None:
    app, started, _, sockets = make_app(max_inflight=2)
    async with Peer(app) as peer:
        peer.send({"type": "action", "channel": "grab", "ref": "g"})
        await peer.reply("g")
        for n in range(4):
            peer.send(hold(n))
        await until(lambda: len(started) == 2, "2 calls to start")
        sockets[0].close(4000, "Bye")  # the running calls are cancelled; the reader goes back to the socket
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.closed_with == (4000, "Bye")
        peer.disconnect()
        await until(lambda: peer.released, "the app to let go of the connection")
        assert started == [0, 1]  # what was unread when the close came is not handled
        assert app.socket_count == 0


class Clock:
    """The event loop's clock, which the test moves forward (timers fall due as on a real one)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.real, self.ahead = loop, loop.time, 0.0

    def time(self) -> float:
        return self.real() + self.ahead

    async def advance(self, seconds: float) -> None:
        self.ahead += seconds
        await settle()


@contextmanager
def movable_clock() -> Iterator[Clock]:
    loop = asyncio.get_running_loop()
    clock = Clock(loop)
    loop.time = clock.time  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        del loop.time  # type: ignore[method-assign]


async def test_the_idle_clock_counts_from_the_last_frame() -> None:
    app, _, _, _ = make_app(idle_timeout=100)  # long, so that the real time passing meanwhile does not count
    with movable_clock() as clock:
        async with Peer(app) as peer:
            await clock.advance(95)
            peer.send({"type": "ping", "ref": 1})
            await peer.reply(1)  # the last frame: 95 s after the start
            await clock.advance(10)  # 105: the first check; the last frame is 10 s old
            await clock.advance(88)  # 193: 98 s without a frame
            assert peer.closed_with is None
            await clock.advance(4)  # 197: 102 s
            assert peer.closed_with == (1001, "Idle timeout")
