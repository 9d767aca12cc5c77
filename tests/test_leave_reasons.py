"""``leave(reason)`` says why a subscriber went: the documented reasons, each from its real cause.

Every wait is bounded: the sessions of ``TestClient.socket(timeout=...)`` fail a test whose
frame (or close) does not come, instead of hanging it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.websockets import WebSocketDisconnect

from socketapi import Channel, SocketAPI
from socketapi.testclient import SocketSession, TestClient


def app_recording_leaves(**limits: Any) -> tuple[SocketAPI, list[str]]:
    app = SocketAPI(**limits)
    reasons: list[str] = []

    class Room(Channel):
        topic = "room"

        async def leave(self, reason: str) -> None:
            reasons.append(reason)

    app.register(Room)
    return app, reasons


def wait_for(reasons: list[str], expected: list[str]) -> None:
    deadline = time.monotonic() + 5
    while reasons != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reasons == expected


@contextmanager
def joined(client: TestClient) -> Iterator[SocketSession]:
    with client.socket(timeout=5) as socket:
        socket.join("room")
        yield socket


def close_code(socket: SocketSession) -> int:
    """The close code, once the server closed (each frame before it within the session's timeout)."""
    try:
        for _ in range(10):
            socket.receive()
    except WebSocketDisconnect as closed:
        return closed.code
    raise AssertionError("still open after 10 frames")


def test_idle_closes_a_silent_socket_but_never_a_listener() -> None:
    app, reasons = app_recording_leaves(idle_timeout=0.2)
    client = TestClient(app)
    with joined(client) as listener, client.socket(timeout=5) as silent:
        assert close_code(silent) == 1001  # subscribed to nothing and silent: closed
        listener.send({"type": "ping", "ref": "alive"})
        assert listener.receive() == {"type": "pong", "ref": "alive"}  # a listener outlives the timeout
    wait_for(reasons, ["closed"])


def test_rate_limit() -> None:
    app, reasons = app_recording_leaves(rate_limit=(0.001, 1), rate_limit_strikes=2)
    with joined(TestClient(app)) as socket:  # the subscribe took the only token
        for _ in range(2):
            socket.send({"type": "ping"})
        assert close_code(socket) == 1008
    wait_for(reasons, ["rate_limit"])


def test_too_big() -> None:
    app, reasons = app_recording_leaves(max_frame_size=100)
    with joined(TestClient(app)) as socket:
        socket.websocket.send_text('{"type":"ping","pad":"' + "x" * 100 + '"}')
        assert close_code(socket) == 1009
    wait_for(reasons, ["too_big"])


def test_closed_by_the_client() -> None:
    app, reasons = app_recording_leaves()
    with joined(TestClient(app)):
        pass
    wait_for(reasons, ["closed"])


def test_left_by_unsubscribing() -> None:
    app, reasons = app_recording_leaves()
    with joined(TestClient(app)) as socket:
        socket.leave("room")
        assert reasons == ["left"]
    time.sleep(0.05)
    assert reasons == ["left"]  # once: the close that follows runs no second leave


def test_shutdown() -> None:
    app, reasons = app_recording_leaves()
    with TestClient(app) as client:
        with joined(client) as socket:
            shutting_down = client.portal.start_task_soon(app.shutdown)  # what a SIGTERM runs first
            assert close_code(socket) == 1001
        shutting_down.result(timeout=5)
    wait_for(reasons, ["shutdown"])
