"""SPEC section 5: the opt-in ``ref`` and the ping frame."""

from __future__ import annotations

from typing import Any

import pytest

from socketapi import Channel, SocketAPI
from socketapi.testclient import TestClient


class Room(Channel):
    topic = "room"

    async def handle_in(self, event: str, payload: dict[str, Any]) -> Any:
        return {"event": event}


app = SocketAPI()
app.register(Room)


@app.action("add")
async def add(a: int, b: int) -> int:
    return a + b


client = TestClient(app)


@pytest.mark.parametrize("ref", [1, "abc", 0, ""])
def test_every_direct_answer_carries_the_ref(ref: int | str) -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "ping", "ref": ref})
        assert ws.receive_json() == {"type": "pong", "ref": ref}
        ws.send_json({"type": "action", "channel": "add", "data": {"a": 1, "b": 2}, "ref": ref})
        assert ws.receive_json() == {"type": "action", "channel": "add", "status": "completed", "data": 3, "ref": ref}
        ws.send_json({"type": "subscribe", "channel": "room", "ref": ref})
        assert ws.receive_json() == {"type": "subscribed", "channel": "room", "ref": ref}
        ws.send_json({"type": "event", "channel": "room", "event": "hi", "ref": ref})
        assert ws.receive_json() == {
            "type": "reply",
            "channel": "room",
            "event": "hi",
            "status": "ok",
            "data": {"event": "hi"},
            "ref": ref,
        }
        ws.send_json({"type": "unsubscribe", "channel": "room", "ref": ref})
        assert ws.receive_json() == {"type": "unsubscribed", "channel": "room", "ref": ref}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "action", "channel": "nope"}, "unknown_action"),
        ({"type": "subscribe", "channel": "nope"}, "unknown_channel"),
        ({"type": "action", "channel": "add", "data": {"a": "x"}}, "invalid_params"),
        ({"type": "event", "channel": "room", "event": "e"}, "not_subscribed"),
        ({"type": "bogus", "channel": "room"}, "unknown_type"),
        ({"type": "action", "channel": "add", "data": 5}, "invalid_frame"),
    ],
)
def test_errors_for_frames_with_a_ref_carry_ref_channel_and_code(frame: dict[str, Any], code: str) -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({**frame, "ref": 7})
        answer = ws.receive_json()
        assert answer["type"] == "error"
        assert (answer["ref"], answer["channel"], answer["code"]) == (7, frame["channel"], code)


def test_error_without_a_channel_has_ref_and_code_only() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "ref": 3})
        assert ws.receive_json() == {
            "type": "error",
            "message": "Channel is required.",
            "ref": 3,
            "code": "invalid_frame",
        }


def test_ping_without_ref_is_a_bare_pong() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
