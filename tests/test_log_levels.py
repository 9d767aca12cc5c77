"""What the server logs at which level: a client's bad frame is the client's problem (debug), a bug is ours (error)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from socketapi import SocketAPI
from socketapi.testclient import TestClient

app = SocketAPI()


@app.action("echo")
async def echo(value: int) -> Any:
    return value


@app.action("boom")
async def boom() -> None:
    raise RuntimeError("our bug")


client = TestClient(app)

BAD_FRAMES: list[str | bytes] = [
    "nope",
    b"\x00",
    "[]",
    '{"type":5}',
    "[" * 100_000,
    '{"type":"action","channel":"echo","data":3}',
    '{"type":"action","channel":"echo","data":{"value":"x"}}',
    '{"type":"action","channel":"missing"}',
    '{"type":"event","channel":"nowhere","event":"e"}',
]


def levels(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.levelname for r in caplog.records if r.name.startswith("socketapi")]


@pytest.mark.parametrize("raw", BAD_FRAMES, ids=lambda raw: repr(raw[:30]))
def test_a_bad_frame_is_logged_at_debug_only(raw: str | bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="socketapi")
    with client.websocket_connect("/") as ws:
        if isinstance(raw, bytes):
            ws.send_bytes(raw)
        else:
            ws.send_text(raw)
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "ping", "ref": "after"})
        assert ws.receive_json() == {"type": "pong", "ref": "after"}
    assert levels(caplog) == ["DEBUG"]  # one line, at debug level, and no traceback
    assert all(r.exc_info is None for r in caplog.records)


def test_a_handler_bug_is_logged_at_error_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="socketapi")
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "boom"})
        assert ws.receive_json() == {"type": "error", "message": "our bug"}
    (record,) = [r for r in caplog.records if r.name == "socketapi"]
    assert record.levelname == "ERROR"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "our bug"
    assert "handler for 'boom' raised" in record.getMessage()
