"""The socket's writer, frame by frame: its queue's limits, drop-oldest, the close a client gets, the abort.

Each test plays a client straight against the app's ASGI callable (``tests.asgi_peer``): while
the client does not read, the app's writes wait, exactly as they do when its TCP buffers are
full. So the frame that fills the queue, and the one that overflows it, are known exactly.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from socketapi import Channel, Socket, SocketAPI
from tests.asgi_peer import Peer, until


def make_app(**limits: Any) -> tuple[SocketAPI, list[str], list[Socket], list[str]]:
    """An app with a ``feed`` channel (closes on overflow) and a ``ticker`` one (drops its oldest frames).

    Returns the app, the ``leave`` reasons, the sockets that called ``grab`` and the names ``mark`` got.
    """
    app = SocketAPI(**limits)
    reasons: list[str] = []
    sockets: list[Socket] = []
    marks: list[str] = []

    class Feed(Channel):
        topic = "feed"

        async def leave(self, reason: str) -> None:
            reasons.append(reason)

    class Ticker(Channel):
        topic = "ticker"
        overflow = "drop_oldest"

        async def leave(self, reason: str) -> None:
            reasons.append(reason)

    app.register(Feed, Ticker)

    @app.action("grab")
    async def grab(socket: Socket) -> None:
        sockets.append(socket)

    @app.action("mark")
    async def mark(name: str) -> None:
        marks.append(name)

    @app.action("echo")
    async def echo(value: str) -> str:
        return value

    @app.action("send_then_close")
    async def send_then_close(socket: Socket, count: int) -> None:
        for i in range(count):
            socket.send_frame(json.dumps({"n": i}))
        socket.close()

    @app.action("close_then_send")
    async def close_then_send(socket: Socket) -> None:
        socket.close()
        socket.send_frame(json.dumps({"n": "after the close"}))

    return app, reasons, sockets, marks


def frame_len(topic: str, n: int) -> int:
    """The length of the data frame a broadcast of ``{"n": n}`` on ``topic`` is written as."""
    return len(json.dumps({"type": "data", "channel": topic, "data": {"n": n}}, separators=(",", ":")))


def numbers(peer: Peer) -> list[int]:
    """The ``n`` of every broadcast the client took, in order."""
    return [f["data"]["n"] for f in peer.frames if f.get("type") == "data"]


async def subscribe(peer: Peer, topic: str) -> None:
    peer.send({"type": "subscribe", "channel": topic, "ref": topic})
    assert await peer.reply(topic) == {"type": "subscribed", "channel": topic, "ref": topic}


async def broadcast(app: SocketAPI, topic: str, numbers: range) -> None:
    for n in numbers:
        await app.broadcast(topic, {"n": n})


async def read(peer: Peer, last: int) -> None:
    """Let the client read again until it took the broadcast ``last``."""
    peer.reading.set()
    await until(lambda: last in numbers(peer), f"broadcast {last}")


@pytest.mark.parametrize("by", ["frames", "bytes"])
async def test_the_queue_holds_exactly_its_limit_behind_a_blocked_write_then_closes_with_1013(by: str) -> None:
    # 3 frames queued behind the one being written, by count (far under the bytes) or by bytes
    # (far under the count); every broadcast here is written in the same length.
    limits = {"max_queue": 3} if by == "frames" else {"max_queue": 1000, "max_queue_bytes": 3 * frame_len("feed", 0)}
    app, reasons, _, marks = make_app(**limits)
    async with Peer(app) as peer:
        await subscribe(peer, "feed")
        for first in (0, 4):  # twice: once the queue is written out, its full size is free again
            peer.reading.clear()
            await broadcast(app, "feed", range(first, first + 4))  # one written (waiting) and 3 queued: full
            assert reasons == []
            await read(peer, first + 3)
            assert numbers(peer) == list(range(first + 4))
        assert peer.frames[-1]["data"] == {"n": 7}
        assert len(peer.texts[-1]) == frame_len("feed", 0)

        peer.reading.clear()
        await broadcast(app, "feed", range(8, 12))
        assert reasons == []  # full, not over
        await broadcast(app, "feed", range(12, 13))  # one more: over the limit, the socket is closed
        await until(lambda: reasons == ["overflow"], "leave('overflow')")  # the client still reads nothing
        assert app.subscription_count == 0
        peer.send({"type": "action", "channel": "mark", "data": {"name": "after the close"}})
        peer.send({"type": "ping", "ref": "late"})
        await until(lambda: peer.unread == 0, "the server to take the client's frames")
        peer.reading.set()
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.closed_with == (1013, "Send queue overflow")
        assert numbers(peer) == list(range(8))  # the write in progress and the queued frames were dropped
        assert marks == []  # frames sent after the decision are not handled
        assert not any(f.get("ref") == "late" for f in peer.frames)


async def test_drop_oldest_drops_the_oldest_droppable_frames_and_keeps_replies() -> None:
    app, reasons, _, _ = make_app(max_queue=3)
    async with Peer(app) as peer:
        await subscribe(peer, "ticker")
        peer.reading.clear()
        await broadcast(app, "ticker", range(1))  # being written
        peer.send({"type": "action", "channel": "echo", "data": {"value": "reply"}, "ref": "r"})
        await until(lambda: peer.unread == 0, "the call to be handled")
        await broadcast(app, "ticker", range(1, 4))  # [reply, 1, 2] is full: 3 makes room by dropping 1
        await read(peer, 3)
        assert [f.get("data") for f in peer.frames[1:]] == [{"n": 0}, "reply", {"n": 2}, {"n": 3}]

        peer.reading.clear()
        await broadcast(app, "ticker", range(4, 5))  # being written
        for ref in range(3):  # a queue full of replies: nothing in it may be dropped
            peer.send({"type": "action", "channel": "echo", "data": {"value": f"r{ref}"}, "ref": ref})
        await until(lambda: peer.unread == 0, "the calls to be handled")
        await broadcast(app, "ticker", range(5, 6))  # droppable, and nothing older is: this one goes
        await read(peer, 4)
        await peer.reply(2)
        assert [f.get("data") for f in peer.frames[5:]] == [{"n": 4}, "r0", "r1", "r2"]
        assert 5 not in numbers(peer)
        assert reasons == []  # never closed

        peer.reading.clear()
        await broadcast(app, "ticker", range(6, 7))  # being written
        for ref in range(3, 6):
            peer.send({"type": "action", "channel": "echo", "data": {"value": f"r{ref}"}, "ref": ref})
        await until(lambda: peer.unread == 0, "the calls to be handled")
        peer.send({"type": "action", "channel": "echo", "data": {"value": "one too many"}, "ref": "over"})
        await until(lambda: reasons == ["overflow"], "the overflow")  # a reply is never dropped: the socket goes
        peer.reading.set()
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.closed_with == (1013, "Send queue overflow")


async def test_drop_oldest_by_bytes() -> None:
    size = frame_len("ticker", 0)
    app, reasons, _, _ = make_app(max_queue=1000, max_queue_bytes=3 * size)
    async with Peer(app) as peer:
        await subscribe(peer, "ticker")
        peer.reading.clear()
        await broadcast(app, "ticker", range(5))  # 0 written; [1, 2, 3] fill the bytes; 4 pushes 1 out
        await read(peer, 4)
        assert numbers(peer) == [0, 2, 3, 4]

        peer.reading.clear()  # the bytes accounted for are free again: the same again
        await broadcast(app, "ticker", range(5, 10))
        await read(peer, 9)
        assert numbers(peer) == [0, 2, 3, 4, 5, 7, 8, 9]
        assert reasons == []


async def test_a_close_by_the_app_writes_the_queued_frames_first() -> None:
    app, _, _, _ = make_app()
    async with Peer(app) as peer:
        peer.reading.clear()  # the frames queue behind the first one's write
        peer.send({"type": "action", "channel": "send_then_close", "data": {"count": 3}})
        await until(lambda: peer.writes_waiting, "the first write to wait")
        peer.reading.set()
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.frames == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert peer.closed_with == (1000, "")


async def test_nothing_is_written_after_the_app_closes_the_socket() -> None:
    """Frames sent once the close is decided are dropped, even when nothing was waiting to be written."""
    app, _, _, _ = make_app()
    async with Peer(app) as peer:
        peer.send({"type": "action", "channel": "close_then_send"})
        await until(lambda: peer.closed_with is not None, "the close")
        await asyncio.sleep(0.01)
        assert peer.closed_with == (1000, "")
        assert peer.frames == []


async def test_a_close_with_a_code_and_reason_and_the_leave_reason_closed() -> None:
    app, reasons, sockets, _ = make_app()
    async with Peer(app) as peer:
        await subscribe(peer, "feed")
        peer.send({"type": "action", "channel": "grab", "ref": "g"})
        await peer.reply("g")
        sockets[0].close(4000, "Go away")
        await until(lambda: peer.closed_with is not None, "the close")
        assert peer.closed_with == (4000, "Go away")
        await until(lambda: reasons == ["closed"], "leave('closed')")
        assert not sockets[0].aborted


@pytest.mark.parametrize("closed_by", ["overflow", "the app"])
async def test_a_client_that_never_reads_is_let_go_after_close_timeout(closed_by: str) -> None:
    app, reasons, sockets, marks = make_app(max_queue=1, close_timeout=0.2)
    async with Peer(app) as peer:
        await subscribe(peer, "feed")
        peer.send({"type": "action", "channel": "grab", "ref": "g"})
        await peer.reply("g")
        peer.reading.clear()
        if closed_by == "overflow":
            await broadcast(app, "feed", range(3))  # 0 being written, 1 queued, 2 over: closed
        else:
            await broadcast(app, "feed", range(2))  # 0 being written, 1 queued
            sockets[0].close(4000, "Bye")  # they go first, then the close: none can be written
        await until(lambda: reasons == ["overflow" if closed_by == "overflow" else "closed"], "the leave hook")
        peer.send({"type": "action", "channel": "mark", "data": {"name": "after the close"}})
        await until(lambda: peer.released, "the app to let go of the connection")  # the client still reads nothing
        assert peer.task is not None
        assert peer.task.exception() is None  # it returned: nothing raised
        assert peer.writes_waiting == 0  # neither the waiting write nor the close is left behind
        assert sockets[0].aborted
        assert app.socket_count == 0
        assert marks == []
        peer.reading.set()
        await asyncio.sleep(0)
        assert peer.closed_with is None  # abandoned: not even the close was written
        assert numbers(peer) == []


async def test_the_first_close_wins_and_closed_says_when_it_was_written() -> None:
    app, reasons, sockets, _ = make_app()
    async with Peer(app) as peer:
        await subscribe(peer, "feed")
        peer.send({"type": "action", "channel": "grab", "ref": "g"})
        await peer.reply("g")
        socket = sockets[0]
        peer.reading.clear()  # the close cannot be written yet
        socket.close(4000, "First")
        socket.close(4001, "Second")
        await until(lambda: reasons == ["closed"], "leave('closed')")
        assert socket.closing
        assert not socket.closed
        peer.reading.set()
        await until(lambda: socket.closed, "the close to be written")
        assert peer.closed_with == (4000, "First")
        assert reasons == ["closed"]


async def test_a_client_gone_while_a_write_waits_leaves_nothing_writing() -> None:
    app, reasons, sockets, _ = make_app()
    peer = await Peer(app).connect()
    await subscribe(peer, "feed")
    peer.send({"type": "action", "channel": "grab", "ref": "g"})
    await peer.reply("g")
    peer.reading.clear()
    await broadcast(app, "feed", range(3))  # one write waits, two frames queued behind it
    peer.disconnect()
    await until(lambda: peer.released, "the app to let go of the connection")
    assert peer.task is not None
    assert peer.task.exception() is None  # it returned: nothing raised, nothing cancelled
    assert peer.writes_waiting == 0  # the waiting write was abandoned with the connection
    assert sockets[0].closed
    assert reasons == ["closed"]
    # An app that still holds the socket writes nothing more to it.
    sockets[0].send_frame(json.dumps({"type": "data", "channel": "feed", "data": {"n": 99}}))
    peer.reading.set()
    await asyncio.sleep(0.01)
    assert numbers(peer) == []


async def test_a_failed_write_marks_the_socket_closed_and_nothing_more_is_written() -> None:
    app, reasons, sockets, _ = make_app()
    peer = await Peer(app).connect()
    await subscribe(peer, "feed")
    peer.send({"type": "action", "channel": "grab", "ref": "g"})
    await peer.reply("g")
    peer.fail_writes = True  # the connection broke: the server's send raises
    await broadcast(app, "feed", range(1))
    await until(lambda: sockets[0].closed, "the failed write to close the socket")  # before the reader knows
    await broadcast(app, "feed", range(1, 3))
    assert peer.failed_writes == 1  # nothing more was tried
    peer.disconnect()
    await until(lambda: peer.released, "the app to let go of the connection")
    assert reasons == ["closed"]
