"""Every error frame echoes the client's ``ref`` exactly, the falsy ones (``0`` and ``""``) included."""

from __future__ import annotations

from typing import Any

import pytest

from socketapi import Channel, JoinRefused, SocketAPI
from socketapi.testclient import TestClient


class Room(Channel):
    topic = "room"

    async def handle_in(self, event: str, payload: dict[str, Any]) -> Any:
        raise RuntimeError("handler broke")


class Locked(Channel):
    topic = "locked"

    async def join(self) -> None:
        raise JoinRefused("Locked.")


app = SocketAPI(action_timeout=0.2)
app.register(Room, Locked)


@app.action("add")
async def add(a: int, b: int) -> int:
    return a + b


@app.action("boom")
async def boom() -> None:
    raise RuntimeError("action broke")


client = TestClient(app)

REFS = [0, "", 7, "r"]

# (frame sent with the ref, the error's message, its code, whether the error names the channel)
ERRORS: list[tuple[dict[str, Any], str, str, bool]] = [
    ({"type": "action", "channel": "nope"}, "Action 'nope' not found.", "unknown_action", True),
    ({"type": "subscribe", "channel": "nope"}, "Channel 'nope' not found.", "unknown_channel", True),
    ({"type": "action", "channel": "add", "data": {"a": "x"}}, "", "invalid_params", True),
    ({"type": "event", "channel": "room", "event": "e"}, "", "not_subscribed", True),
    ({"type": "bogus", "channel": "room"}, "", "unknown_type", True),
    ({"type": "action", "channel": "add", "data": 5}, "'data' must be a JSON object.", "invalid_frame", True),
    ({"type": "action"}, "Channel is required.", "invalid_frame", False),
    ({"type": "action", "channel": "boom"}, "action broke", "handler_error", True),
    ({"type": "subscribe", "channel": "locked"}, "Locked.", "join_refused", True),
]


@pytest.mark.parametrize("ref", REFS, ids=repr)
@pytest.mark.parametrize(("frame", "message", "code", "named"), ERRORS, ids=[e[2] + "-" + e[0]["type"] for e in ERRORS])
def test_an_error_echoes_any_ref_with_its_code(
    ref: int | str, frame: dict[str, Any], message: str, code: str, named: bool
) -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({**frame, "ref": ref})
        answer = ws.receive_json()
        assert answer["type"] == "error"
        assert answer["ref"] == ref
        assert type(answer["ref"]) is type(ref)
        assert answer["code"] == code
        if message:
            assert answer["message"] == message
        if named:
            assert answer["channel"] == frame["channel"]
        else:
            assert "channel" not in answer
        ws.send_json({"type": "ping", "ref": ref})  # the socket carries on
        assert ws.receive_json() == {"type": "pong", "ref": ref}


@pytest.mark.parametrize("ref", REFS, ids=repr)
def test_a_handler_error_in_a_channel_echoes_the_ref(ref: int | str) -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "room"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "room"}
        ws.send_json({"type": "event", "channel": "room", "event": "e", "ref": ref})
        assert ws.receive_json() == {
            "type": "error",
            "message": "handler broke",
            "ref": ref,
            "code": "handler_error",
            "channel": "room",
        }


def test_an_error_without_a_ref_carries_neither_ref_nor_code() -> None:
    """0.2.0's error frames: no ``ref``, no ``code``, no ``channel`` (the client matches nothing)."""
    with client.websocket_connect("/") as ws:
        for frame, message, _, _ in ERRORS:
            ws.send_json(frame)
            answer = ws.receive_json()
            assert set(answer) == {"type", "message"}, answer
            if message:
                assert answer["message"] == message
