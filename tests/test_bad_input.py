"""Every malformed frame: what the sender receives, and that it and a bystander carry on."""

from __future__ import annotations

from typing import Any

import pytest

from socketapi import SocketAPI
from socketapi.testclient import TestClient

app = SocketAPI()


@app.action("echo")
async def echo(value: Any = None) -> Any:
    return value


@app.channel("chat")
async def chat(message: str) -> dict[str, str]:
    return {"message": message}


@app.action("say")
async def say(message: str) -> None:
    await chat(message=message)


client = TestClient(app)

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_IN_DATA = '{"type":"action","channel":"echo","data":{"value":' + "[" * 5_000 + "]" * 5_000 + "}}"

CASES: list[tuple[str, str | bytes, dict[str, Any]]] = [
    ("not-json", "nope", {"type": "error", "message": "Invalid JSON."}),
    ("truncated-json", '{"type": "action"', {"type": "error", "message": "Invalid JSON."}),
    ("array", "[1, 2]", {"type": "error", "message": "A message must be a JSON object."}),
    ("string", '"subscribe"', {"type": "error", "message": "A message must be a JSON object."}),
    ("number", "42", {"type": "error", "message": "A message must be a JSON object."}),
    ("null", "null", {"type": "error", "message": "A message must be a JSON object."}),
    ("binary", b'{"type":"ping"}', {"type": "error", "message": "Binary frames are not supported; send JSON as text."}),
    ("deep-nesting", DEEP, {"type": "error", "message": "Invalid JSON."}),
    ("deep-nesting-in-data", DEEP_IN_DATA, {"type": "error", "message": "Invalid JSON."}),
    (
        "data-array",
        '{"type":"action","channel":"echo","data":[1]}',
        {"type": "error", "message": "'data' must be a JSON object."},
    ),
    (
        "data-null",
        '{"type":"subscribe","channel":"chat","data":null}',
        {"type": "error", "message": "'data' must be a JSON object."},
    ),
    (
        "data-string",
        '{"type":"action","channel":"echo","data":"x"}',
        {"type": "error", "message": "'data' must be a JSON object."},
    ),
    ("channel-number", '{"type":"action","channel":5}', {"type": "error", "message": "'channel' must be a string."}),
    (
        "channel-object",
        '{"type":"subscribe","channel":{"a":1}}',
        {"type": "error", "message": "'channel' must be a string."},
    ),
    ("type-number", '{"type":5,"channel":"chat"}', {"type": "error", "message": "Unknown message type: 5."}),
    (
        "type-list",
        '{"type":["action"],"channel":"chat"}',
        {"type": "error", "message": "Unknown message type: ['action']."},
    ),
    ("ref-list", '{"type":"ping","ref":[1]}', {"type": "error", "message": "'ref' must be a string or an integer."}),
    ("ref-bool", '{"type":"ping","ref":true}', {"type": "error", "message": "'ref' must be a string or an integer."}),
    ("event-missing", '{"type":"event","channel":"chat"}', {"type": "error", "message": "Event is required."}),
    ("event-number", '{"type":"event","channel":"chat","event":3}', {"type": "error", "message": "Event is required."}),
    ("empty-object", "{}", {"type": "error", "message": "Message type is required."}),
    ("unicode-garbage", "\udcff\x00\ufffe", {"type": "error", "message": "Invalid JSON."}),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_frame_gets_an_error_and_everyone_carries_on(raw: str | bytes, expected: dict[str, Any]) -> None:
    with client.websocket_connect("/") as sender, client.websocket_connect("/") as bystander:
        bystander.send_json({"type": "subscribe", "channel": "chat"})
        assert bystander.receive_json() == {"type": "subscribed", "channel": "chat"}
        if isinstance(raw, bytes):
            sender.send_bytes(raw)
        else:
            sender.send_text(raw)
        assert sender.receive_json() == expected
        sender.send_json({"type": "action", "channel": "echo", "data": {"value": [1, "two"]}})
        assert sender.receive_json() == {"type": "action", "channel": "echo", "status": "completed", "data": [1, "two"]}
        sender.send_json({"type": "action", "channel": "say", "data": {"message": "still here"}})
        assert sender.receive_json()["status"] == "completed"
        assert bystander.receive_json() == {"type": "data", "channel": "chat", "data": {"message": "still here"}}


def test_many_bad_frames_in_a_row_each_get_an_answer() -> None:
    with client.websocket_connect("/") as ws:
        for case in CASES:
            raw = case[1]
            if isinstance(raw, bytes):
                ws.send_bytes(raw)
            else:
                ws.send_text(raw)
        assert [ws.receive_json() for _ in CASES] == [case[2] for case in CASES]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
