"""``max_frame_size`` counts the bytes of a frame (UTF-8 for text), not its characters: the edge, exactly."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from socketapi import SocketAPI
from socketapi.testclient import TestClient

LIMIT = 2048
app = SocketAPI(max_frame_size=LIMIT)


@app.action("echo")
async def echo(value: Any = None) -> Any:
    return value


client = TestClient(app)


def frame_of(size: int, char: str) -> str:
    """An ``echo`` action frame of exactly ``size`` UTF-8 bytes, written with ``char`` (not JSON-escaped)."""
    head, tail = '{"type":"action","channel":"echo","ref":"r","data":{"value":"', '"}}'
    room = size - len((head + tail).encode())
    width = len(char.encode())
    text = head + char * (room // width) + "a" * (room % width) + tail
    assert len(text.encode()) == size
    return text


CHARS = {"ascii": "a", "2-byte": "é", "3-byte": "€", "4-byte": "😀"}


@pytest.mark.parametrize("char", CHARS.values(), ids=CHARS.keys())
def test_a_frame_of_exactly_the_limit_is_served(char: str) -> None:
    text = frame_of(LIMIT, char)
    with client.websocket_connect("/") as ws:
        ws.send_text(text)
        answer = ws.receive_json()
        assert answer["ref"] == "r"
        assert answer["status"] == "completed"
        assert answer["data"].rstrip("a") == char * len(answer["data"].rstrip("a"))


@pytest.mark.parametrize("char", CHARS.values(), ids=CHARS.keys())
def test_one_byte_over_the_limit_closes_with_1009(char: str) -> None:
    text = frame_of(LIMIT + 1, char)
    assert len(text) <= LIMIT or char == "a"  # fewer characters than the limit, except for ASCII
    with client.websocket_connect("/") as ws, client.websocket_connect("/") as bystander:
        ws.send_text(text)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009
        bystander.send_json({"type": "action", "channel": "echo", "data": {"value": "still here"}})
        assert bystander.receive_json()["data"] == "still here"


def test_binary_frames_are_measured_too() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_bytes(b"x" * LIMIT)
        assert ws.receive_json() == {"type": "error", "message": "Binary frames are not supported; send JSON as text."}
        ws.send_bytes(b"x" * (LIMIT + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009
