"""``leave(reason)`` says why a subscriber went: the documented reasons, each from its real cause."""

from __future__ import annotations

import time
from typing import Any

from starlette.websockets import WebSocketDisconnect

from socketapi import Channel, SocketAPI
from socketapi.testclient import TestClient


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


def joined(client: TestClient) -> Any:
    ws = client.websocket_connect("/").__enter__()
    ws.send_json({"type": "subscribe", "channel": "room"})
    assert ws.receive_json() == {"type": "subscribed", "channel": "room"}
    return ws


def closed_with(ws: Any) -> int:
    """The close code, once the server closed; frames before it are skipped (bounded by the test client)."""
    try:
        for _ in range(100):
            ws.receive_json()
    except WebSocketDisconnect as closed:
        return closed.code
    finally:
        ws.__exit__(None, None, None)
    raise AssertionError("still open after 100 frames")


def test_idle() -> None:
    app, reasons = app_recording_leaves(idle_timeout=0.2)
    ws = joined(TestClient(app))
    assert closed_with(ws) == 1001
    wait_for(reasons, ["idle"])


def test_rate_limit() -> None:
    app, reasons = app_recording_leaves(rate_limit=(0.001, 1), rate_limit_strikes=2)
    ws = joined(TestClient(app))  # the subscribe took the only token
    for _ in range(2):
        ws.send_json({"type": "ping"})
    assert closed_with(ws) == 1008
    wait_for(reasons, ["rate_limit"])


def test_too_big() -> None:
    app, reasons = app_recording_leaves(max_frame_size=100)
    ws = joined(TestClient(app))
    ws.send_text('{"type":"ping","pad":"' + "x" * 100 + '"}')
    assert closed_with(ws) == 1009
    wait_for(reasons, ["too_big"])


def test_closed_by_the_client() -> None:
    app, reasons = app_recording_leaves()
    ws = joined(TestClient(app))
    ws.__exit__(None, None, None)
    wait_for(reasons, ["closed"])


def test_left_by_unsubscribing() -> None:
    app, reasons = app_recording_leaves()
    ws = joined(TestClient(app))
    ws.send_json({"type": "unsubscribe", "channel": "room"})
    assert ws.receive_json() == {"type": "unsubscribed", "channel": "room"}
    assert reasons == ["left"]
    ws.__exit__(None, None, None)
    time.sleep(0.05)
    assert reasons == ["left"]  # once: the close that follows runs no second leave


def test_shutdown() -> None:
    app, reasons = app_recording_leaves()
    with TestClient(app) as client:
        ws = joined(client)
        shutting_down = client.portal.start_task_soon(app.shutdown)  # what a SIGTERM runs first
        assert closed_with(ws) == 1001
        shutting_down.result(timeout=5)
    wait_for(reasons, ["shutdown"])
