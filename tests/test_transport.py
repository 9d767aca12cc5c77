"""The transport's own rules: which server sends may be started by hand, how such a start behaves, and the ASGI
connection's handshake, messages and end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from socketapi import Channel, ConnectRefused, SocketAPI, _eager
from socketapi.transport.asgi import ASGILink, send_is_eager_safe
from tests.asgi_peer import Peer, until


def test_uvicorns_own_send_is_started_by_hand() -> None:
    protocol = WebSocketsSansIOProtocol  # uvicorn's default WebSocket implementation
    server_side = protocol.__new__(protocol)  # no connection needed: only the bound method's owner is looked at
    assert send_is_eager_safe(server_side.send)
    assert ASGILink(server_side.send).eager


def test_any_other_send_gets_a_real_task() -> None:
    async def plain_send(message: Any) -> None: ...

    class Middleware:  # e.g. a user's ASGI middleware wrapping the server's send
        async def send(self, message: Any) -> None: ...

    assert not send_is_eager_safe(plain_send)
    assert not send_is_eager_safe(Middleware().send)
    assert not ASGILink(plain_send).eager


async def test_both_ways_of_writing_through_an_asgi_link_send_the_same_message() -> None:
    # The socket writes through text_writer (no link in between); send_text is the Link protocol's
    # spelling of the same write, for anything that holds only the link.
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    link = ASGILink(send)
    await link.send_text("one")
    write, target = link.text_writer
    await write(target, "two")
    assert sent == [{"type": "websocket.send", "text": "one"}, {"type": "websocket.send", "text": "two"}]


async def test_a_start_that_suspends_finishes_in_a_task_and_passes_cancellation_on() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[str] = loop.create_future()
    seen: list[str] = []

    async def write() -> None:
        try:
            seen.append(await gate)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    finisher = _eager.start(write())
    assert finisher is not None
    assert not finisher.done()
    gate.set_result("written")
    await finisher
    assert seen == ["written"]

    gate = loop.create_future()
    finisher = _eager.start(write())
    assert finisher is not None
    await asyncio.sleep(0)
    finisher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finisher
    assert gate.cancelled()  # the future it waited on was cancelled, as a Task would do
    assert seen[-1] == "cancelled"


async def test_a_start_that_does_not_suspend_creates_no_task_and_raises_in_the_caller() -> None:
    async def quick() -> None:
        return None

    async def broken() -> None:
        raise ConnectionError("gone")

    assert _eager.start(quick()) is None
    with pytest.raises(ConnectionError):
        _eager.start(broken())
    task = _eager.start_task(quick())  # a real task: eager on 3.12+, so already done there
    if _eager.NATIVE:
        assert task is None
    else:
        assert task is not None
        await task


# -- the ASGI transport's connection, played straight against the app (tests.asgi_peer) ------------


def room_app(**kwargs: Any) -> tuple[SocketAPI, list[str]]:
    app = SocketAPI(**kwargs)
    reasons: list[str] = []

    class Room(Channel):
        topic = "room"

        async def leave(self, reason: str) -> None:
            reasons.append(reason)

    app.register(Room)
    return app, reasons


async def test_a_client_gone_before_the_handshake_gets_nothing() -> None:
    app, _ = room_app()
    peer = Peer(app)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(peer.scope, receive, send), 5)
    assert sent == []
    assert app.socket_count == 0


async def test_a_refused_handshake_is_closed_with_1008_before_any_accept() -> None:
    async def refuse(websocket: Any) -> dict[str, Any]:
        raise ConnectRefused("no")

    app, _ = room_app(on_connect=refuse)
    peer = Peer(app)
    peer.send({"type": "ping"})  # never read
    await peer.connect(accepted=False)
    assert peer.messages == [{"type": "websocket.close", "code": 1008}]
    await until(lambda: peer.released, "the app to return")
    assert app.socket_count == 0

    app, _ = room_app()  # a Phoenix client without the serializer version it speaks: refused by the wire
    peer = Peer(app, "/socket/websocket")
    await peer.connect(accepted=False)
    assert peer.messages == [{"type": "websocket.close", "code": 1008}]


async def test_the_accept_names_the_subprotocol_chosen() -> None:
    app, _ = room_app(subprotocols=["v2", "v1"])
    async with Peer(app, subprotocols=("x", "v1", "v2")) as peer:
        assert peer.messages[0] == {"type": "websocket.accept", "subprotocol": "v2"}
    async with Peer(app, subprotocols=("x",)) as peer:
        assert peer.messages[0] == {"type": "websocket.accept", "subprotocol": None}


async def test_binary_and_empty_messages_get_an_error_frame_and_the_socket_stays() -> None:
    app, _ = room_app()
    async with Peer(app) as peer:
        peer.send_message({"type": "websocket.receive", "bytes": b'{"type": "ping", "ref": 1}'})
        peer.send_message({"type": "websocket.receive"})  # neither text nor bytes
        peer.send({"type": "ping", "ref": 2})
        await peer.reply(2)
        binary = {"type": "error", "message": "Binary frames are not supported; send JSON as text."}
        assert peer.frames == [binary, binary, {"type": "pong", "ref": 2}]


async def test_a_disconnect_ends_the_connection_and_runs_leave_with_closed() -> None:
    app, reasons = room_app()
    peer = await Peer(app).connect()
    peer.send({"type": "subscribe", "channel": "room", "ref": 1})
    await peer.reply(1)
    assert app.socket_count == 1
    peer.disconnect()
    await until(lambda: peer.released, "the app to return")
    assert reasons == ["closed"]
    assert app.socket_count == 0
    assert app.subscription_count == 0


async def test_the_servers_own_cancellation_ends_the_connection_and_is_not_swallowed() -> None:
    app, reasons = room_app()
    peer = await Peer(app).connect()
    peer.send({"type": "subscribe", "channel": "room", "ref": 1})
    await peer.reply(1)
    assert peer.task is not None
    peer.task.cancel()  # what a server does to an app it stops waiting for
    with pytest.raises(asyncio.CancelledError):
        await peer.task
    assert reasons == ["closed"]
    assert app.socket_count == 0


async def test_an_abort_due_while_leave_hooks_run_does_not_interrupt_the_teardown() -> None:
    app = SocketAPI(max_queue=1, close_timeout=0.1)
    leaving = asyncio.Event()
    left: list[str] = []

    class Slow(Channel):
        topic = "slow"

        async def leave(self, reason: str) -> None:
            await leaving.wait()
            left.append(reason)

    app.register(Slow)
    peer = await Peer(app).connect()
    peer.send({"type": "subscribe", "channel": "slow", "ref": 1})
    await peer.reply(1)
    peer.reading.clear()
    for n in range(3):  # one written (waiting), one queued, one over: closed, and the close cannot be written
        await app.broadcast("slow", n)
    peer.disconnect()  # the client goes; its leave hook is still running
    await asyncio.sleep(0.3)  # the abort falls due meanwhile
    leaving.set()
    await until(lambda: peer.released, "the app to return")
    assert peer.task is not None
    assert not peer.task.cancelled()
    assert left == ["overflow"]
    assert app.socket_count == 0
