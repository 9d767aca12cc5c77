"""The transport's own rules: which server sends may be started by hand, and how such a start behaves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from socketapi import _eager
from socketapi.transport.asgi import ASGILink, send_is_eager_safe


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
